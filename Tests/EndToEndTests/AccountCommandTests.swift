import Foundation
import Hummingbird
import NotesModels
import Synchronization
import TestSupport
import Testing

/// A stand-in for the account endpoints of API.md (`POST /auth/password`, `GET /auth/sessions`,
/// `DELETE /auth/sessions[/{id}]`), answering as the contract says, for one user.
final class FakeAccount: Sendable {
    struct State {
        var password = "correct-horse-1"
        /// Live sessions, oldest first.
        var sessions: [NotesModels.Session] = []
    }
    let state = Mutex(State())

    func newSession(_ state: inout State) -> TokenPair {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let sid = UUID()
        state.sessions.append(
            NotesModels.Session(id: sid, createdAt: now, lastUsedAt: now, expiresAt: now.addingTimeInterval(86_400), current: false)
        )
        return Fake.tokenPair(sid: sid)
    }

    var sessionIDs: [UUID] { state.withLock { $0.sessions.map(\.id) } }

    func routes(_ router: Router<BasicRequestContext>) {
        router.post("/auth/login") { request, _ in
            let credentials = try await Fake.decode(Credentials.self, request)
            let pair: TokenPair? = self.state.withLock { state in
                credentials.password == state.password ? self.newSession(&state) : nil
            }
            guard let pair else { return try Fake.error(.unauthorized, .authentication, "invalid username or password") }
            return try Fake.json(pair)
        }
        router.post("/auth/password") { request, _ in
            guard let sid = Fake.sid(of: request) else { return try Fake.error(.unauthorized, .unauthorized, "No authorization token was found") }
            let change = try await Fake.decode(PasswordChangeRequest.self, request)
            let pair: TokenPair? = self.state.withLock { state in
                guard state.sessions.contains(where: { $0.id == sid }), change.currentPassword == state.password else { return nil }
                state.password = change.newPassword
                state.sessions.removeAll()
                return self.newSession(&state)
            }
            guard let pair else { return try Fake.error(.unauthorized, .authentication, "invalid username or password") }
            var response = try Fake.json(pair)
            response.headers[.cacheControl] = "no-store"
            return response
        }
        router.get("/auth/sessions") { request, _ in
            let sid = Fake.sid(of: request)
            let sessions = self.state.withLock { state in
                state.sessions.reversed().map { session in
                    var session = session
                    session.current = session.id == sid
                    return session
                }
            }
            return try Fake.json(sessions)
        }
        router.delete("/auth/sessions/{id}") { _, context in
            let id = context.parameters.get("id").flatMap(UUID.init(uuidString:))
            let found = self.state.withLock { state in
                guard let id, let index = state.sessions.firstIndex(where: { $0.id == id }) else { return false }
                state.sessions.remove(at: index)
                return true
            }
            if found { return Response(status: .noContent) }
            return try Fake.error(.notFound, .notFound, "session not found")
        }
        router.delete("/auth/sessions") { _, _ in
            self.state.withLock { $0.sessions.removeAll() }
            return Response(status: .noContent)
        }
    }
}

