import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `make demo` is the README's first command: its script, run on a pseudo-terminal as a person
/// would, with the binaries this test run built and a free port.
@Suite("The demo script", .serialized)
struct DemoTests {
    @Test(
        "opens the REPL on a seeded server, logs in, shares its session with another shell, survives Ctrl-C, keeps the old log, and stops the server when the REPL exits"
    )
    func demo() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("demo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        // The log of an earlier run, which a new start must not empty.
        let logPath = root.appendingPathComponent("demo/server.log").path
        try FileManager.default.createDirectory(at: root.appendingPathComponent("demo"), withIntermediateDirectories: true)
        try "the log of an earlier run\n".write(toFile: logPath, atomically: true, encoding: .utf8)
        let inputrc = root.appendingPathComponent("inputrc")
        try "set enable-bracketed-paste off\n".write(to: inputrc, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") && !$0.key.hasPrefix("XDG_") }
        environment.merge(
            [
                "NOTES_DEMO_BIN": Binaries.directory.path, "NOTES_DEMO_PORT": "0", "NOTES_DEMO_DIR": root.appendingPathComponent("demo").path,
                "NOTES_DEMO_TTL": "30s", "TERM": "dumb", "INPUTRC": inputrc.path, "HOME": root.path,
            ]
        ) { $1 }
        let script = URL(fileURLWithPath: repositoryRoot()).appendingPathComponent("scripts/demo.sh").path
        let terminal = try PseudoTerminal(executable: "/bin/bash", arguments: [script], environment: environment)
        defer { terminal.close() }
        // Should the test fail half way, close() kills the script before its trap can stop the
        // server (which runs in a session of its own): stop it by the pid the script wrote.
        let pidFile = root.appendingPathComponent("demo/server.pid").path
        defer {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                kill(pid, SIGTERM)
            }
        }

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

        // `notes` from your own shell: the line the banner prints, pasted into another shell.
        let export = try #require(
            banner.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.first {
                $0.hasPrefix("export PATH=")
            }
        )
        let ownShell = try await Self.bash("\(export)\nnotes whoami", environment: environment)
        #expect(ownShell.status == 0, "\(ownShell)")
        #expect(ownShell.output.hasPrefix("alice"), "\(ownShell)")

        // Ctrl-C clears a line; a later quit still ends the demo with 0, not 130.
        // Ctrl-C only once readline echoed the line: it is reading then. Sent earlier, the
        // terminal's SIGINT flushed the typed line before readline ran, and no ^C came back.
        terminal.send("list --tag")
        try await terminal.expect("list --tag")
        terminal.send("\u{03}")
        try await terminal.expect("^C")
        try await terminal.expect("alice@127.0.0.1:")
        terminal.send("quit\r")
        #expect(try await terminal.waitForExit(timeout: 30) == 0)

        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(log.hasPrefix("the log of an earlier run\n"), "server.log was emptied")
        #expect(log.contains("=== demo started "))
        #expect(!FileManager.default.fileExists(atPath: pidFile), "the script removes server.pid when it stops the server")

        // The server went with it: its port refuses connections (polled with a deadline).
        try await poll("notes-server to stop answering after the demo ended", seconds: 20, interval: .milliseconds(100)) {
            try await !Self.answers(String(url) + "/health")
        }
    }

    @Test("a busy port stops the demo at once with the port and NOTES_DEMO_PORT named")
    func busyPort() async throws {
        try await withServerProcess { server in
            var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") }
            environment["NOTES_DEMO_BIN"] = Binaries.directory.path
            environment["NOTES_DEMO_PORT"] = String(server.port)
            environment["NOTES_DEMO_DIR"] = server.root.appendingPathComponent("demo").path
            let script = URL(fileURLWithPath: repositoryRoot()).appendingPathComponent("scripts/demo.sh").path
            let run = try await Self.bash("bash \(script) </dev/null", environment: environment)
            #expect(run.status == 1, "\(run)")
            #expect(
                run.output.contains(
                    "demo: port \(server.port) is already in use (another notes-server, or another make demo?); "
                        + "run NOTES_DEMO_PORT=9090 make demo, or NOTES_DEMO_PORT=0 for any free port"
                ),
                "\(run)"
            )
        }
    }

    @Test("scripts/demo.sh --help names every NOTES_DEMO_ setting")
    func help() async throws {
        let script = URL(fileURLWithPath: repositoryRoot()).appendingPathComponent("scripts/demo.sh").path
        let run = try await Self.bash("bash \(script) --help", environment: ProcessInfo.processInfo.environment)
        #expect(run.status == 0)
        for name in ["NOTES_DEMO_PORT", "NOTES_DEMO_TTL", "NOTES_DEMO_DIR", "NOTES_DEMO_BIN"] {
            #expect(run.output.contains(name), "\(run.output)")
        }
    }

    /// Runs a bash script to its end; stdout and stderr together.
    static func bash(_ script: String, environment: [String: String]) async throws -> ProcessResult {
        try await TestSupport.bash(script, environment: environment, timeout: 120)
    }

    /// Whether anything answers at `url` (curl, on its own thread).
    static func answers(_ url: String) async throws -> Bool {
        try await runProcess("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "--max-time", "5", url], timeout: 30).status == 0
    }
}
