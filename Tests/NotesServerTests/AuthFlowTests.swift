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

@Suite("Register, login, refresh-token rotation and logout")
struct AuthFlowTests {
    @Test("register answers 201 with the user, never an admin, and a taken name is 409", arguments: Engine.allCases)
    func register(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let user = try await client.register("alice")
            #expect(user.username == "alice")
            #expect(user.admin == false)
            let again = try await client.post("/auth/register", json: Credentials(username: "alice", password: "whatever-123"))
            #expect(again.status == .conflict)
            #expect(again.error?.name == "ConflictError")
        }
    }

    @Test("a wrong password and an unknown username get the same AuthenticationError", arguments: Engine.allCases)
    func wrongCredentials(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let wrong = try await client.loginResponse("alice", "not-the-password")
            let unknown = try await client.loginResponse("nobody", "not-the-password")
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.error?.name == "AuthenticationError")
            #expect(wrong.error?.message == unknown.error?.message)
            #expect(wrong.headers[.wwwAuthenticate] == #"Bearer realm="notes""#)
        }
    }

    @Test("the stored password is a bcrypt hash at the configured cost", arguments: Engine.allCases)
    func bcryptStored(engine: Engine) async throws {
        let config = try await testConfiguration(engine: engine)
        _ = try await withApp(config) { client in try await client.register("alice", "correct-horse") }
        let stored = try await withStorage(config: config) { storage in try await storage.users.find(username: "alice", logger: testLogger) }
        let account = try #require(stored)
        #expect(account.passwordHash.hasPrefix("$2b$04$"))
        #expect(!account.passwordHash.contains("correct-horse"))
    }

    @Test("after a bcrypt cost change, a login moves the stored hash to the new cost", arguments: Engine.allCases)
    func rehashOnLogin(engine: Engine) async throws {
        var config = try await testConfiguration(engine: engine)
        _ = try await withApp(config) { client in try await client.register("alice", "correct-horse") }
        config.bcryptCost = 5
        try await withApp(config) { client in
            #expect(try await client.loginResponse("alice", "wrong-password").status == .unauthorized)
            _ = try await client.login("alice", "correct-horse")
        }
        let stored = try await withStorage(config: config) { storage in try await storage.users.find(username: "alice", logger: testLogger) }
        let account = try #require(stored)
        #expect(account.passwordHash.hasPrefix("$2b$05$"))
        try await withApp(config) { client in _ = try await client.login("alice", "correct-horse") }
    }

    @Test("login answers a token pair whose refresh token is opaque and at least 256 bits", arguments: Engine.allCases)
    func loginPair(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let pair = try await client.login("alice")
            #expect(pair.refreshExpiresIn == 30 * 86_400 || pair.refreshExpiresIn == 30 * 86_400 - 1)
            let raw = try #require(Data(base64URLEncoded: pair.refreshToken))
            #expect(raw.count >= 32)
            #expect(!pair.refreshToken.contains("."))
        }
    }

    @Test("refresh rotates: the new pair works, and the old refresh token is spent", arguments: Engine.allCases)
    func rotation(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let first = try await client.login("alice")
            let refreshed = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: first.refreshToken))
            #expect(refreshed.status == .ok)
            let second: TokenPair = try refreshed.decode()
            #expect(second.refreshToken != first.refreshToken)
            #expect(try await client.get("/me", token: second.accessToken).status == .ok)
            let third = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: second.refreshToken))
            #expect(third.status == .ok)
        }
    }

    @Test("presenting a rotated refresh token revokes the whole family, descendants included", arguments: Engine.allCases)
    func reuseDetection(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let first = try await client.login("alice")
            let second: TokenPair = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: first.refreshToken)).decode()
            let reuse = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: first.refreshToken))
            #expect(reuse.status == .unauthorized)
            #expect(reuse.error?.name == "AuthenticationError")
            let descendant = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: second.refreshToken))
            #expect(descendant.status == .unauthorized, "the newest token of a revoked family must fail too")
            // Another session of the same user is not touched.
            let other = try await client.login("alice")
            #expect(try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: other.refreshToken)).status == .ok)
        }
    }

    @Test("a family's lifetime is fixed at login; rotation does not extend it", arguments: Engine.allCases)
    func fixedLifetime(engine: Engine) async throws {
        let clock = TestClock()
        var config = try await testConfiguration(engine: engine)
        config.refreshTokenTTL = 3_600
        try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            var pair = try await client.login("alice")
            #expect(pair.refreshExpiresIn == 3_600)
            clock.advance(1_000)
            pair = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken)).decode()
            #expect(pair.refreshExpiresIn == 2_600)
            clock.advance(2_600)
            let expired = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken))
            #expect(expired.status == .unauthorized)
            #expect(expired.error?.name == "AuthenticationError")
        }
    }

    @Test("an access token expires after its TTL on the server's clock", arguments: Engine.allCases)
    func accessTTL(engine: Engine) async throws {
        let clock = TestClock()
        var config = try await testConfiguration(engine: engine)
        config.accessTokenTTL = 60
        try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            let pair = try await client.login("alice")
            #expect(pair.expiresIn == 60)
            clock.advance(59)
            #expect(try await client.get("/me", token: pair.accessToken).status == .ok)
            clock.advance(1)
            let expired = try await client.get("/me", token: pair.accessToken)
            #expect(expired.error?.name == "TokenExpiredError")
            let fresh: TokenPair = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken)).decode()
            #expect(try await client.get("/me", token: fresh.accessToken).status == .ok)
        }
    }

    @Test("logout revokes the family; unknown or repeated logouts are 204 too", arguments: Engine.allCases)
    func logout(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let pair = try await client.login("alice")
            #expect(try await client.post("/auth/logout", json: RefreshRequest(refreshToken: pair.refreshToken)).status == .noContent)
            let after = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken))
            #expect(after.status == .unauthorized)
            #expect(after.error?.name == "AuthenticationError")
            #expect(try await client.post("/auth/logout", json: RefreshRequest(refreshToken: pair.refreshToken)).status == .noContent)
            #expect(try await client.post("/auth/logout", json: RefreshRequest(refreshToken: "never-issued")).status == .noContent)
        }
    }

    @Test("an unknown refresh token is AuthenticationError", arguments: Engine.allCases)
    func unknownRefresh(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let response = try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: "bm90LWEtdG9rZW4"))
            #expect(response.status == .unauthorized)
            #expect(response.error?.name == "AuthenticationError")
        }
    }

    @Test("/me answers the caller; /users is for admins only (403 otherwise)", arguments: Engine.allCases)
    func meAndUsers(engine: Engine) async throws {
        let seeds = try temporaryDirectory() + "/seeds.json"
        try Data(#"{"users":[{"username":"root","password":"root-password","admin":true}],"notes":[]}"#.utf8).write(to: URL(fileURLWithPath: seeds))
        var config = try await testConfiguration(engine: engine)
        config.seedFile = seeds
        try await withApp(config) { client in
            let alice = try await client.signUp("alice")
            let me: User = try await client.get("/me", token: alice).decode()
            #expect(me.username == "alice")
            let forbidden = try await client.get("/users", token: alice)
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.error?.name == "ForbiddenError")
            let root = try await client.login("root", "root-password").accessToken
            let users: [User] = try await client.get("/users", token: root).decode()
            #expect(users.map(\.username).sorted() == ["alice", "root"])
            #expect(users.first { $0.username == "root" }?.admin == true)
        }
    }
}