@Suite("passwd, sessions, sessions revoke, logout --all", .serialized)
struct AccountCommandTests {
    /// Logs in twice: once as "another device" (whose cache is thrown away), once for this client.
    private func twoSessions(_ server: FakeServer) async throws {
        for _ in 0..<2 {
            let run = try await server.notes(["login", "--username", "alice", "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(run.status == 0, "\(run)")
        }
    }

    private func cachedAccessToken(_ server: FakeServer) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: server.sessionPath))) as? [String: Any]
        return object?["accessToken"] as? String ?? ""
    }

    @Test("passwd --password-stdin: two lines; this client keeps the new session, every other one ends; a wrong current password is 77")
    func passwd() async throws {
        let account = FakeAccount()
        try await withFakeServer(account.routes) { server in
            // The login answer does not end the other session here; this fake keeps both.
            let loggedOut = try await server.notes(["passwd", "--password-stdin"], stdin: "correct-horse-1\nnew-horse-22\n")
            #expect(loggedOut.status == 77 && loggedOut.stderr.contains("not logged in"), "\(loggedOut)")
            #expect(server.count("POST /auth/password") == 0)
            let first = try await server.notes(["login", "--username", "alice", "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(first.status == 0, "\(first)")
            // Another device's session, made without touching this client's cache.
            _ = account.state.withLock { account.newSession(&$0) }
            #expect(account.sessionIDs.count == 2)
            let before = try cachedAccessToken(server)

            let wrong = try await server.notes(["passwd", "--password-stdin"], stdin: "not-the-password\nnew-horse-22\n")
            #expect(wrong.status == 77, "\(wrong)")
            #expect(wrong.stderr.contains("AuthenticationError"), "\(wrong)")
            #expect(try cachedAccessToken(server) == before)

            let oneLine = try await server.notes(["passwd", "--password-stdin"], stdin: "correct-horse-1\n")
            #expect(oneLine.status == 64, "\(oneLine)")

            let run = try await server.notes(["passwd", "--password-stdin"], stdin: "correct-horse-1\nnew-horse-22\n")
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("password changed"), "\(run)")
            #expect(!run.stdout.contains("new-horse-22") && !run.stderr.contains("new-horse-22"))
            #expect(account.state.withLock { $0.password } == "new-horse-22")
            #expect(account.sessionIDs.count == 1, "every other session ended")
            let after = try cachedAccessToken(server)
            #expect(after != before, "the client keeps the new TokenPair")

            // The cached token is the new session's: it is the one marked current.
            let sessions = try await server.notes(["sessions", "--json"])
            #expect(sessions.status == 0, "\(sessions)")
            let listed = try NotesJSON.decoder().decode([NotesModels.Session].self, from: Data(sessions.stdout.utf8))
            #expect(listed.map(\.id) == account.sessionIDs)
            #expect(listed.first?.current == true)
        }
    }

    @Test("sessions: a table with the current one marked, or exact JSON; sessions revoke ID ends one; an unknown id is 404 (exit 1)")
    func sessions() async throws {
        let account = FakeAccount()
        try await withFakeServer(account.routes) { server in
            try await twoSessions(server)
            let ids = account.sessionIDs
            #expect(ids.count == 2)
            let table = try await server.notes(["sessions"])
            #expect(table.status == 0, "\(table)")
            let lines = table.stdout.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "\(table)")
            // Newest first: the current session (the second login) is the first row, marked.
            #expect(lines.count == 3 && lines[1].hasPrefix("*") && lines[1].contains(ids[1].uuidString), "\(table)")
            #expect(lines.count == 3 && !lines[2].hasPrefix("*") && lines[2].contains(ids[0].uuidString), "\(table)")

            let json = try await server.notes(["sessions", "--json"])
            let listed = try NotesJSON.decoder().decode([NotesModels.Session].self, from: Data(json.stdout.utf8))
            #expect(listed.map(\.id) == [ids[1], ids[0]])
            #expect(listed.map(\.current) == [true, false])

            let revoke = try await server.notes(["sessions", "revoke", ids[0].uuidString])
            #expect(revoke.status == 0, "\(revoke)")
            #expect(server.count("DELETE /auth/sessions/\(ids[0].uuidString.lowercased())") == 1)
            #expect(account.sessionIDs == [ids[1]])

            let unknown = try await server.notes(["sessions", "revoke", UUID().uuidString])
            #expect(unknown.status == 1, "\(unknown)")
            #expect(unknown.stderr.contains("NotFoundError"), "\(unknown)")
            let notAnID = try await server.notes(["sessions", "revoke", "nope"])
            #expect(notAnID.status == 64, "\(notAnID)")

            // Revoking this client's own session logs it out here too.
            let own = try await server.notes(["sessions", "revoke", ids[1].uuidString])
            #expect(own.status == 0 && own.stdout.contains("logged out"), "\(own)")
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
        }
    }

    @Test("logout --all: DELETE /auth/sessions, then the cached session is deleted")
    func logoutAll() async throws {
        let account = FakeAccount()
        try await withFakeServer(account.routes) { server in
            try await twoSessions(server)
            let run = try await server.notes(["logout", "--all"])
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("logged out everywhere"), "\(run)")
            #expect(server.count("DELETE /auth/sessions") == 1)
            #expect(account.sessionIDs.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
            let again = try await server.notes(["logout", "--all"])
            #expect(again.status == 0 && again.stdout.contains("not logged in"), "\(again)")
        }
    }
}

