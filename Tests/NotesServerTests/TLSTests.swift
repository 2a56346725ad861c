import Foundation
import TestSupport
import Testing

@testable import NotesServer

/// A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl.
struct TestCertificates {
    let folder: String
    var ca: String { folder + "/ca.pem" }
    var certificate: String { folder + "/server.pem" }
    var key: String { folder + "/server.key" }
    var otherKey: String { folder + "/other.key" }

    static func make() async throws -> TestCertificates {
        let folder = try temporaryDirectory()
        let script = """
            set -euo pipefail
            cd '\(folder)'
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=SecureNotes test CA'
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1'
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext
            openssl genpkey -algorithm ed25519 -out other.key
            """
        let run = try await ReadmePostgresTests.bash(script)
        guard run.status == 0 else { throw TestFailure("openssl failed: \(run.output)") }
        return TestCertificates(folder: folder)
    }
}

@Suite("HTTPS: --tls-certificate and --tls-key")
struct TLSTests {
    @Test("the server speaks HTTPS with the given certificate, says https in its listening line, and a client trusting the CA gets in")
    func https() async throws {
        let certificates = try await TestCertificates.make()
        let server = try ServerProcess(
            [
                "--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4", "--tls-certificate", certificates.certificate,
                "--tls-key", certificates.key,
            ]
        )
        try await server.waitUntil("the listening line") { server.stdout.contains("\n") || !server.process.isRunning }
        let line = String(server.stdout.split(separator: "\n").first ?? "")
        #expect(line.hasPrefix("listening on https://127.0.0.1:"), "\(line)\n\(server.stderr)")
        let url = String(line.dropFirst("listening on ".count))
        let trusted = try await ReadmePostgresTests.bash("curl -s --max-time 10 --cacert '\(certificates.ca)' '\(url)/health'")
        #expect(trusted.output.contains(#""status":"ok""#), "\(trusted)")
        let untrusted = try await ReadmePostgresTests.bash("curl -s --max-time 10 '\(url)/health'")
        #expect(untrusted.status != 0, "a client that does not trust the CA is refused: \(untrusted)")
        let plain = try await ReadmePostgresTests.bash("curl -s --max-time 10 '\(url.replacingOccurrences(of: "https://", with: "http://"))/health'")
        #expect(!plain.output.contains(#""status":"ok""#), "no plain HTTP on the HTTPS port")
        server.process.terminate()
        #expect(try await server.exitStatus() == 0)
    }

    @Test("a missing file, a key of another certificate, or only one of the two options is a startup error (78)")
    func badFiles() async throws {
        let certificates = try await TestCertificates.make()
        let cases: [[String]] = [
            ["--tls-certificate", certificates.certificate],
            ["--tls-certificate", certificates.folder + "/missing.pem", "--tls-key", certificates.key],
            ["--tls-certificate", certificates.certificate, "--tls-key", certificates.otherKey],
        ]
        for arguments in cases {
            let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory()] + arguments)
            #expect(try await server.exitStatus() == 78, "\(arguments): \(server.stderr)")
            // The pipe may deliver the line a moment after the exit.
            try await server.waitUntil("the error line") { server.stderr.contains("\n") }
            #expect(server.stdout.isEmpty, "nothing listens")
            #expect(server.stderr.contains("--tls-"), "\(server.stderr)")
        }
    }
}

@Suite("README: the HTTPS section runs as written")
struct ReadmeHTTPSTests {
    @Test("a self-signed certificate made with openssl, the server on it, and curl trusting it")
    func httpsSection() async throws {
        let port = try ReadmePostgresTests.freePort()
        let binary = Binaries.server.path
        let script = try ReadmePostgresTests.blocks("https", language: "sh").joined(separator: "\n")
            .replacingOccurrences(of: "8443", with: String(port))
            .replacingOccurrences(of: ".build/debug/notes-server", with: "'\(binary)'")
        // In a folder of its own: the certificate, key and data dir stay out of the repository.
        let folder = try temporaryDirectory()
        let run = try await ReadmePostgresTests.bash("set -euo pipefail\ncd '\(folder)'\n" + script)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains(#"{"status":"ok"}"#), "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: folder + "/notes-tls.pem"))
    }
}
