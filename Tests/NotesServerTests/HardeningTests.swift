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
import TestSupport
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
            UserAccount(id: UUID(), username: "alice", passwordHash: try await hasher.hash("abcdefgh"), admin: false, createdAt: Date()),
            logger: testLogger
        )
        try await withApp(config) { client async throws in
            #expect(try await client.loginResponse("alice", "abcdefgh\u{0}anything").status == .unauthorized)
            #expect(try await client.loginResponse("alice", "abcdefgh").status == .ok)
        }
    }

    /// Header fields after `alg` and `kid`, and what the server answers a token signed
    /// correctly with them: only `typ: JWT` (or none) without `crit` gets through.
    @Test(
        "a token of another typ, or with crit, is refused; typ JWT is accepted",
        arguments: [
            (#","typ":"at+jwt""#, "invalid token type"), (#","typ":"JWT","crit":["exp"]"#, "invalid token type"),
            (#","typ":"JWT""#, nil), ("", nil),
        ]
    )
    func typAndCrit(extra: String, refusal: String?) async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let kid = await Forger.hs256().kid
            // Made by hand (JWTKit always writes typ JWT and no crit), signed with the real secret.
            let signingInput = b64url(#"{"alg":"HS256","kid":"\#(kid)"\#(extra)}"#) + "." + b64url(try claimsJSON(.valid(for: user)))
            let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(testSecret.utf8)))
            let response = try await client.get("/me", token: signingInput + "." + b64url(Data(signature)))
            if let refusal {
                #expect(response.status == .unauthorized)
                #expect(response.error?.message == refusal)
            } else {
                #expect(response.status == .ok, "\(response.text)")
            }
        }
    }

    @Test("usernames that cannot exist share one throttle bucket")
    func invalidNamesShareABucket() async throws {
        try await withApp { client in
            for i in 0..<5 { _ = try await client.loginResponse("Invalid Name \(i)", "whatever-pass") }
            let sixth = try await client.loginResponse("another bad name!", "whatever-pass")
            #expect(sixth.status == .tooManyRequests)
            try await client.register("alice")
            #expect(try await client.loginResponse("alice", "correct-horse").status == .ok)
        }
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

    /// Session families and refresh tokens stored under `config`'s data directory.
    func sessionRows(_ config: ServerConfiguration) async throws -> (families: Int, tokens: Int) {
        let database = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite")
        return try await database.writer.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sessionFamilies") ?? -1,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM refreshTokens") ?? -1
            )
        }
    }

    @Test("a login deletes the user's expired and revoked sessions with their tokens")
    func sessionCleanup() async throws {
        var shortLived = try testConfiguration()
        shortLived.refreshTokenTTL = 60
        let config = shortLived
        let clock = TestClock()
        try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            let first = try await client.login("alice")
            _ = try await client.login("alice")
            _ = try await client.post("/auth/logout", json: RefreshRequest(refreshToken: first.refreshToken))
            clock.advance(61)
            #expect(try await sessionRows(config).families == 2, "before the login: the revoked and the expired family")
            _ = try await client.login("alice")
        }
        let rows = try await sessionRows(config)
        #expect(rows.families == 1, "only the live session is left")
        #expect(rows.tokens == 1)
    }

    @Test("the sweeper's query deletes ended sessions and keeps live ones")
    func sweepEnded() async throws {
        var config = try testConfiguration()
        config.refreshTokenTTL = 60
        let clock = TestClock()
        try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
            for name in ["alice", "bob", "carol"] { try await client.register(name) }
            let revoked = try await client.login("alice")
            _ = try await client.post("/auth/logout", json: RefreshRequest(refreshToken: revoked.refreshToken))
            _ = try await client.login("bob")
            clock.advance(30)
            _ = try await client.login("carol")
        }
        let database = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite")
        // At t=60: bob's family (from t=0) has ended, carol's (from t=30) has not.
        let deleted = try await database.storage.sessions.deleteEnded(at: clock.now().addingTimeInterval(30), logger: testLogger)
        #expect(deleted == 2, "alice's revoked family and bob's expired one")
        #expect(try await sessionRows(config).families == 1)
    }

    @Test("token lifetimes are capped at ten years")
    func ttlCap() throws {
        var config = try testConfiguration()
        config.refreshTokenTTL = ServerConfiguration.maxTTL + 1
        #expect(throws: ConfigurationError.self) { try config.validate() }
        config.refreshTokenTTL = Int.max  // would overflow milliseconds at the first login
        #expect(throws: ConfigurationError.self) { try config.validate() }
        config.refreshTokenTTL = ServerConfiguration.maxTTL
        #expect(throws: Never.self) { try config.validate() }
    }
}
