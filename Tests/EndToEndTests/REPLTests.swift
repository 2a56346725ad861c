import Foundation
import NotesModels
import TestSupport
import Testing

@Suite("The interactive shell, driven through a pseudo-terminal", .serialized)
struct REPLTests {
    /// A predictable terminal: no colour, no bracketed paste, no ~/.inputrc.
    static func terminalEnvironment(_ server: LiveServer) throws -> [String: String] {
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
            for command in [
                "register", "login", "logout", "passwd", "sessions", "whoami", "list", "show", "add", "edit", "rm", "token", "users", "help", "quit",
            ] {
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

            // Tab completes passwd; its passwords are asked without echo and never reach the history.
            terminal.send("passw\t\r")
            try await terminal.expect("Current password: ")
            terminal.send(password + "\r")
            try await terminal.expect("New password: ")
            terminal.send("new-horse-staple-2\r")
            try await terminal.expect("New password again: ")
            terminal.send("new-horse-staple-2\r")
            let passwd = try await terminal.expect(loggedInPrompt)
            #expect(!passwd.contains("new-horse-staple-2") && !passwd.contains(password), "\(passwd.debugDescription)")
            terminal.send("sess\t--json\r")
            try await terminal.expect(loggedInPrompt)

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
            #expect(history.contains("passwd"))
            #expect(history.contains("sessions --json"))
            #expect(!history.contains("new-horse-staple-2"))
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

    @Test("the shell speaks its own terms, suggests commands, completes every id it has seen, and asks before rm")
    func newcomer() async throws {
        try await withServerProcess(seed: true) { server in
            let alice = try DemoSeeds.load().user("alice")
            let environment = try Self.terminalEnvironment(server)
            let prompt = "alice@127.0.0.1:\(server.port)> "
            let terminal = try PseudoTerminal(executable: Binaries.notes.path, arguments: [], environment: environment)
            defer { terminal.close() }
            try await terminal.expect("notes> ")

            // Logged out, the shell says `login`, the command typed here, not `notes login`.
            terminal.send("list\r")
            let loggedOut = try await terminal.expect("notes> ")
            #expect(loggedOut.contains("error: not logged in to \(server.url) — run login\r\n"), "\(loggedOut.debugDescription)")

            // A typo gets a suggestion; an unknown option too, with usage in the shell's terms.
            terminal.send("lst\r")
            let typo = try await terminal.expect("notes> ")
            #expect(
                typo.contains("unknown command 'lst'\r\n\r\nDid you mean this?\r\n    list\r\n\r\nType help for the commands."),
                "\(typo.debugDescription)"
            )
            terminal.send("help lst\r")
            #expect(try await terminal.expect("notes> ").contains("unknown command 'lst'"))
            terminal.send("list --limt 1\r")
            let option = try await terminal.expect("notes> ")
            #expect(option.contains("Unknown option '--limt'. Did you mean '--limit'?"), "\(option.debugDescription)")
            #expect(option.contains("Usage: list "), "\(option.debugDescription)")
            #expect(!option.contains("notes list"), "\(option.debugDescription)")
            terminal.send("help rm\r")
            let help = try await terminal.expect("notes> ")
            #expect(help.contains("USAGE: rm "), "\(help.debugDescription)")
            #expect(help.contains("Examples (as typed in your own shell; here, leave out notes):"), "\(help.debugDescription)")

            terminal.send("login --username alice\r")
            try await terminal.expect("Password: ")
            terminal.send(alice.password + "\r")
            try await terminal.expect(prompt)

            // A line copied from the README's own-shell examples runs, with a word on the spelling.
            terminal.send("notes list --limit 1\r")
            let copied = try await terminal.expect(prompt)
            #expect(copied.contains("(in this shell, commands are typed without notes in front: list …)"), "\(copied.debugDescription)")
            #expect(copied.contains("TITLE"), "\(copied.debugDescription)")

            // Part 2, step 3 as written: add, list by tag, list something else, then complete the
            // first note's id from its lower-case start.
            terminal.send("add --title \"My first note\" --body \"Hello, JWT\" --tag tutorial\r")
            let added = try await terminal.expect(prompt)
            let id = try #require(
                added.split(whereSeparator: \.isNewline).first { $0.hasPrefix("added ") }.map { String($0.dropFirst(6).prefix(36)) }
            )
            terminal.send("list --tag tutorial\r")
            try await terminal.expect(prompt)
            terminal.send("list --query refresh\r")
            #expect(try await terminal.expect(prompt).contains("Refresh tokens rotate"))
            terminal.send("show \(id.prefix(4).lowercased())\t")
            // Readline rubs out from the first character that differs in case and types the rest
            // of the id; whatever it rubbed out, the part after the typed four follows.
            try await terminal.expect(String(id.dropFirst(4)) + " ")
            terminal.send("\r")
            let shown = try await terminal.expect(prompt)
            #expect(shown.contains("My first note") && shown.contains("Hello, JWT"), "\(shown.debugDescription)")

            // A prefix without Tab works too; rm asks first, and no keeps the note.
            terminal.send("rm \(id.prefix(6).lowercased())\r")
            try await terminal.expect("delete \"My first note\" (\(id.prefix(8)))? [y/N] ")
            terminal.send("n\r")
            #expect(try await terminal.expect(prompt).contains("not deleted"))
            terminal.send("rm \(id.prefix(6))\r")
            try await terminal.expect("[y/N] ")
            terminal.send("y\r")
            #expect(try await terminal.expect(prompt).contains("deleted \(id)"))
            terminal.send("show \(id)\r")
            #expect(try await terminal.expect(prompt).contains("NotFoundError"))

            // Logging in as someone else says whose session it replaces.
            let bob = try DemoSeeds.load().user("bob")
            terminal.send("login --username bob\r")
            try await terminal.expect("Password: ")
            terminal.send(bob.password + "\r")
            #expect(try await terminal.expect("bob@127.0.0.1:\(server.port)> ").contains("replaced alice's session (logged out)"))
            terminal.send("quit\r")
            #expect(try await terminal.waitForExit() == 0)
        }
    }

    @Test("rm on a terminal asks first, and --yes does not")
    func rmOnTerminal() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let added = try await server.notes(["add", "--title", "Keep me", "--json"])
            let id = try NotesJSON.decoder().decode(Note.self, from: Data(added.stdout.utf8)).id.uuidString
            let environment = try Self.terminalEnvironment(server)

            let asked = try PseudoTerminal(executable: Binaries.notes.path, arguments: ["rm", id], environment: environment)
            defer { asked.close() }
            try await asked.expect("delete \"Keep me\" (\(id.prefix(8)))? [y/N] ")
            asked.send("\r")
            try await asked.expect("not deleted")
            #expect(try await asked.waitForExit() == 0)
            #expect(try await server.notes(["show", id]).status == 0)

            let forced = try PseudoTerminal(executable: Binaries.notes.path, arguments: ["rm", "--yes", id], environment: environment)
            defer { forced.close() }
            let output = try await forced.expect("deleted \(id)")
            #expect(!output.contains("[y/N]"))
            #expect(try await forced.waitForExit() == 0)
            #expect(try await server.notes(["show", id]).status == 1)
        }
    }
}