/// The same commands against the built `notes-server`, with a second client home standing in
/// for another device. Access tokens live 2 s, so a revoked session shows within a poll.
@Suite("passwd, sessions, sessions revoke, logout --all against the real server", .serialized)
struct AccountCommandServerTests {
    /// `notes` with a home of its own: another device of the same user.
    struct Device {
        let root: URL
        let server: LiveServer

        init(_ name: String, of server: LiveServer) throws {
            root = server.root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            self.server = server
        }

        func notes(_ arguments: [String], stdin: String? = nil) async throws -> Run {
            try await runNotes(arguments, root: root, environment: clientEnvironment(root: root, server: server.url), stdin: stdin)
        }

        func login(_ password: String) async throws -> Run {
            try await notes(["login", "--username", "alice", "--password-stdin"], stdin: password + "\n")
        }

        /// Runs `whoami` until the session turns out to be over (the access token expired and its
        /// refresh was refused), and returns that run.
        func waitUntilLoggedOut() async throws -> Run {
            let last = OutputBuffer()
            var run: Run?
            let seen = { last.text }
            try await poll("the device's session to end", seconds: 30, interval: .milliseconds(200), detail: seen) {
                let attempt = try await notes(["whoami"])
                last.append(Data("\(attempt)".utf8))
                run = attempt
                return attempt.status != 0
            }
            return try #require(run)
        }
    }

    func sessions(_ server: LiveServer) async throws -> [NotesModels.Session] {
        let run = try await server.notes(["sessions", "--json"])
        #expect(run.status == 0, "\(run)")
        return try NotesJSON.decoder().decode([NotesModels.Session].self, from: Data(run.stdout.utf8))
    }

    @Test("sessions lists both devices and revoke ends the other; passwd ends every other session; logout --all ends them all")
    func accountCommands() async throws {
        try await withServerProcess(accessTokenTTL: "2s") { server in
            #expect(try await server.register("alice", "correct-horse-1").status == 0)
            let other = try Device("other-device", of: server)
            #expect(try await other.login("correct-horse-1").status == 0)

            // sessions: both, newest first, this client's marked current.
            let both = try await sessions(server)
            #expect(both.count == 2)
            #expect(both.filter(\.current).count == 1)
            #expect(both.last?.current == true, "this client logged in first")
            let table = try await server.notes(["sessions"])
            #expect(table.status == 0, "\(table)")
            let otherID = try #require(both.first { !$0.current }?.id)

            // sessions revoke ID: the other device is out once its access token expires.
            let revoke = try await server.notes(["sessions", "revoke", otherID.uuidString])
            #expect(revoke.status == 0, "\(revoke)")
            #expect(try await sessions(server).map(\.id) == both.filter(\.current).map(\.id))
            let revoked = try await other.waitUntilLoggedOut()
            #expect(revoked.status == 77 && revoked.stderr.contains("revoked"), "\(revoked)")

            // passwd: this client keeps a new session; every other ends; the old password is refused.
            #expect(try await other.login("correct-horse-1").status == 0)
            let passwd = try await server.notes(["passwd", "--password-stdin"], stdin: "correct-horse-1\nnew-horse-22\n")
            #expect(passwd.status == 0, "\(passwd)")
            let afterPasswd = try await sessions(server)
            #expect(afterPasswd.count == 1 && afterPasswd.first?.current == true, "\(afterPasswd)")
            #expect(!afterPasswd.contains { both.map(\.id).contains($0.id) }, "a new session, not an old one")
            let ended = try await other.waitUntilLoggedOut()
            #expect(ended.status == 77, "\(ended)")
            #expect(try await other.login("correct-horse-1").status == 77)
            #expect(try await other.login("new-horse-22").status == 0)

            // logout --all: every session ends, this client's cache is deleted.
            #expect(try await sessions(server).count == 2)
            let logout = try await server.notes(["logout", "--all"])
            #expect(logout.status == 0, "\(logout)")
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
            #expect(try await server.notes(["sessions"]).status == 77, "not logged in any more")
            let everywhere = try await other.waitUntilLoggedOut()
            #expect(everywhere.status == 77 && everywhere.stderr.contains("revoked"), "\(everywhere)")
            #expect(try await server.login("alice", "new-horse-22").status == 0)
            #expect(try await sessions(server).count == 1)
        }
    }
}
