import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

extension TestClientProtocol {
    func delete(_ path: String, token: String) async throws -> TestResponse {
        try await execute(uri: path, method: .delete, headers: bearer(token))
    }

    func refreshResponse(_ refreshToken: String) async throws -> TestResponse {
        try await post("/auth/refresh", json: RefreshRequest(refreshToken: refreshToken))
    }

    func sessions(_ token: String) async throws -> [Session] {
        let response = try await get("/auth/sessions", token: token)
        #expect(response.status == .ok, "sessions: \(response.text)")
        return try response.decode()
    }
}

/// The `sid` claim of an access token.
func sessionClaim(_ token: String) throws -> String? {
    let parts = token.split(separator: ".")
    guard parts.count == 3 else { return nil }
    return try jsonPart(parts[1])["sid"] as? String
}

@Suite("Account security: sessions, log out everywhere, password change")
struct AccountTests {
    @Test("every token answer says Cache-Control: no-store; the access token names its session in sid", arguments: Engine.allCases)
    func noStoreAndSid(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let login = try await client.loginResponse("alice", "correct-horse")
            #expect(login.headers[.cacheControl] == "no-store")
            let pair: TokenPair = try login.decode()
            let sid = try #require(try sessionClaim(pair.accessToken))
            let refreshed = try await client.refreshResponse(pair.refreshToken)
            #expect(refreshed.headers[.cacheControl] == "no-store")
            let next: TokenPair = try refreshed.decode()
            #expect(try sessionClaim(next.accessToken) == sid, "a refresh stays in its session")
            let listed = try await client.sessions(next.accessToken)
            #expect(listed.map(\.id.uuidString) == [sid])
            #expect(listed.first?.current == true)
            let changed = try await client.post(
                "/auth/password",
                token: next.accessToken,
                json: PasswordChangeRequest(currentPassword: "correct-horse", newPassword: "new-horse-battery")
            )
            #expect(changed.status == .ok)
            #expect(changed.headers[.cacheControl] == "no-store")
        }
    }

    @Test("sessions are listed newest first with the caller's marked; revoking one stops its refresh token", arguments: Engine.allCases)
    func listAndRevoke(engine: Engine) async throws {
        let clock = TestClock()
        try await withApp(engine: engine, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            let first = try await client.login("alice")
            clock.advance(1)
            let second = try await client.login("alice")
            clock.advance(1)
            let third = try await client.login("alice")
            let listed = try await client.sessions(second.accessToken)
            #expect(listed.count == 3)
            #expect(listed.map(\.id.uuidString) == [third, second, first].compactMap { try? sessionClaim($0.accessToken) })
            #expect(listed.filter(\.current).map(\.id.uuidString) == [try sessionClaim(second.accessToken)])
            let firstID = try #require(listed.last?.id)
            #expect(try await client.delete("/auth/sessions/\(firstID)", token: third.accessToken).status == .noContent)
            #expect(try await client.delete("/auth/sessions/\(firstID)", token: third.accessToken).status == .noContent, "already ended: 204")
            let refused = try await client.refreshResponse(first.refreshToken)
            #expect(refused.status == .unauthorized)
            #expect(refused.error?.name == "AuthenticationError")
            #expect(try await client.sessions(third.accessToken).count == 2)
            #expect(try await client.refreshResponse(second.refreshToken).status == .ok, "the others live on")
            #expect(try await client.get("/me", token: first.accessToken).status == .ok, "an issued access token lives until its exp")
        }
    }

    @Test("another user's session, an unknown id and a malformed id are 404", arguments: Engine.allCases)
    func othersSessions(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let alice = try await client.signUp("alice")
            let bob = try await client.signUp("bob")
            let bobs = try #require(try await client.sessions(bob).first?.id)
            for path in ["/auth/sessions/\(bobs)", "/auth/sessions/\(UUID())", "/auth/sessions/not-an-id"] {
                let response = try await client.delete(path, token: alice)
                #expect(response.status == .notFound, "\(path)")
                #expect(response.error?.name == "NotFoundError")
            }
            #expect(try await client.sessions(bob).count == 1, "bob's session is untouched")
            #expect(try await client.get("/auth/sessions").status == .unauthorized)
        }
    }

    @Test("log out everywhere: every refresh token of the user is refused, other users keep theirs", arguments: Engine.allCases)
    func logOutEverywhere(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            try await client.register("bob")
            let pairs = [try await client.login("alice"), try await client.login("alice")]
            let bob = try await client.login("bob")
            #expect(try await client.delete("/auth/sessions", token: pairs[0].accessToken).status == .noContent)
            for pair in pairs { #expect(try await client.refreshResponse(pair.refreshToken).status == .unauthorized) }
            #expect(try await client.sessions(pairs[1].accessToken).isEmpty)
            #expect(try await client.refreshResponse(bob.refreshToken).status == .ok)
        }
    }

    @Test("password change: a new session for this client, every other ended, the old password refused", arguments: Engine.allCases)
    func passwordChange(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let other = try await client.login("alice")
            let mine = try await client.login("alice")
            let response = try await client.post(
                "/auth/password",
                token: mine.accessToken,
                json: PasswordChangeRequest(currentPassword: "correct-horse", newPassword: "battery-staple-2")
            )
            #expect(response.status == .ok, "\(response.text)")
            let fresh: TokenPair = try response.decode()
            #expect(try await client.refreshResponse(other.refreshToken).status == .unauthorized)
            #expect(try await client.refreshResponse(mine.refreshToken).status == .unauthorized, "the old session of this client ended too")
            let listed = try await client.sessions(fresh.accessToken)
            #expect(listed.count == 1 && listed.first?.current == true)
            #expect(try await client.refreshResponse(fresh.refreshToken).status == .ok)
            #expect(try await client.loginResponse("alice", "correct-horse").status == .unauthorized)
            #expect(try await client.loginResponse("alice", "battery-staple-2").status == .ok)
        }
    }

    @Test("password change: a wrong current password is 401 and counts as a failed login; a bad new one is 400", arguments: Engine.allCases)
    func passwordChangeRefused(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let pair = try await client.login("alice")
            let short = try await client.post(
                "/auth/password",
                token: pair.accessToken,
                json: PasswordChangeRequest(currentPassword: "correct-horse", newPassword: "short")
            )
            #expect(short.status == .badRequest)
            #expect(short.error?.details?["newPassword"] != nil)
            for _ in 0..<4 {
                let wrong = try await client.post(
                    "/auth/password",
                    token: pair.accessToken,
                    json: PasswordChangeRequest(currentPassword: "not-the-password", newPassword: "battery-staple-2")
                )
                #expect(wrong.status == .unauthorized)
                #expect(wrong.error?.name == "AuthenticationError")
            }
            #expect(try await client.loginResponse("alice", "wrong-password").status == .unauthorized, "the fifth failure")
            #expect(try await client.loginResponse("alice", "correct-horse").status == .tooManyRequests, "four wrong current passwords counted")
            #expect(try await client.refreshResponse(pair.refreshToken).status == .ok, "a refused change ends nothing")
        }
    }

    @Test("a user has at most 20 live sessions: the 25th login has ended the five oldest", arguments: Engine.allCases)
    func boundedSessions(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            var pairs: [TokenPair] = []
            for _ in 0..<25 { pairs.append(try await client.login("alice")) }
            let live = try await client.sessions(pairs[24].accessToken)
            #expect(live.count == SessionLimits().maxLivePerUser)
            for pair in pairs.prefix(5) { #expect(try await client.refreshResponse(pair.refreshToken).status == .unauthorized) }
            #expect(try await client.refreshResponse(pairs[5].refreshToken).status == .ok)
        }
    }
}
