import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Synchronization
import Testing

/// The built `notes-server` executable, run as a user would run it.
@Suite("The notes-server executable")
struct ServerProcessTests {
    static var binary: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("notes-server")
    }

    /// One request with curl (installed by the test command), on its own thread.
    static func curl(_ arguments: [String]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    process.arguments = ["curl", "-s", "--max-time", "30"] + arguments
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    @Test(
        "bad configuration exits non-zero before binding, with one line on stderr",
        arguments: [
            ["--jwt-algorithm", "HS999"], ["--jwt-algorithm", "HS256", "--jwt-secret", "short"], ["--clock-tolerance", "1h"],
            ["--database-url", "postgres://u:p@127.0.0.1:1/db"], ["--database-url", "mysql://u@h/db"], ["--jwt-private-key", "/nonexistent.pem"],
        ]
    )
    func badConfiguration(arguments: [String]) async throws {
        let dataDir = try temporaryDirectory()
        let server = try ServerProcess(["--port", "0", "--data-dir", dataDir] + arguments)
        let status = try await server.exitStatus()
        #expect(status != 0)
        #expect(server.stdout.isEmpty, "nothing may listen: \(server.stdout)")
        let lines = server.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(server.stderr)")
        #expect(lines.first?.hasPrefix("notes-server: ") == true)
    }

    @Test("NOTES_* variables configure the server, and a flag beats them")
    func environment() async throws {
        let server = try ServerProcess(
            ["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4", "--jwt-algorithm", "HS256"],
            environment: ["NOTES_JWT_SECRET": testSecret, "NOTES_JWT_ALGORITHM": "RS256", "NOTES_ISSUER": "from-env"]
        )
        let base = try await server.baseURL()
        let jwks = try await Self.curl([base + "/.well-known/jwks.json"])
        #expect(jwks == #"{"keys":[]}"#, "HS256 from the flag wins over RS256 from the environment")
        _ = try await Self.curl([
            "-H", "Content-Type: application/json", "-d", #"{"username":"alice","password":"correct-horse"}"#, base + "/auth/register",
        ])
        let pair = try await Self.curl([
            "-H", "Content-Type: application/json", "-d", #"{"username":"alice","password":"correct-horse"}"#, base + "/auth/login",
        ])
        let token = try NotesJSON.decoder().decode(TokenPair.self, from: Data(pair.utf8)).accessToken
        let payload = try jsonPart(token.split(separator: ".")[1])
        #expect(payload["iss"] as? String == "from-env")
        server.process.terminate()
    }

    @Test("logs never contain a password or a token, even at trace level")
    func secretsStayOutOfLogs() async throws {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4", "--log-level", "trace"])
        let base = try await server.baseURL()
        let password = "very-secret-password-42"
        let credentials = #"{"username":"alice","password":"\#(password)"}"#
        _ = try await Self.curl(["-H", "Content-Type: application/json", "-d", credentials, base + "/auth/register"])
        _ = try await Self.curl([
            "-H", "Content-Type: application/json", "-d", #"{"username":"alice","password":"wrong-password-99"}"#, base + "/auth/login",
        ])
        let pairText = try await Self.curl(["-H", "Content-Type: application/json", "-d", credentials, base + "/auth/login"])
        let pair = try NotesJSON.decoder().decode(TokenPair.self, from: Data(pairText.utf8))
        _ = try await Self.curl(["-H", "Authorization: Bearer \(pair.accessToken)", base + "/notes"])
        let refreshed = try await Self.curl([
            "-H", "Content-Type: application/json", "-d", #"{"refreshToken":"\#(pair.refreshToken)"}"#, base + "/auth/refresh",
        ])
        let second = try NotesJSON.decoder().decode(TokenPair.self, from: Data(refreshed.utf8))
        _ = try await Self.curl(["-H", "Authorization: Bearer \(pair.accessToken.dropLast(3))abc", base + "/me"])
        server.process.terminate()
        _ = try await server.exitStatus()
        let logs = server.stderr + server.stdout
        #expect(logs.contains("request"), "the requests were logged: \(logs)")
        for secret in [
            password, "wrong-password-99", pair.accessToken, String(pair.accessToken.split(separator: ".")[2]), pair.refreshToken,
            second.refreshToken,
        ] {
            #expect(!logs.contains(secret), "a secret reached the log")
        }
    }

    @Test("SIGTERM and SIGINT let an in-flight request finish, then the server exits 0", arguments: [SIGTERM, SIGINT])
    func gracefulShutdown(signal: Int32) async throws {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "14", "--log-level", "trace"])
        let base = try await server.baseURL()
        // bcrypt at cost 14 keeps this request busy long enough to signal during it.
        let inFlight = Task {
            try await Self.curl([
                "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "-d",
                #"{"username":"slow","password":"correct-horse"}"#, base + "/auth/register",
            ])
        }
        try await server.waitUntil("the request to arrive") { server.stderr.contains("path=/auth/register [NotesServer] request received") }
        kill(server.process.processIdentifier, signal)
        #expect(try await inFlight.value == "201")
        #expect(try await server.exitStatus() == 0)
    }
}

/// Bytes a pipe delivered so far.
final class OutputBuffer: Sendable {
    private let data = Mutex(Data())
    func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}

/// A running server process whose output is collected as it comes.
final class ServerProcess: Sendable {
    let process: Process
    private let out = OutputBuffer()
    private let err = OutputBuffer()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = ServerProcessTests.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") }.merging(environment) { $1 }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        stdout.fileHandleForReading.readabilityHandler = { [out] handle in
            let chunk = handle.availableData
            out.append(chunk)
        }
        stderr.fileHandleForReading.readabilityHandler = { [err] handle in
            let chunk = handle.availableData
            err.append(chunk)
        }
        try process.run()
    }

    var stdout: String { out.text }
    var stderr: String { err.text }

    /// Polls until `condition` holds, or fails after `seconds`.
    func waitUntil(_ what: String, seconds: Double = 30, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw ProcessFailure("timed out waiting for \(what)\nstdout: \(stdout)\nstderr: \(stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The base URL from the first stdout line.
    func baseURL() async throws -> String {
        try await waitUntil("the listening line") { stdout.contains("\n") || !process.isRunning }
        let first = String(stdout.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        guard first.hasPrefix("listening on http://127.0.0.1:") else { throw ProcessFailure("first stdout line: \(first)\n\(stderr)") }
        return String(first.dropFirst("listening on ".count))
    }

    func exitStatus(seconds: Double = 30) async throws -> Int32 {
        try await waitUntil("exit", seconds: seconds) { !process.isRunning }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

struct ProcessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
