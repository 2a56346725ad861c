import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

/// The README's curl tutorial, run as written against a real server on a free port.
@Suite("README: the curl tutorial runs as written")
struct ReadmeTests {
    static func readme() throws -> String {
        try String(contentsOfFile: repositoryRoot() + "/README.md", encoding: .utf8)
    }

    /// Runs `script` with bash (errexit, nounset, pipefail) on its own thread, so the
    /// in-process server keeps serving.
    static func bash(_ script: String, environment: [String: String]) async throws -> ProcessResult {
        try await TestSupport.bash("set -euo pipefail\n" + script, environment: environment)
    }

    /// The text between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
    static func region(_ name: String) throws -> Substring {
        let text = try readme()
        guard let start = text.range(of: "<!-- \(name):start -->"), let end = text.range(of: "<!-- \(name):end -->") else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return text[start.upperBound..<end.lowerBound]
    }

    /// A fenced block: its language (`sh`, `json`, `swift` or empty), its lines, and the
    /// `<!-- file: PATH -->` comment just before it, if any.
    struct Block {
        var language: String
        var lines: [String]
        var file: String?
    }

    static func blocks(_ region: Substring) -> [Block] {
        var blocks: [Block] = []
        var current: Block?
        var lastFile: String?
        for line in region.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if var open = current {
                if line == "```" {
                    blocks.append(open)
                    current = nil
                } else {
                    open.lines.append(line)
                    current = open
                }
            } else if line.hasPrefix("```") {
                current = Block(language: String(line.dropFirst(3)), lines: [], file: lastFile)
                lastFile = nil
            } else if line.hasPrefix("<!-- file: ") && line.hasSuffix(" -->") {
                lastFile = String(line.dropFirst("<!-- file: ".count).dropLast(" -->".count))
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                lastFile = nil
            }
        }
        return blocks
    }

    /// The ```sh blocks between the tutorial markers, in order, each with the output block
    /// the README shows after it (if any).
    static func tutorialSteps() throws -> [(script: String, shown: [String]?)] {
        var steps: [(script: String, shown: [String]?)] = []
        for block in blocks(try region("tutorial-curl")) {
            if block.language == "sh" {
                steps.append((block.lines.joined(separator: "\n"), nil))
            } else if let last = steps.indices.last, steps[last].shown == nil {
                steps[last].shown = block.lines
            }
        }
        return steps
    }

    /// The ```sh blocks between the tutorial markers, in order.
    static func tutorialScript() throws -> String {
        try tutorialSteps().map(\.script).joined(separator: "\n")
    }

    /// What changes from run to run (ids, dates, tokens, Unix times, the TTL), made alike.
    static func normalized(_ line: String) -> String {
        var text = line.trimmingCharacters(in: .whitespaces)
        for (pattern, replacement) in [
            (#"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"#, "<uuid>"),
            (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, "<date>"),
            (#"[A-Za-z0-9_.-]{20,}"#, "<b64>"),
            (#"\b\d{6,}\b"#, "<n>"),
            (#""expiresIn": \d+"#, #""expiresIn": <n>"#),
        ] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }

    @Test("every step of part 1 gives the answer the README shows, line for line")
    func curlTutorial() async throws {
        let steps = try Self.tutorialSteps()
        #expect(steps.count >= 10)
        // Each step's output follows a marker line, so it can be held against what the README shows.
        let script = steps.enumerated().map { "echo '@@step \($0.offset)@@'\n\($0.element.script)" }.joined(separator: "\n")
        var config = try testConfiguration(.rs256)
        config.seedFile = try seedsPath()
        // Long enough for steps 1–3 to run on a busy machine before it expires in step 4.
        config.accessTokenTTL = 20
        let app = try await buildApplication(configuration: config)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let (status, output) = try await Self.bash(script, environment: ["NOTES": "http://127.0.0.1:\(port)"])
            #expect(status == 0, "the tutorial failed:\n\(output)")
            // /health ends its line, so the next prompt does not land after it.
            #expect(output.contains("@@step 0@@\n{\"status\":\"ok\"}\n@@step 1@@"), "\(output)")
            let outputs = output.components(separatedBy: "@@step ").dropFirst().map { chunk in
                // `\.isNewline`: curl -i's header lines end in \r\n, one Character in Swift.
                chunk.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).dropFirst().map { Self.normalized(String($0)) }
            }
            #expect(outputs.count == steps.count)
            for (index, step) in steps.enumerated() where index < outputs.count {
                for line in step.shown ?? [] where !line.contains("…") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    #expect(
                        outputs[index].contains(Self.normalized(line)),
                        "step \(index) (\(step.script.prefix(60))…) does not print the README's line \(line); it printed:\n\(outputs[index].joined(separator: "\n"))"
                    )
                }
            }
        }
    }

    @Test("the jsonwebtoken section's Python snippet verifies a real token with the JWKS and refuses a forged one")
    func jsonwebtokenSnippet() async throws {
        let blocks = Self.blocks(try Self.region("jsonwebtoken"))
        let script = blocks.filter { $0.language == "sh" }.map { $0.lines.joined(separator: "\n") }.joined(separator: "\n")
        #expect(script.contains("PyJWKClient"))
        var config = try testConfiguration(.rs256)
        config.seedFile = try seedsPath()
        let app = try await buildApplication(configuration: config)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Debian's python3 first: python3-jwt is installed for it (a pyenv python3 on PATH
            // would not see it; the README says so).
            let path = "/usr/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "")
            let (status, output) = try await Self.bash(script, environment: ["NOTES": "http://127.0.0.1:\(port)", "PATH": path])
            #expect(status == 0, "the snippet failed:\n\(output)")
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.contains { $0.hasPrefix("verified: alice not admin - kid ") }, "\(output)")
            #expect(lines.contains("forged admin claim: InvalidSignatureError"), "\(output)")
        }
    }

    @Test("every line the code tour quotes is still in its file, in order")
    func codeTour() throws {
        let blocks = Self.blocks(try Self.region("code-tour")).filter { $0.language == "swift" }
        #expect(blocks.count >= 6)
        let root = URL(fileURLWithPath: repositoryRoot())
        for block in blocks {
            let path = try #require(block.file, "a quoted block has no <!-- file: --> line before it")
            let source = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            var position = 0
            for line in block.lines.map({ $0.trimmingCharacters(in: .whitespaces) }) where line != "…" {
                guard let found = source[position...].firstIndex(of: line) else {
                    Issue.record("\(path) no longer has, after line \(position), the README's line: \(line)")
                    break
                }
                position = found + 1
            }
        }
    }
}
