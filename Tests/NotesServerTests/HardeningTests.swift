import Crypto
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

@Suite("Hardening: the limits an attacker meets")
struct HardeningTests {
    @Test("a password is never matched up to a NUL only, at login")
    func nulPassword() async throws {
        let config = try testConfiguration()
        // A hash whose password is "abcdefgh"; the attacker sends "abcdefgh\0anything".
        let database = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite")
        let hasher = try await PasswordHasher(cost: 4)
        try await database.storage.users.create(
            UserAccount(id: UUID(), username: "alice", passwordHash: try await hasher.hash("abcdefgh"), admin: false, createdAt: Date())
        )
        try await withApp(config) { client async throws in
            #expect(try await client.loginResponse("alice", "abcdefgh\u{0}anything").status == .unauthorized)
            #expect(try await client.loginResponse("alice", "abcdefgh").status == .ok)
        }
    }

    @Test("a token of another typ, or with crit, is refused", arguments: [#""typ":"at+jwt""#, #""typ":"JWT","crit":["exp"]"#])
    func typAndCrit(extra: String) async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let forger = await Forger.hs256()
            let claims = try claimsJSON(AccessClaims.valid(for: user))
            let header = b64url(#"{"alg":"HS256","kid":"\#(forger.kid)",\#(extra)}"#)
            let signingInput = header + "." + b64url(claims)
            let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(testSecret.utf8)))
            let token = signingInput + "." + b64url(Data(signature))
            let response = try await client.get("/me", token: token)
            #expect(response.status == .unauthorized)
            #expect(response.error?.message == "invalid token type")
        }
    }

    @Test("the same hand-made token with typ JWT is accepted (the check above can fail)")
    func handMadeTokenAccepted() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let forger = await Forger.hs256()
            let claims = try claimsJSON(AccessClaims.valid(for: user))
            let header = b64url(#"{"alg":"HS256","kid":"\#(forger.kid)","typ":"JWT"}"#)
            let signingInput = header + "." + b64url(claims)
            let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(testSecret.utf8)))
            #expect(try await client.get("/me", token: signingInput + "." + b64url(Data(signature))).status == .ok)
        }
    }

    @Test("usernames that cannot exist share one throttle bucket")
    func invalidNamesShareABucket() async throws {
        let throttle = LoginThrottle(now: { Date() })
        for i in 0..<5 { #expect(await throttle.begin(username: LoginThrottle.invalidNameKey) == nil, "attempt \(i)") }
        #expect(await throttle.begin(username: LoginThrottle.invalidNameKey) != nil)
        try await withApp { client in
            for i in 0..<5 { _ = try await client.loginResponse("Invalid Name \(i)", "whatever-pass") }
            let sixth = try await client.loginResponse("another bad name!", "whatever-pass")
            #expect(sixth.status == .tooManyRequests)
            try await client.register("alice")
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok)
        }
    }

    @Test("a full throttle refuses new names instead of forgetting tracked ones")
    func throttleCapacity() async {
        let clock = TestClock()
        let throttle = LoginThrottle(capacity: 3, now: clock.now)
        for name in ["a", "b", "c"] { #expect(await throttle.begin(username: name) == nil) }
        #expect(await throttle.begin(username: "d") != nil)
        #expect(await throttle.begin(username: "a") == nil, "a tracked name still counts")
        clock.advance(15 * 60)
        #expect(await throttle.begin(username: "d") == nil, "ended windows make room")
    }

    @Test("hashing past the queue bound is refused at once with 429")
    func boundedHashing() async throws {
        let counter = QueueCounter()
        #expect(counter.enter(limit: 2) && counter.enter(limit: 2))
        #expect(!counter.enter(limit: 2))
        counter.leave()
        #expect(counter.enter(limit: 2))
        let hasher = try await PasswordHasher(cost: 4, maxQueued: 0)
        await #expect(throws: APIError.self) { _ = try await hasher.hash("whatever-pass") }
    }

    @Test("a login deletes the user's expired and revoked sessions with their tokens")
    func sessionCleanup() async throws {
        let config = try testConfiguration()
        let clock = TestClock()
        var config2 = config
        config2.refreshTokenTTL = 60
        try await withApp(config2, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            let first = try await client.login("alice")
            _ = try await client.post("/auth/logout", json: RefreshRequest(refreshToken: first.refreshToken))
            _ = try await client.login("alice")
            clock.advance(61)
            _ = try await client.login("alice")
        }
        let database = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite")
        let (families, tokens) = try await database.writer.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sessionFamilies") ?? -1,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM refreshTokens") ?? -1
            )
        }
        #expect(families == 1, "only the live session is left")
        #expect(tokens == 1)
    }

    @Test("the sweeper's query deletes ended sessions and keeps live ones")
    func sweepEnded() async throws {
        let config = try testConfiguration()
        let clock = TestClock()
        var shortLived = config
        shortLived.refreshTokenTTL = 60
        try await withApp(shortLived, hooks: ServerHooks(now: clock.now)) { client in
            for name in ["alice", "bob", "carol"] { try await client.register(name) }
            let revoked = try await client.login("alice")
            _ = try await client.post("/auth/logout", json: RefreshRequest(refreshToken: revoked.refreshToken))
            _ = try await client.login("bob")
            clock.advance(30)
            _ = try await client.login("carol")
        }
        let database = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite")
        // At t=60: bob's family (from t=0) has ended, carol's (from t=30) has not.
        let deleted = try await database.storage.sessions.deleteEnded(at: clock.now().addingTimeInterval(30))
        #expect(deleted == 2, "alice's revoked family and bob's expired one")
        let left = try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sessionFamilies") }
        #expect(left == 1)
    }

    @Test("token lifetimes are capped at ten years")
    func ttlCap() throws {
        var config = try testConfiguration()
        config.refreshTokenTTL = 106_751_991_167_300 * 86_400 / 1_000_000
        #expect(throws: ConfigurationError.self) { try config.validate() }
        config.refreshTokenTTL = ServerConfiguration.maxTTL
        #expect(throws: Never.self) { try config.validate() }
    }
}