@Suite("Login throttling")
struct ThrottleTests {
    @Test("after five failures every attempt is 429 with Retry-After, even the right password", arguments: Engine.allCases)
    func lockout(engine: Engine) async throws {
        let clock = TestClock()
        try await withApp(engine: engine, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            for _ in 0..<5 {
                #expect(try await client.loginResponse("alice", "wrong-password").status == .unauthorized)
            }
            clock.advance(60)
            let locked = try await client.loginResponse("alice", "correct-horse")
            #expect(locked.status == .tooManyRequests)
            #expect(locked.error?.name == "TooManyRequestsError")
            #expect(locked.headers[.retryAfter] == String(15 * 60 - 60))
            // The window is fixed from the first failure: after it, logins work again.
            clock.advance(15 * 60 - 60)
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok)
        }
    }

    @Test("unknown usernames are counted too", arguments: Engine.allCases)
    func unknownCounted(engine: Engine) async throws {
        try await withApp(engine: engine) { client async throws in
            for _ in 0..<5 { #expect(try await client.loginResponse("ghost", "whatever-pass").status == .unauthorized) }
            #expect(try await client.loginResponse("ghost", "whatever-pass").status == .tooManyRequests)
        }
    }

    @Test("a success before the limit resets the count; other usernames are not affected", arguments: Engine.allCases)
    func successResets(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            try await client.register("bob")
            for _ in 0..<4 { _ = try await client.loginResponse("alice", "wrong-password") }
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok)
            for _ in 0..<4 { #expect(try await client.loginResponse("alice", "wrong-password").status == .unauthorized) }
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok)
            for _ in 0..<5 { _ = try await client.loginResponse("alice", "wrong-password") }
            #expect(try await client.loginResponse("bob", "correct-horse").status == .ok)
        }
    }

    @Test("30 concurrent wrong passwords: exactly 5 are checked (401), 25 are refused (429)", arguments: Engine.allCases)
    func concurrentGuesses(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<30 { group.addTask { try await client.loginResponse("alice", "wrong-password").status.code } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 401 }.count == 5, "\(statuses)")
            #expect(statuses.filter { $0 == 429 }.count == 25, "\(statuses)")
        }
    }

    @Test("six correct logins sent at the same moment all succeed", arguments: Engine.allCases)
    func concurrentCorrectLogins(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await client.loginResponse("alice", "correct-horse").status.code } }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 6))
        }
    }

    @Test("a flood of failed logins for 600 made-up names never locks out a user who has not failed", arguments: Engine.allCases)
    func floodOfNames(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            try await client.register("alice")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for index in stride(from: worker, to: 600, by: 8) {
                            let status = try await client.loginResponse("made-up-\(index)", "wrong-password").status
                            #expect(status == .unauthorized)
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok)
        }
    }

    @Test("attempts refused as busy before any password check do not count", arguments: Engine.allCases)
    func busyDoesNotCount(engine: Engine) async throws {
        let config = try await testConfiguration(engine: engine)
        _ = try await withApp(config) { client async throws in try await client.register("alice") }
        // A server whose password checks are always full: every login is 429 busy.
        let busy = try await PasswordHasher(cost: 4, maxQueued: 0)
        try await withApp(config, hasher: busy) { client async throws in
            for _ in 0..<10 {
                let response = try await client.loginResponse("alice", "correct-horse")
                #expect(response.status == .tooManyRequests)
                #expect(response.error?.message.contains("busy") == true)
            }
        }
        try await withApp(config) { client async throws in
            for _ in 0..<4 { #expect(try await client.loginResponse("alice", "wrong-password").status == .unauthorized) }
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok, "ten busy refusals counted nothing")
        }
    }

    @Test("replicas share the counts: failures on one server lock the name out on another, and a restart keeps them", arguments: Engine.allCases)
    func sharedCounts(engine: Engine) async throws {
        let config = try await testConfiguration(engine: engine)
        try await withApp(config) { client async throws in
            try await client.register("alice")
            for _ in 0..<3 { #expect(try await client.loginResponse("alice", "wrong-password").status == .unauthorized) }
        }
        try await withApp(config) { first async throws in
            try await withApp(config) { second async throws in
                #expect(try await second.loginResponse("alice", "wrong-password").status == .unauthorized)
                #expect(try await first.loginResponse("alice", "wrong-password").status == .unauthorized)
                #expect(try await second.loginResponse("alice", "correct-horse").status == .tooManyRequests)
                #expect(try await first.loginResponse("alice", "correct-horse").status == .tooManyRequests)
            }
        }
    }
}
