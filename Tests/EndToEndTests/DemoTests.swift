import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `make demo` is the README's first command: its script, run on a pseudo-terminal as a person
/// would, with the binaries this test run built and a free port.
@Suite("The demo script", .serialized)
struct DemoTests {
    @Test("opens the REPL on a seeded server, logs in, and stops the server when the REPL exits")
    func demo() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let inputrc = root.appendingPathComponent("inputrc")
        try "set enable-bracketed-paste off\n".write(to: inputrc, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") && !$0.key.hasPrefix("XDG_") }
        environment.merge(
            [
                "NOTES_DEMO_BIN": Binaries.directory.path, "NOTES_DEMO_PORT": "0", "NOTES_DEMO_DIR": root.appendingPathComponent("demo").path,
                "NOTES_DEMO_TTL": "30s", "TERM": "dumb", "INPUTRC": inputrc.path, "HOME": root.path,
            ]
        ) { $1 }
        let script = Binaries.packageRoot.appendingPathComponent("scripts/demo.sh").path
        let terminal = try PseudoTerminal(executable: "/bin/bash", arguments: [script], environment: environment)
        defer { terminal.close() }

        let banner = try await terminal.expect("notes> ", timeout: 120)
        let url = try #require(
            banner.split(separator: "\n").first { $0.contains("notes-server is running at ") }.flatMap {
                $0.split(separator: " ").first { $0.hasPrefix("http://127.0.0.1:") }
            }
        )
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("demo/server.log").path))
        let alice = try DemoSeeds.load().user("alice")
        #expect(banner.contains("\(alice.username) / \(alice.password)"), "the demo lists the seed users")

        terminal.send("login --username alice\r")
        try await terminal.expect("Password: ")
        terminal.send(alice.password + "\r")
        try await terminal.expect("alice@127.0.0.1:")
        terminal.send("list --tag jwt\r")
        #expect(try await terminal.expect("alice@127.0.0.1:").contains("Anatomy of a JWT"))
        terminal.send("quit\r")
        #expect(try await terminal.waitForExit(timeout: 30) == 0)

        // The server went with it: its port refuses connections (polled with a deadline).
        let deadline = ContinuousClock.now + .seconds(20)
        var stopped = false
        while ContinuousClock.now < deadline {
            if try await !Self.answers(String(url) + "/health") {
                stopped = true
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(stopped, "notes-server still answers after the demo ended")
    }

    /// Whether anything answers at `url` (curl, on its own thread).
    static func answers(_ url: String) async throws -> Bool {
        try await onThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["curl", "-s", "-o", "/dev/null", "--max-time", "5", url]
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        }
    }
}
