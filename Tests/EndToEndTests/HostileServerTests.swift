import Foundation
import Hummingbird
import NotesModels
import Synchronization
import Testing

/// Routes every hostile server here shares: a login that works, so the client has a session.
private func loginRoute(_ router: Router<BasicRequestContext>, name: String = "alice") {
    router.post("/auth/login") { _, _ in try Fake.json(Fake.tokenPair(sid: UUID(), name: name)) }
}

private func login(_ server: FakeServer, as name: String = "alice") async throws {
    let run = try await server.notes(["login", "--username", name, "--password-stdin"], stdin: "correct-horse-1\n")
    #expect(run.status == 0, "\(run)")
}

@Suite("notes against a hostile server", .serialized)
struct HostileServerTests {
    @Test("issue 9 row 4: a TokenPair with expiresIn Int.min is refused (exit 1), not a crash, and nothing is cached")
    func hostileNumbers() async throws {
        try await withFakeServer { router in
            router.post("/auth/login") { _, _ in
                let token = Fake.accessToken(sid: UUID())
                return Fake.raw(
                    #"{"accessToken":"\#(token)","refreshToken":"r","tokenType":"Bearer","expiresIn":-9223372036854775808,"refreshExpiresIn":9223372036854775807}"#
                )
            }
        } _: { server in
            let run = try await server.notes(["login", "--username", "alice", "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(!run.crashed, "\(run)")
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("token lifetimes out of range"), "\(run)")
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
        }
    }

    @Test("issue 9 row 4: an access token whose exp is 1e300 is shown, not a crash")
    func hugeExpiry() async throws {
        try await withFakeServer { router in
            router.post("/auth/login") { _, _ in
                let header = Fake.base64URL(#"{"alg":"HS256","typ":"JWT","kid":"k"}"#)
                let payload = Fake.base64URL(#"{"sub":"x","name":"alice","iat":-1e300,"exp":1e300}"#)
                let token = "\(header).\(payload).c2ln"
                return try Fake.json(TokenPair(accessToken: token, refreshToken: "r", expiresIn: 900, refreshExpiresIn: 9000))
            }
        } _: { server in
            let login = try await server.notes(["login", "--username", "alice", "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(!login.crashed && login.status == 0, "\(login)")
            let token = try await server.notes(["token"])
            #expect(!token.crashed && token.status == 0, "\(token)")
        }
    }

    @Test("issue 9 row 5: list --all stops with an error when the server repeats a cursor")
    func repeatedCursor() async throws {
        try await withFakeServer { router in
            loginRoute(router)
            router.get("/notes") { _, _ in try Fake.json(Page<Note>(items: [], nextCursor: "same")) }
        } _: { server in
            try await login(server)
            let run = try await server.notes(["list", "--all"])
            #expect(run.status == 1, "\(run)")
            #expect(run.stderr.contains("repeated a pagination cursor"), "\(run)")
            #expect(server.count("GET /notes") == 2)
        }
    }

    @Test("issue 9 row 7: escapes and bidi overrides in notes, errors and usernames are shown visibly; --json stays exact")
    func controlCharacters() async throws {
        let id = UUID()
        let title = "\u{1B}]0;pwned\u{07}evil\u{202E}txt.exe"
        let body = "line one\n\u{1B}[2Jcleared\u{9B}31m"
        let note = Note(
            id: id,
            title: title,
            body: body,
            tags: ["x"],
            createdAt: Date(timeIntervalSince1970: 1_700_000_000),
            updatedAt: Date(timeIntervalSince1970: 1_700_000_000),
            version: 1
        )
        let name = "eve\u{1B}[8m"
        try await withFakeServer { router in
            loginRoute(router, name: name)
            router.get("/notes/{id}") { _, context in
                if context.parameters.get("id") == id.uuidString.lowercased() { return try Fake.json(note) }
                return try Fake.error(.notFound, .notFound, "gone\u{1B}[2J\u{202E}")
            }
            router.get("/notes") { _, _ in try Fake.json(Page(items: [note], nextCursor: nil)) }
            router.get("/me") { _, _ in
                try Fake.json(User(id: UUID(), username: name, admin: false, createdAt: Date(timeIntervalSince1970: 1_700_000_000)))
            }
        } _: { server in
            try await login(server, as: name)
            func isClean(_ text: String) -> Bool {
                !text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E || $0.value == 0x07 || $0.value == 0x9B }
            }
            let show = try await server.notes(["show", id.uuidString])
            #expect(show.status == 0, "\(show)")
            #expect(isClean(show.stdout), "\(show.stdout.debugDescription)")
            #expect(show.stdout.contains(#"\u{1B}]0;pwned\u{7}evil\u{202E}txt.exe"#), "\(show.stdout.debugDescription)")
            #expect(show.stdout.contains("line one\n"), "a body's newlines stay")

            let list = try await server.notes(["list"])
            #expect(list.status == 0 && isClean(list.stdout), "\(list.stdout.debugDescription)")

            let json = try await server.notes(["show", id.uuidString, "--json"])
            let decoded = try NotesJSON.decoder().decode(Note.self, from: Data(json.stdout.utf8))
            #expect(decoded == note, "--json is exact")

            let missing = try await server.notes(["show", UUID().uuidString])
            #expect(missing.status == 1, "\(missing)")
            #expect(isClean(missing.stderr) && missing.stderr.contains(#"gone\u{1B}[2J\u{202E}"#), "\(missing.stderr.debugDescription)")

            let whoami = try await server.notes(["whoami"])
            #expect(whoami.status == 0 && isClean(whoami.stdout), "\(whoami.stdout.debugDescription)")
            let token = try await server.notes(["token"])
            #expect(token.status == 0 && isClean(token.stdout), "\(token)")
            #expect(token.stdout.contains(#"eve\u{1B}[8m"#), "\(token)")
            let verbose = try await server.notes(["--verbose", "show", UUID().uuidString])
            #expect(isClean(verbose.stderr), "\(verbose)")
            let again = try await server.notes(["login", "--username", name, "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(isClean(again.stdout) && isClean(again.stderr), "\(again)")
        }
    }

    @Test("issue 9 row 13: a server URL's user:password@ is never printed")
    func userinfoMasked() async throws {
        try await withFakeServer { router in
            loginRoute(router)
            router.get("/me") { _, _ in try Fake.error(.unauthorized, .authentication, "nope") }
        } _: { server in
            let secretURL = "http://bob:s3cr3t-pw@127.0.0.1:\(server.port)"
            let login = try await server.notes(
                ["--server", secretURL, "login", "--username", "alice", "--password-stdin"],
                stdin: "correct-horse-1\n"
            )
            #expect(login.status == 0, "\(login)")
            #expect(login.stdout.contains("http://***@127.0.0.1:\(server.port)"), "\(login)")
            let whoami = try await server.notes(["whoami"], environment: ["NOTES_SERVER": secretURL])
            let unreachable = try await server.notes(["--server", "http://bob:s3cr3t-pw@127.0.0.1:1", "whoami"])
            #expect(unreachable.status == 77 || unreachable.status == 69, "\(unreachable)")
            let unreachableLogin = try await server.notes(
                ["--server", "http://bob:s3cr3t-pw@127.0.0.1:1", "login", "--username", "a", "--password-stdin"],
                stdin: "correct-horse-1\n"
            )
            #expect(unreachableLogin.status == 69, "\(unreachableLogin)")
            #expect(unreachableLogin.stderr.contains("http://***@127.0.0.1:1"), "\(unreachableLogin)")
            let bad = try await server.notes(["--server", "ftp://bob:s3cr3t-pw@x", "whoami"])
            #expect(bad.status == 64, "\(bad)")
            for run in [login, whoami, unreachable, unreachableLogin, bad] {
                #expect(!run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"), "\(run)")
            }
        }
    }

    @Test("issue 9 row 13: a session.json readable by others is tightened to 0600, with a warning")
    func looseSessionFile() async throws {
        try await withFakeServer { router in
            loginRoute(router)
            router.get("/me") { _, _ in
                try Fake.json(User(id: UUID(), username: "alice", admin: false, createdAt: Date(timeIntervalSince1970: 1_700_000_000)))
            }
        } _: { server in
            try await login(server)
            #expect(chmod(server.sessionPath, 0o644) == 0)
            let run = try await server.notes(["whoami"])
            #expect(run.status == 0, "\(run)")
            #expect(run.stderr.contains("warning: ") && run.stderr.contains("0600"), "\(run)")
            let mode = try FileManager.default.attributesOfItem(atPath: server.sessionPath)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let quiet = try await server.notes(["whoami"])
            #expect(!quiet.stderr.contains("warning"), "\(quiet)")
        }
    }
}
