import Foundation
import Hummingbird
import NIOSSL
import NotesModels
import TestSupport
import Testing

/// A throwaway CA and server certificates made with `openssl` in a temporary folder
/// (`make()` waits for openssl: call it on a thread of its own, never on the cooperative pool).
struct TestCertificates: Sendable {
    let folder: URL
    var caPath: String { folder.appendingPathComponent("ca.pem").path }
    var otherCAPath: String { folder.appendingPathComponent("other-ca.pem").path }

    static func make() throws -> TestCertificates {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notes-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let certificates = TestCertificates(folder: folder)
        try certificates.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=SecureNotes Test CA",
        ])
        try certificates.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=Some Other CA",
        ])
        try certificates.issue("localhost", altNames: "IP:127.0.0.1,DNS:localhost")
        try certificates.issue("elsewhere", altNames: "DNS:elsewhere.example")
        return certificates
    }

    /// `NAME.pem` and `NAME.key`, signed by the test CA, for `altNames`.
    private func issue(_ name: String, altNames: String) throws {
        try openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)",
        ])
        let extensions = folder.appendingPathComponent("\(name).ext")
        try "subjectAltName=\(altNames)\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".write(
            to: extensions,
            atomically: true,
            encoding: .utf8
        )
        try openssl([
            "x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "\(name).pem", "-days", "2", "-extfile", extensions.path,
        ])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = folder
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("openssl \(arguments.joined(separator: " ")) failed") }
    }

    /// A server configuration presenting `NAME.pem`.
    func serverConfiguration(_ name: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(folder.appendingPathComponent("\(name).pem").path)
        let key = try NIOSSLPrivateKey(file: folder.appendingPathComponent("\(name).key").path, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

private func tlsRoutes(_ router: Router<BasicRequestContext>) {
    router.post("/auth/login") { _, _ in try Fake.json(Fake.tokenPair(sid: UUID())) }
    router.get("/me") { _, _ in
        try Fake.json(User(id: UUID(), username: "alice", admin: false, createdAt: Date(timeIntervalSince1970: 1_700_000_000)))
    }
}

@Suite("https with a private CA (--cacert)", .serialized)
struct TLSClientTests {
    @Test("with --cacert (or NOTES_CACERT) a certificate from that CA is trusted; without it, exit 69 saying why")
    func privateCA() async throws {
        let certificates = try await onThread { try TestCertificates.make() }
        defer { certificates.remove() }
        try await withFakeServer(tls: try certificates.serverConfiguration("localhost"), tlsRoutes) { server in
            #expect(server.url.hasPrefix("https://127.0.0.1:"))
            let untrusted = try await server.notes(["login", "--username", "alice", "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(untrusted.status == 69, "\(untrusted)")
            #expect(untrusted.stderr.contains("not signed by a trusted CA"), "\(untrusted)")
            #expect(server.count("POST /auth/login") == 0)

            let wrongCA = try await server.notes(
                ["login", "--cacert", certificates.otherCAPath, "--username", "alice", "--password-stdin"],
                stdin: "correct-horse-1\n"
            )
            #expect(wrongCA.status == 69 && wrongCA.stderr.contains("not signed by a trusted CA"), "\(wrongCA)")

            let login = try await server.notes(
                ["login", "--cacert", certificates.caPath, "--username", "alice", "--password-stdin"],
                stdin: "correct-horse-1\n"
            )
            #expect(login.status == 0, "\(login)")
            let whoami = try await server.notes(["whoami"], environment: ["NOTES_CACERT": certificates.caPath])
            #expect(whoami.status == 0 && whoami.stdout.contains("alice"), "\(whoami)")
            let byName = try await server.notes(
                [
                    "--server", "https://localhost:\(server.port)", "--cacert", certificates.caPath, "login", "--username", "alice",
                    "--password-stdin",
                ],
                stdin: "correct-horse-1\n"
            )
            #expect(byName.status == 0, "\(byName)")
        }
    }

    @Test("a certificate for another name is refused with exit 69, saying so, even from a trusted CA")
    func wrongName() async throws {
        let certificates = try await onThread { try TestCertificates.make() }
        defer { certificates.remove() }
        try await withFakeServer(tls: try certificates.serverConfiguration("elsewhere"), tlsRoutes) { server in
            let run = try await server.notes(
                ["login", "--cacert", certificates.caPath, "--username", "alice", "--password-stdin"],
                stdin: "correct-horse-1\n"
            )
            #expect(run.status == 69, "\(run)")
            #expect(run.stderr.contains("not for this host name"), "\(run)")
            #expect(server.count("POST /auth/login") == 0)
        }
    }

    @Test("a --cacert file that holds no certificate is a usage error (64)")
    func unreadableCA() async throws {
        try await withFakeServer(tlsRoutes) { server in
            let run = try await server.notes(["whoami", "--cacert", "/nonexistent/ca.pem"])
            #expect(run.status == 64, "\(run)")
            #expect(run.stderr.contains("--cacert /nonexistent/ca.pem"), "\(run)")
        }
    }
}
