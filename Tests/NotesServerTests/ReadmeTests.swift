import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

/// The README's curl tutorial, run as written against a real server on a free port.
@Suite("README: the curl tutorial runs as written")
struct ReadmeTests {
    static func readme() throws -> String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            let candidate = url.appendingPathComponent("README.md")
            if FileManager.default.fileExists(atPath: candidate.path) { return try String(contentsOf: candidate, encoding: .utf8) }
        }
        throw CocoaError(.fileNoSuchFile)
    }

    /// The ```sh blocks between the tutorial markers, in order.
    static func tutorialScript() throws -> String {
        let text = try readme()
        guard let start = text.range(of: "<!-- tutorial-curl:start -->"), let end = text.range(of: "<!-- tutorial-curl:end -->") else {
            throw CocoaError(.fileReadCorruptFile)
        }
        var blocks: [String] = []
        var current: [Substring]?
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```sh" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append((current ?? []).joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current?.append(line)
            }
        }
        return blocks.joined(separator: "\n")
    }

    /// Runs `script` with bash on its own thread, so the in-process server keeps serving.
    static func bash(_ script: String, environment: [String: String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    process.arguments = ["timeout", "240", "bash", "-euo", "pipefail", "-c", script]
                    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    process.standardError = pipe
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: (process.terminationStatus, String(decoding: data, as: UTF8.self)))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    @Test("every step of part 1 gives the answer the README shows")
    func curlTutorial() async throws {
        let script = try Self.tutorialScript()
        #expect(script.contains("curl"))
        var config = try testConfiguration(.rs256)
        config.seedFile = try seedsPath()
        // Long enough for steps 1–3 to run on a busy machine before it expires in step 4.
        config.accessTokenTTL = 8
        let app = try await buildApplication(configuration: config)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let (status, output) = try await Self.bash(script, environment: ["NOTES": "http://127.0.0.1:\(port)"])
            #expect(status == 0, "the tutorial failed:\n\(output)")
            for expected in [
                #"{"status":"ok"}"#, #""tokenType": "Bearer""#, #"invalid username or password"#, #""alg": "RS256""#,
                #""aud": "notes-client""#, #""kty": "RSA""#, #""username": "alice""#, #"WWW-Authenticate: Bearer realm="notes""#,
                "No authorization token was found", #""Refresh tokens rotate""#, #"error_description="jwt expired""#,
                #""expiredAt":"#, "TokenExpiredError", "refresh token was already used", #""AuthenticationError""#,
            ] {
                #expect(output.contains(expected), "README tutorial output lacks \(expected):\n\(output)")
            }
        }
    }
}
