import Foundation
import NotesModels
import TestSupport
import Testing

/// Every client step of the README tutorial (part 2), in order, on the demo seeds.
@Suite("The client tutorial, step by step", .serialized)
struct TutorialTests {
    @Test("log in, read the token, add and list, watch a refresh, log out, and see the old refresh token refused")
    func tutorial() async throws {
        try await withServerProcess(accessTokenTTL: "3s", seed: true) { server in
            let alice = try DemoSeeds.load().user("alice")

            // 1. Log in.
            let login = try await server.login(alice.username, alice.password)
            #expect(login.status == 0, "\(login)")
            #expect(login.stdout == "logged in as alice at \(server.url) (access token valid for 3s; notes token shows it)\n")

            // 2. The token, decoded but not verified.
            let token = try await server.notes(["token"])
            #expect(token.status == 0, "\(token)")
            for part in [
                "NOT verified", "header.payload.signature", "Header", "\"alg\"", "\"kid\"", "/.well-known/jwks.json", "Payload", "\"sub\"",
                "\"name\"", "alice", "iat", "exp", "Signature", "Time left", "Refresh token: opaque (not a JWT)",
            ] {
                #expect(token.stdout.contains(part), "notes token lacks \(part)")
            }

            // 3. Add and list notes.
            let added = try await server.notes(["add", "--title", "My first note", "--body", "Hello, JWT", "--tag", "tutorial"])
            #expect(added.status == 0, "\(added)")
            let list = try await server.notes(["list", "--tag", "tutorial"])
            #expect(list.status == 0, "\(list)")
            #expect(list.stdout.contains("My first note"))
            let seeded = try await server.notes(["list", "--query", "refresh", "--json"])
            #expect(try NotesJSON.decoder().decode([Note].self, from: Data(seeded.stdout.utf8)).contains { $0.title == "Refresh tokens rotate" })

            // 4. Wait for the access token to expire; --verbose shows the refresh.
            try await server.waitForAccessTokenExpiry()
            let verbose = try await server.notes(["--verbose", "list"])
            #expect(verbose.status == 0, "\(verbose)")
            #expect(verbose.stderr.contains("GET /notes → 401 TokenExpiredError"), "\(verbose)")
            #expect(verbose.stderr.contains("refreshing access token"))
            #expect(verbose.stderr.contains("POST /auth/refresh → 200"))
            #expect(verbose.stderr.contains("GET /notes → 200"))
            let session = try String(contentsOfFile: server.sessionPath, encoding: .utf8)
            let pieces = try JSONSerialization.jsonObject(with: Data(session.utf8)) as? [String: Any]
            for secret in [pieces?["accessToken"], pieces?["refreshToken"]].compactMap({ $0 as? String }) {
                #expect(!verbose.stderr.contains(secret), "--verbose printed a token")
            }

            // 5. Log out; the old refresh token is refused from now on.
            let saved = try Data(contentsOf: URL(fileURLWithPath: server.sessionPath))
            let logout = try await server.notes(["logout"])
            #expect(logout.status == 0, "\(logout)")
            try saved.write(to: URL(fileURLWithPath: server.sessionPath))
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: server.sessionPath)
            try await server.waitForAccessTokenExpiry()
            let refused = try await server.notes(["--verbose", "whoami"])
            #expect(refused.status == 77, "\(refused)")
            #expect(refused.stderr.contains("POST /auth/refresh → 401"))
            #expect(
                refused.stderr.contains("error: session revoked on the server (logged out, maybe from another copy of the session) — run notes login")
            )

