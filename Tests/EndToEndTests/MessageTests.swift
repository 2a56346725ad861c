import Foundation
import NotesModels
import TestSupport
import Testing

/// The exact words `notes` says when something is off, and what it says to do next (issue 10).
@Suite("Messages that say what to do next, word for word", .serialized)
struct MessageTests {
    @Test("a mistyped command gets gh's did-you-mean, help for an unknown command fails, and --version answers")
    func commandNames() async throws {
        try await withServerProcess { server in
            let typo = try await server.notes(["lst"])
            #expect(typo.status == 64, "\(typo)")
            #expect(typo.stderr == "error: unknown command 'lst'\n\nDid you mean this?\n    list\n\nRun notes --help for the commands.\n")

            let help = try await server.notes(["help", "nosuch"])
            #expect(help.status == 64, "\(help)")
            #expect(help.stderr == "error: unknown command 'nosuch'\nRun notes --help for the commands.\n")

            let option = try await server.notes(["list", "--limt", "3"])
            #expect(option.status == 64, "\(option)")
            #expect(option.stderr.hasPrefix("Error: Unknown option '--limt'. Did you mean '--limit'?\n"), "\(option)")

            let version = try await server.notes(["--version"])
            #expect(version.status == 0)
            #expect(version.stdout == "0.9.0\n")

            let topHelp = try await server.notes(["--help"])
            for part in ["Examples:", "NOTES_SERVER", "NOTES_CONFIG_DIR", "NO_COLOR", "--generate-completion-script bash"] {
                #expect(topHelp.stdout.contains(part), "notes --help lacks \(part)")
            }
            for command in ["register", "login", "logout", "whoami", "list", "show", "add", "edit", "rm", "token", "users"] {
                let commandHelp = try await server.notes([command, "--help"])
                #expect(commandHelp.stdout.contains("Examples:\n  notes \(command)"), "\(command) --help has no examples: \(commandHelp)")
            }

            let completion = try await server.notes(["--generate-completion-script", "bash"])
            #expect(completion.status == 0)
            #expect(completion.stdout.contains("-F _notes notes") && completion.stdout.contains("whoami"), "\(completion.stdout.suffix(200))")
        }
    }

    @Test("a copy of notes in a folder on PATH runs from a shell with nothing of the build around it (the README's install step)")
    func installedCopy() async throws {
        try await withServerProcess { server in
            let bin = server.root.appendingPathComponent("bin")
            try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
            // cp in the shell, not in this process: a copy written here could still be open in a
            // process another test forks at that moment, and exec would fail with ETXTBSY.
            let run = try await DemoTests.bash(
                "cp '\(Binaries.notes.path)' '\(bin.path)/notes' && cd / && notes --version && notes register --username alice --password-stdin <<< correct-horse-1 && notes whoami",
                environment: [
                    "PATH": bin.path + ":/usr/bin:/bin", "HOME": server.root.path, "NOTES_SERVER": server.url,
                    "NOTES_CONFIG_DIR": server.configDirectory, "NO_COLOR": "1",
                ]
            )
            #expect(run.status == 0, "\(run)")
            #expect(run.output.hasPrefix("0.9.0\n"), "\(run)")
            #expect(run.output.contains("\nalice\n"), "\(run)")
        }
    }

