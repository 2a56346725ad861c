import Foundation
import Testing

@Suite("The interactive shell, driven through a pseudo-terminal", .serialized)
struct REPLTests {
    /// A predictable terminal: no colour, no bracketed paste, no ~/.inputrc.
    static func terminalEnvironment(_ server: ServerProcess) throws -> [String: String] {
        let inputrc = server.root.appendingPathComponent("inputrc")
        try "set enable-bracketed-paste off\n".write(to: inputrc, atomically: true, encoding: .utf8)
        return server.environment(["TERM": "dumb", "INPUTRC": inputrc.path])
    }

    @Test("prompt, help, login, add, list, Tab, Ctrl-C, history written and read back, Ctrl-D exits 0")
    func session() async throws {
        try await withServerProcess { server in
            let password = "correct-horse-1"
            #expect(try await server.register("alice", password).status == 0)
            #expect(try await server.notes(["logout"]).status == 0)
            let environment = try Self.terminalEnvironment(server)
            let loggedInPrompt = "alice@127.0.0.1:\(server.port)> "

            let terminal = try PseudoTerminal(executable: Binaries.notes.path, arguments: [], environment: environment)
            defer { terminal.close() }
            try await terminal.expect("notes> ")

            terminal.send("help\r")
            let help = try await terminal.expect("notes> ")
            for command in ["register", "login", "logout", "whoami", "list", "show", "add", "edit", "rm", "token", "users", "help", "quit"] {
                #expect(help.contains(command), "help lacks \(command)")
            }

            // In the shell, stdin is the echoing terminal: --password-stdin would show the password.
            terminal.send("login --username alice --password-stdin\r")
            #expect(try await terminal.expect("notes> ").contains("--password-stdin is for scripts"))

            terminal.send("login --username alice\r")
            try await terminal.expect("Password: ")
            terminal.send(password + "\r")
            let login = try await terminal.expect(loggedInPrompt)
            #expect(login.contains("logged in as alice"))
            #expect(!login.contains(password), "the password was echoed")

            terminal.send("add --title \"From the REPL\" --tag repl\r")
            #expect(try await terminal.expect(loggedInPrompt).contains("added "))

            terminal.send("list\r")
            #expect(try await terminal.expect(loggedInPrompt).contains("From the REPL"))

            // Tab completes a command name.
            terminal.send("whoa\t\r")
            #expect(try await terminal.expect(loggedInPrompt).contains("server   \(server.url)"))

            // Ctrl-C clears the line: "show bogus" never runs, the next command does.
            terminal.send("show bogus")
            try await terminal.expect("show bogus")
            terminal.send("\u{03}")
            try await terminal.expect("^C")
            try await terminal.expect(loggedInPrompt)
            terminal.send("whoami\r")
            let afterInterrupt = try await terminal.expect(loggedInPrompt)
            #expect(afterInterrupt.contains("id       "))
            #expect(!afterInterrupt.contains("error"))

            // An error prints and the shell goes on.
            terminal.send("show 00000000-0000-0000-0000-000000000000\r")
            #expect(try await terminal.expect(loggedInPrompt).contains("NotFoundError"))

            terminal.send("\u{04}")
            #expect(try await terminal.waitForExit() == 0)

            let history = try String(contentsOfFile: server.historyPath, encoding: .utf8)
            #expect(history.contains("login --username alice"))
            #expect(history.contains("list"))
            #expect(!history.contains(password))
            let mode = try FileManager.default.attributesOfItem(atPath: server.historyPath)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)

            // A new shell loads the history: Ctrl-P brings back the last line.
            let again = try PseudoTerminal(executable: Binaries.notes.path, arguments: [], environment: environment)
            defer { again.close() }
            try await again.expect(loggedInPrompt)
            again.send("\u{10}")
            try await again.expect("show 00000000-0000-0000-0000-000000000000")
            // (A dumb terminal redraws prompt and line on each history step.)
            again.send("\u{10}")
            try await again.expect("whoami")
            again.send("\r")
            try await again.expect("id       ")
            try await again.expect(loggedInPrompt)
            again.send("quit\r")
            #expect(try await again.waitForExit() == 0)
        }
    }
}
