import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Synchronization
import TestSupport
import Testing

/// The built `notes-server` executable, run as a user would run it.
@Suite("The notes-server executable")
struct ServerProcessTests {
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
        let jwks = try await curl([base + "/.well-known/jwks.json"])
        #expect(jwks == #"{"keys":[]}"#, "HS256 from the flag wins over RS256 from the environment")
        _ = try await curl([
            "-H", "Content-Type: application/json", "-d", #"{"username":"alice","password":"correct-horse"}"#, base + "/auth/register",
        ])
        let pair = try await curl([
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
        _ = try await curl(["-H", "Content-Type: application/json", "-d", credentials, base + "/auth/register"])
        _ = try await curl([
            "-H", "Content-Type: application/json", "-d", #"{"username":"alice","password":"wrong-password-99"}"#, base + "/auth/login",
        ])
        let pairText = try await curl(["-H", "Content-Type: application/json", "-d", credentials, base + "/auth/login"])
        let pair = try NotesJSON.decoder().decode(TokenPair.self, from: Data(pairText.utf8))
        _ = try await curl(["-H", "Authorization: Bearer \(pair.accessToken)", base + "/notes"])
        let refreshed = try await curl([
            "-H", "Content-Type: application/json", "-d", #"{"refreshToken":"\#(pair.refreshToken)"}"#, base + "/auth/refresh",
        ])
        let second = try NotesJSON.decoder().decode(TokenPair.self, from: Data(refreshed.utf8))
        _ = try await curl(["-H", "Authorization: Bearer \(pair.accessToken.dropLast(3))abc", base + "/me"])
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
            // A longer deadline than curl's 30 s: cost 14 under the whole suite's load is slow.
            try await curl([
                "--max-time", "120", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "-d",
                #"{"username":"slow","password":"correct-horse"}"#, base + "/auth/register",
            ])
        }
        try await server.waitUntil("the request to arrive") { server.stderr.contains("path=/auth/register [NotesServer] request received") }
        kill(server.process.processIdentifier, signal)
        let status = try await inFlight.value
        #expect(status == "201", "the request in flight was answered with \(status); server log: \(server.stderr)")
        #expect(try await server.exitStatus() == 0)
    }
}