    @Test("an id may be any unambiguous start of one, in any case; an ambiguous one lists the notes, a bad one says what an id is")
    func idPrefixes() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            var notes: [Note] = []
            // 17 notes: more than the 16 hex digits, so two ids surely share a first character.
            for index in 0..<17 {
                let added = try await server.notes(["add", "--title", "Note \(index)", "--json"])
                notes.append(try NotesJSON.decoder().decode(Note.self, from: Data(added.stdout.utf8)))
            }
            let ids = notes.map(\.id.uuidString)
            let target = notes[0]
            // The shortest start of the target's id that no other id shares.
            let unique = try #require(
                (1...36).lazy.map { String(target.id.uuidString.prefix($0)) }.first { prefix in ids.filter { $0.hasPrefix(prefix) }.count == 1 }
            )
            let shown = try await server.notes(["show", unique.lowercased(), "--json"])
            #expect(shown.status == 0, "\(shown)")
            #expect(try NotesJSON.decoder().decode(Note.self, from: Data(shown.stdout.utf8)).id == target.id)

            let digit = try #require(
                Set(ids.map { String($0.prefix(1)) }).first { digit in ids.filter { $0.hasPrefix(digit) }.count > 1 }
            )
            let matching = notes.filter { $0.id.uuidString.hasPrefix(digit) }
            let ambiguous = try await server.notes(["show", digit])
            #expect(ambiguous.status == 64, "\(ambiguous)")
            #expect(ambiguous.stderr.hasPrefix("error: \(digit) is ambiguous: \(matching.count) notes have ids starting with it\n"), "\(ambiguous)")
            for note in matching where matching.count <= 10 { #expect(ambiguous.stderr.contains("  \(note.id.uuidString)  \(note.title)\n")) }
            #expect(ambiguous.stderr.hasSuffix("type more of the id\n"))

            let free = try #require(
                ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"].lazy
                    .map { "\($0)\($0)\($0)\($0)" }.first { prefix in !ids.contains { $0.hasPrefix(prefix) } }
            )
            let none = try await server.notes(["rm", free.lowercased()])
            #expect(none.status == 1, "\(none)")
            #expect(none.stderr == "error: no note of yours has an id starting with \(free); notes list shows them\n")

            let bad = try await server.notes(["show", "2a03?"])
            #expect(bad.status == 64)
            #expect(
                bad.stderr.hasPrefix(
                    "Error: The value '2a03?' is invalid for '<id>': a note id is the UUID that list shows (like 7C80A210-5F8D-4DB1-89B1-33783EC88FA4), or enough of its start to name one note\n"
                ),
                "\(bad)"
            )

            // Ids look the same in a table, in JSON and in messages: upper case, as the server writes them.
            let table = try await server.notes(["list", "--limit", "1"])
            #expect(table.stdout.contains(notes[16].id.uuidString))
            let edited = try await server.notes(["edit", unique, "--title", "Renamed"])
            #expect(edited.stdout == "updated \(target.id.uuidString) (version 2)\n")
        }
    }

    @Test("login says how long the token is valid exactly, and whose session a login as someone else replaced")
    func login() async throws {
        try await withServerProcess(accessTokenTTL: "30s") { server in
            try await server.register("alice", "correct-horse-1")
            try await server.register("bob", "correct-horse-2")
            let again = try await server.login("alice", "correct-horse-1")
            #expect(
                again.stdout
                    == "replaced bob's session (logged out)\nlogged in as alice at \(server.url) (access token valid for 30s; notes token shows it)\n"
            )
            let same = try await server.login("alice", "correct-horse-1")
            #expect(same.stdout == "logged in as alice at \(server.url) (access token valid for 30s; notes token shows it)\n")
        }
    }

    @Test("a throttled login says so once and exits 77; a revoked session says revoked, not expired")
    func refusals() async throws {
        try await withServerProcess(accessTokenTTL: "2s") { server in
            try await server.register("alice", "correct-horse-1")
            for _ in 0..<5 { #expect(try await server.login("nobody", "wrong-password").status == 77) }
            let throttled = try await server.login("nobody", "wrong-password")
            #expect(throttled.status == 77, "\(throttled)")
            #expect(throttled.stderr.hasPrefix("error: too many failed logins for this username; try again in "), "\(throttled)")
            #expect(throttled.stderr.hasSuffix("s (TooManyRequestsError, HTTP 429)\n"), "\(throttled)")
            #expect(throttled.stderr.components(separatedBy: "try again").count == 2, "said twice: \(throttled)")

            let saved = try Data(contentsOf: URL(fileURLWithPath: server.sessionPath))
            #expect(try await server.notes(["logout"]).status == 0)
            try saved.write(to: URL(fileURLWithPath: server.sessionPath))
            // A copy kept as private as the original (a looser one gets a warning of its own).
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: server.sessionPath)
            try await server.waitForAccessTokenExpiry()
            let revoked = try await server.notes(["whoami"])
            #expect(revoked.status == 77)
            #expect(revoked.stderr == "error: session revoked on the server (logged out, maybe from another copy of the session) — run notes login\n")
        }
    }

    @Test("validation details once, the current version on a conflict, the bad tag named, an unreachable server explained")
    func serverRefusals() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let added = try await server.notes(["add", "--title", "First", "--json"])
            let note = try NotesJSON.decoder().decode(Note.self, from: Data(added.stdout.utf8))
            #expect(added.stdout.contains("\"tags\": []"), "empty arrays print as [] like jq: \(added.stdout)")

            let invalid = try await server.notes(["edit", note.id.uuidString, "--title", ""])
            #expect(invalid.status == 1)
            #expect(invalid.stderr == "error: the server refused the request (ValidationError, HTTP 400):\n  title: must be 1 to 200 characters\n")

            let stale = try await server.notes(["edit", note.id.uuidString, "--title", "Second", "--if-version", "99"])
            #expect(stale.status == 1)
            #expect(
                stale.stderr
                    == "error: the note is at version 1 now, not 99 (PreconditionFailedError, HTTP 412): someone changed it since; "
                    + "see it with notes show \(note.id.uuidString.prefix(8)), then edit again with --if-version 1\n"
            )

            let tag = try await server.notes(["add", "--title", "Tagged", "--tag", "Bad Tag"])
            #expect(tag.status == 64)
            #expect(
                tag.stderr.hasPrefix(
                    "Error: --tag 'Bad Tag' is not a tag: a tag is 1–32 characters of a–z, 0–9, _ and - (lower case, no spaces)\n"
                ),
                "\(tag)"
            )

            try await server.stop()
            let down = try await server.notes(["list"])
            #expect(down.status == 69)
            #expect(
                down.stderr
                    == "error: cannot reach the server at \(server.url) (connection refused)\n"
                    + "  is notes-server running? start it with make demo (or make server), or use another server with --server URL or NOTES_SERVER\n"
            )
        }
    }

    @Test("notes token shows the three base64url parts, explains the claims, points kid at the JWKS, and tells the session's end")
    func token() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let session = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: server.sessionPath))) as? [String: Any]
            let accessToken = try #require(session?["accessToken"] as? String)
            let raw = try await server.notes(["token", "--raw"])
            #expect(raw.stdout == accessToken + "\n")

            let token = try await server.notes(["token"])
            #expect(token.status == 0, "\(token)")
            let segments = accessToken.split(separator: ".").map(String.init)
            #expect(segments.count == 3)
            let lines = token.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (index, (segment, label)) in zip(segments, ["header", "payload", "signature"]).enumerated() {
                let lead = index == 0 ? "   " : "  ."
                #expect(
                    lines.contains { $0.hasPrefix(lead + segment.prefix(24)) && $0.hasSuffix("  \(label), \(segment.count) characters") },
                    "no line for the \(label): \(token.stdout)"
                )
            }
            let jwt = try #require(
                JSONSerialization.jsonObject(with: Data(base64URL: segments[0]) ?? Data()) as? [String: Any]
            )
            let kid = try #require(jwt["kid"] as? String)
            #expect(lines.contains("  kid  \(kid) names the signing key; its public half is in \(server.url)/.well-known/jwks.json"))
            for claim in ["sub    ", "iss    ", "aud    ", "jti    ", "exp    ", "iat    "] {
                #expect(lines.contains { $0.hasPrefix("  " + claim) && $0.contains(" — ") }, "\(claim) is not explained")
            }
            #expect(
                lines.contains {
                    $0.hasPrefix("Refresh token: opaque (not a JWT), kept in \(server.sessionPath); each refresh rotates it. The session ends ")
                }
            )
        }
    }

    @Test("notes-server --help lists serve's options, and a busy port exits 69 naming the port and the option")
    func serverHelpAndBusyPort() async throws {
        try await withServerProcess { server in
            let help = try await runServer(["--help"])
            #expect(help.status == 0)
            for option in ["--port <port>", "--access-token-ttl <access-token-ttl>", "--jwt-algorithm", "NOTES_<OPTION>"] {
                #expect(help.stdout.contains(option), "notes-server --help lacks \(option)")
            }
            let busy = try await runServer(["--port", String(server.port), "--data-dir", server.root.appendingPathComponent("second").path])
            #expect(busy.status == 69, "\(busy)")
            #expect(
                busy.stderr.hasSuffix(
                    "notes-server: port \(server.port) on 127.0.0.1 is already in use (another notes-server, or make demo?); "
                        + "choose another with --port (or NOTES_PORT), or --port 0 for any free port\n"
                ),
                "\(busy)"
            )
            #expect(!busy.stderr.contains("CancellationError"))
        }
    }

    /// Runs `notes-server ARGS` to its end, its output going to files (no pipe can fill up).
    func runServer(_ arguments: [String]) async throws -> Run {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notes-server-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let outPath = folder.appendingPathComponent("out").path
        let errPath = folder.appendingPathComponent("err").path
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let status: Int32 = try await withDeadline(seconds: 60, "notes-server \(arguments.joined(separator: " "))") {
            try await onThread {
                let process = Process()
                process.executableURL = Binaries.server
                process.arguments = arguments
                var environment = ProcessInfo.processInfo.environment
                for key in environment.keys where key.hasPrefix("NOTES_") { environment.removeValue(forKey: key) }
                environment["NOTES_BCRYPT_COST"] = "4"
                process.environment = environment
                process.standardOutput = FileHandle(forWritingAtPath: outPath)
                process.standardError = FileHandle(forWritingAtPath: errPath)
                process.standardInput = FileHandle.nullDevice
                try process.run()
                process.waitUntilExit()
                return process.terminationStatus
            }
        }
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Run(status: status, stdout: stdout, stderr: stderr)
    }
}

extension Data {
    /// base64url without padding, as JWT segments are.
    init?(base64URL text: String) {
        var text = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        self.init(base64Encoded: text)
    }
}