            // The admin of the seeds can list users.
            let admin = try DemoSeeds.load().users.first { $0.admin }
            if let admin {
                #expect(try await server.login(admin.username, admin.password).status == 0)
                let users = try await server.notes(["users", "--json"])
                #expect(try NotesJSON.decoder().decode([User].self, from: Data(users.stdout.utf8)).contains { $0.username == "alice" })
            }
        }
    }

    @Test("part 2 typed into the shell as the README shows it: each command prints every line the README shows after it")
    func transcript() async throws {
        // 15 s: steps 1–3 finish well before the token expires; step 4 then waits for it.
        try await withServerProcess(accessTokenTTL: "15s", seed: true) { server in
            let alice = try DemoSeeds.load().user("alice")
            let steps = try Transcript.steps()
            #expect(steps.count >= 8)
            let terminal = try PseudoTerminal(executable: Binaries.notes.path, arguments: [], environment: try REPLTests.terminalEnvironment(server))
            defer { terminal.close() }
            try await terminal.expect("notes> ")
            var realID: String?
            for step in steps {
                var command = step.command
                if let realID {
                    command = command.replacingOccurrences(of: Transcript.exampleID, with: realID)
                        .replacingOccurrences(of: Transcript.exampleID.prefix(4).lowercased(), with: realID.prefix(4).lowercased())
                }
                if command.contains("--verbose") { try await server.waitForAccessTokenExpiry() }
                let prompt = step.nextPrompt.replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(server.port)")
                if let tab = command.range(of: "<Tab>") {
                    terminal.send(String(command[..<tab.lowerBound]) + "\t")
                    // Readline completes the whole id (rubbing out what differs in case).
                    try await terminal.expect(String((realID ?? "").dropFirst(4)) + " ")
                    terminal.send("\r")
                } else {
                    terminal.send(command + "\r")
                }
                if step.password {
                    try await terminal.expect("Password: ")
                    terminal.send(alice.password + "\r")
                }
                let output = try await terminal.expect(prompt)
                if command.hasPrefix("add ") {
                    realID = output.split(whereSeparator: \.isNewline).first { $0.hasPrefix("added ") }.map { String($0.dropFirst(6).prefix(36)) }
                }
                let printed = output.split(whereSeparator: \.isNewline).map { Transcript.normalized(String($0)) }
                for line in step.expected where !line.contains("…") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    #expect(
                        printed.contains(Transcript.normalized(line)),
                        "\(command): the README shows \(line.debugDescription); the shell printed:\n\(printed.joined(separator: "\n"))"
                    )
                }
            }
            terminal.send("quit\r")
            #expect(try await terminal.waitForExit() == 0)
        }
    }
}

/// The shell sessions of the README's part 2 (between `<!-- tutorial-repl:start -->` and its
/// end): the commands typed at each prompt and the lines shown after them.
enum Transcript {
    struct Step {
        var command: String
        var password = false
        var expected: [String] = []
        /// The prompt that comes after the command's output.
        var nextPrompt = ""
    }

    /// The id the README's examples use, standing for the id the server gives.
    static let exampleID = "7C80A210-5F8D-4DB1-89B1-33783EC88FA4"

    static let promptPattern = #"^(notes|[a-z0-9_.-]+@127\.0\.0\.1:[0-9]+)> ?"#

    static func steps() throws -> [Step] {
        let readme = try String(contentsOf: URL(fileURLWithPath: repositoryRoot()).appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "<!-- tutorial-repl:start -->"), let end = readme.range(of: "<!-- tutorial-repl:end -->") else {
            throw TestFailure("README.md has no tutorial-repl region")
        }
        var steps: [Step] = []
        var inBlock = false
        var skipBlock = false
        for line in readme[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") {
                inBlock.toggle()
                skipBlock = false
                continue
            }
            guard inBlock, !skipBlock else { continue }
            // A session in your own shell ($ notes …) is the command-line test's business.
            if line.hasPrefix("$ ") {
                skipBlock = true
                continue
            }
            if let prompt = line.range(of: promptPattern, options: .regularExpression) {
                let promptText = String(line[prompt]).trimmingCharacters(in: .whitespaces) + " "
                if let last = steps.indices.last, steps[last].nextPrompt.isEmpty { steps[last].nextPrompt = promptText }
                let command = String(line[prompt.upperBound...])
                if !command.isEmpty { steps.append(Step(command: command)) }
            } else if line == "Password:", let last = steps.indices.last {
                steps[last].password = true
            } else if let last = steps.indices.last {
                steps[last].expected.append(line)
            }
        }
        // A last block that ends without a prompt: any prompt will do.
        for index in steps.indices where steps[index].nextPrompt.isEmpty { steps[index].nextPrompt = "> " }
        return steps
    }

    /// What changes from run to run — ids, tokens, dates, times, durations, the port, the
    /// cache's path — made alike.
    static func normalized(_ line: String) -> String {
        var text = line.trimmingCharacters(in: .whitespaces)
        for (pattern, replacement) in [
            (#"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"#, "<uuid>"),
            (#"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d UTC"#, "<time>"),
            (#"\d{4}-\d\d-\d\d \d\d:\d\d"#, "<time>"),
            (#"\((in [^()]*|[^()]* ago|now)\)"#, "(<when>)"),
            (#"[A-Za-z0-9_-]{20,}"#, "<b64>"),
            (#"\b\d{6,}\b"#, "<n>"),
            (#"\b\d+[smhd]\b"#, "<dur>"),
            (#"127\.0\.0\.1:\d+"#, "127.0.0.1:<port>"),
            (#"kept in \S*session\.json"#, "kept in <path>"),
        ] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }
}
