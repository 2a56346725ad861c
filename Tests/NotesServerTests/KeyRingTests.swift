import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NotesModels
import Synchronization
import TestSupport
import Testing

@testable import NotesServer

/// The key ring (API.md "Signing keys"): its rules, its storage on both engines, and a server
/// that rotates, retires and picks up keys another replica added.
@Suite("Key ring: rotation without logging anyone out")
struct KeyRingTests {
    static let t0: Int64 = 1_800_000_000_000
    static let minute: Int64 = 60_000

    static func key(_ name: String, _ state: KeyState, activates: Int64 = t0, retires: Int64? = nil) -> StoredSigningKey {
        StoredSigningKey(
            kid: name,
            legacyKid: nil,
            legacyUntilMs: nil,
            algorithm: "RS256",
            privateKeyPEM: "",
            state: state,
            createdAtMs: activates,
            activatesAtMs: activates,
            retiresAtMs: retires,
            retiredAtMs: nil
        )
    }

    static func applying(_ change: RingChange, to keys: [StoredSigningKey]) -> [StoredSigningKey] {
        var byKid = Dictionary(uniqueKeysWithValues: keys.map { ($0.kid, $0) })
        for key in change.updates + change.inserts { byKid[key.kid] = key }
        return byKid.values.sorted { $0.kid < $1.kid }
    }

    // MARK: Rules

    @Test("rotate: the next key is published at once and signs after the publish delay; the old key verifies until its tokens expire")
    func rotateRule() throws {
        var ring = [Self.key("a", .current)]
        let now = Self.t0 + 60 * Self.minute
        ring = Self.applying(
            KeyRingRule.rotate(ring, new: Self.key("b", .next), nowMs: now, publishDelayMs: 5 * Self.minute, retireAfterMs: 16 * Self.minute),
            to: ring
        )
        #expect(ring.map(\.state) == [.current, .next])
        #expect(KeyRingRule.signing(ring, nowMs: now)?.kid == "a")
        #expect(ring.allSatisfy { KeyRingRule.verifies($0, nowMs: now) }, "a next key verifies: another replica may switch first")
        // The switch is computed from the clock, before anyone writes it down.
        let switchAt = now + 5 * Self.minute
        #expect(KeyRingRule.signing(ring, nowMs: switchAt)?.kid == "b")
        ring = Self.applying(KeyRingRule.advance(ring, nowMs: switchAt + 1, retireAfterMs: 16 * Self.minute), to: ring)
        #expect(ring.map(\.state) == [.retiring, .current])
        #expect(ring[0].retiresAtMs == switchAt + 16 * Self.minute)
        #expect(KeyRingRule.verifies(ring[0], nowMs: switchAt + 16 * Self.minute - 1))
        #expect(!KeyRingRule.verifies(ring[0], nowMs: switchAt + 16 * Self.minute))
        ring = Self.applying(KeyRingRule.advance(ring, nowMs: switchAt + 16 * Self.minute, retireAfterMs: 16 * Self.minute), to: ring)
        #expect(ring.map(\.state) == [.retired, .current])
        #expect(KeyRingRule.advance(ring, nowMs: switchAt + 17 * Self.minute, retireAfterMs: 16 * Self.minute).isEmpty)
    }

    @Test("rotate --now switches at once, with exactly one current key")
    func rotateNowRule() throws {
        let ring = [Self.key("a", .current)]
        let change = KeyRingRule.rotate(ring, new: Self.key("b", .next), nowMs: Self.t0 + 1, publishDelayMs: 0, retireAfterMs: 1000)
        let after = Self.applying(change, to: ring)
        #expect(after.filter { $0.state == .current }.map(\.kid) == ["b"])
        #expect(after.first { $0.kid == "a" }?.state == .retiring)
    }

    @Test("retire: a leaked signing key is retired at once; the newest next key, or else a new key, signs in its place")
    func retireRule() throws {
        let replacement = Self.key("fresh", .next)
        let withNext = [Self.key("a", .current), Self.key("b", .next, activates: Self.t0 + 10 * Self.minute)]
        let promoted = Self.applying(try KeyRingRule.retire(withNext, kid: "a", replacement: replacement, nowMs: Self.t0 + 1), to: withNext)
        #expect(promoted.map(\.state) == [.retired, .current])
        #expect(KeyRingRule.signing(promoted, nowMs: Self.t0 + 1)?.kid == "b")
        let alone = [Self.key("a", .current)]
        let replaced = Self.applying(try KeyRingRule.retire(alone, kid: "a", replacement: replacement, nowMs: Self.t0 + 1), to: alone)
        #expect(replaced.first { $0.kid == "fresh" }?.state == .current)
        #expect(throws: KeyRingError.self) { try KeyRingRule.retire(alone, kid: "nosuch", replacement: replacement, nowMs: Self.t0) }
        let retiring = [Self.key("a", .current), Self.key("old", .retiring, retires: Self.t0 + Self.minute)]
        let change = try KeyRingRule.retire(retiring, kid: "old", replacement: replacement, nowMs: Self.t0)
        #expect(change.inserts.isEmpty && change.updates.map(\.kid) == ["old"], "retiring a key that does not sign changes nothing else")
    }

    @Test("the rotation interval adds one next key when the signing key is old enough, and none while one waits")
    func scheduledRule() {
        let ring = [Self.key("a", .current)]
        let early = KeyRingRule.scheduledRotation(
            ring,
            new: Self.key("b", .next),
            nowMs: Self.t0 + 59 * Self.minute,
            intervalMs: 60 * Self.minute,
            publishDelayMs: Self.minute,
            retireAfterMs: Self.minute
        )
        #expect(early.isEmpty)
        let due = KeyRingRule.scheduledRotation(
            ring,
            new: Self.key("b", .next),
            nowMs: Self.t0 + 60 * Self.minute,
            intervalMs: 60 * Self.minute,
            publishDelayMs: Self.minute,
            retireAfterMs: Self.minute
        )
        #expect(due.inserts.map(\.kid) == ["b"])
        let waiting = Self.applying(due, to: ring)
        #expect(
            KeyRingRule.scheduledRotation(
                waiting,
                new: Self.key("c", .next),
                nowMs: Self.t0 + 60 * Self.minute + 1,
                intervalMs: 60 * Self.minute,
                publishDelayMs: Self.minute,
                retireAfterMs: Self.minute
            ).isEmpty
        )
    }

    @Test("a date beyond what milliseconds in an Int64 hold, or NaN, is clamped, never a trap")
    func millisecondsNeverTrap() {
        #expect(Date(timeIntervalSince1970: 1e300).millisecondsSince1970 == .max)
        #expect(Date(timeIntervalSince1970: -1e300).millisecondsSince1970 == .min)
        #expect(Date(timeIntervalSince1970: .nan).millisecondsSince1970 == 0)
        #expect(Date(timeIntervalSince1970: 1.5).millisecondsSince1970 == 1_500)
    }

    // MARK: Storage, both engines

    @Test("10 servers starting at once on an empty ring: exactly one key is made current", arguments: Engine.allCases)
    func concurrentBootstrap(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let now = Date()
            let candidates = try await Array(0..<10).asyncMap { _ in try await KeyRing.newKey(.es256, now: now) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for candidate in candidates {
                    group.addTask {
                        _ = try await storage.signingKeys.change(logger: testLogger) { rows in
                            KeyRingRule.bootstrap(rows, new: candidate, nowMs: now.millisecondsSince1970)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await storage.signingKeys.all(logger: testLogger)
            #expect(rows.count == 1)
            #expect(rows.first?.state == .current)
        }
    }

    @Test("5 concurrent rotations --now: one key is current at the end, every other verifies or is retired", arguments: Engine.allCases)
    func concurrentRotations(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let now = Date()
            let first = try await KeyRing.newKey(.es256, now: now)
            _ = try await storage.signingKeys.change(logger: testLogger) { KeyRingRule.bootstrap($0, new: first, nowMs: now.millisecondsSince1970) }
            let candidates = try await Array(0..<5).asyncMap { _ in try await KeyRing.newKey(.es256, now: now) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for candidate in candidates {
                    group.addTask {
                        _ = try await storage.signingKeys.change(logger: testLogger) { rows in
                            KeyRingRule.rotate(rows, new: candidate, nowMs: now.millisecondsSince1970, publishDelayMs: 0, retireAfterMs: 60_000)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let rows = try await storage.signingKeys.all(logger: testLogger)
            #expect(rows.count == 6)
            #expect(rows.filter { $0.state == .current }.count == 1)
            #expect(rows.filter { $0.state == .retiring }.count == 5)
        }
    }

    @Test("a server secret is made once: concurrent first askers all get the one stored", arguments: Engine.allCases)
    func secretOnce(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let values = try await withThrowingTaskGroup(of: Data.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await storage.signingKeys.secret(named: "cursor", make: CursorCodec.makeSecret, logger: testLogger) }
                }
                var values: Set<Data> = []
                for try await value in group { values.insert(value) }
                return values
            }
            #expect(values.count == 1)
            #expect(values.first?.count == 32)
        }
    }

    // MARK: A server

    /// A server on `engine` with its own clock, and a second view of its database (the
    /// `notes-server keys` command, or another replica).
    static func withRingServer(
        _ engine: Engine,
        publishDelay: Int = 300,
        _ body: @Sendable (any TestClientProtocol, TestClock, KeyRing, Storage, ServerConfiguration) async throws -> Void
    ) async throws {
        var configured = try await testConfiguration(.es256, engine: engine)
        configured.keyPublishDelay = publishDelay
        let config = configured
        let clock = TestClock()
        try await withStorage(config: config) { storage in
            let admin = KeyRing(repository: storage.signingKeys, settings: KeyRing.Settings(config))
            try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
                try await body(client, clock, admin, storage, config)
            }
        }
    }

    static func kid(_ token: String) throws -> String? {
        try jsonPart(token.split(separator: ".")[0])["kid"] as? String
    }

    static func jwksKids(_ client: any TestClientProtocol) async throws -> [String] {
        let response = try await client.get("/.well-known/jwks.json")
        let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
        return (object?["keys"] as? [[String: Any]] ?? []).compactMap { $0["kid"] as? String }
    }

    @Test(
        "a rotation on another replica: its key verifies here at once (unknown kid), signs here after the publish delay, and old tokens keep verifying",
        arguments: Engine.allCases
    )
    func rotationAcrossReplicas(engine: Engine) async throws {
        try await Self.withRingServer(engine) { client, clock, _, storage, config in
            try await client.register("alice")
            let before = try await client.login("alice")
            let oldKid = try #require(try Self.kid(before.accessToken))
            let jwks = try await client.get("/.well-known/jwks.json")
            #expect(jwks.headers[.cacheControl] == "public, max-age=300")

            // Another replica rotates, and signs with the new key at once (--now there).
            let nowMs = clock.now().millisecondsSince1970
            let new = try await KeyRing.newKey(.es256, now: clock.now())
            let settings = KeyRing.Settings(config)
            _ = try await storage.signingKeys.change(logger: testLogger) { rows in
                KeyRingRule.rotate(rows, new: new, nowMs: nowMs, publishDelayMs: 0, retireAfterMs: settings.retireAfterMs)
            }
            let foreign = try await SigningKey.asymmetric(.es256, pem: new.privateKeyPEM)
            let user = try await client.get("/me", token: before.accessToken).decode(User.self)
            let minted = try await Forger(keys: foreign.keys, kid: foreign.kid).sign(.valid(for: user, now: clock.now()))
            #expect(try await client.get("/me", token: minted).status == .ok, "an unknown kid reads the ring again at once")
            #expect(try await Self.jwksKids(client).contains(new.kid))
            #expect(try Self.kid(try await client.login("alice").accessToken) == new.kid, "and this server signs with it too")
            #expect(try await client.get("/me", token: before.accessToken).status == .ok, "tokens of the old key still verify")
            #expect(try await Self.jwksKids(client).contains(oldKid))
        }
    }

    @Test(
        "keys rotate with a publish delay: the JWKS lists the next key first, tokens switch at its time; retiring keys retire on their own",
        arguments: Engine.allCases
    )
    func publishDelay(engine: Engine) async throws {
        try await Self.withRingServer(engine, publishDelay: 120) { client, clock, admin, storage, config in
            try await client.register("alice")
            let before = try await client.login("alice").accessToken
            let oldKid = try #require(try Self.kid(before))
            #expect(try await client.get("/.well-known/jwks.json").headers[.cacheControl] == "public, max-age=120")
            let settings = KeyRing.Settings(config)
            let new = try await KeyRing.newKey(.es256, now: clock.now())
            let nowMs = clock.now().millisecondsSince1970
            _ = try await storage.signingKeys.change(logger: testLogger) { rows in
                KeyRingRule.rotate(rows, new: new, nowMs: nowMs, publishDelayMs: settings.publishDelayMs, retireAfterMs: settings.retireAfterMs)
            }
            // A token of the next key (from a replica whose clock runs a little ahead) verifies,
            // and makes this server read the ring at once.
            let user = try await client.get("/me", token: before).decode(User.self)
            let next = try await SigningKey.asymmetric(.es256, pem: new.privateKeyPEM)
            #expect(
                try await client.get("/me", token: try await Forger(keys: next.keys, kid: next.kid).sign(.valid(for: user, now: clock.now()))).status
                    == .ok
            )
            #expect(try await Self.jwksKids(client) == [new.kid, oldKid], "published before it signs, newest first")
            #expect(try Self.kid(try await client.login("alice").accessToken) == oldKid, "the old key signs until the delay has passed")
            clock.advance(121)
            let after = try await client.login("alice").accessToken
            #expect(try Self.kid(after) == new.kid)
            #expect(try await client.get("/me", token: after).status == .ok)
            // The ring writes the switch down, then retires the old key once its tokens are gone.
            try await admin.maintain(now: clock.now(), logger: testLogger)
            var rows = try await storage.signingKeys.all(logger: testLogger)
            #expect(rows.first { $0.kid == oldKid }?.state == .retiring)
            #expect(rows.first { $0.kid == new.kid }?.state == .current)
            clock.advance(TimeInterval(settings.retireAfter + 1))
            try await admin.maintain(now: clock.now(), logger: testLogger)
            rows = try await storage.signingKeys.all(logger: testLogger)
            #expect(rows.first { $0.kid == oldKid }?.state == .retired)
            #expect(try await Self.jwksKids(client) == [new.kid])
            #expect(try await client.get("/me", token: before).error?.message == "invalid kid")
        }
    }

    @Test("keys retire: the retired key's tokens are refused, and a new key signs", arguments: Engine.allCases)
    func retire(engine: Engine) async throws {
        try await Self.withRingServer(engine) { client, clock, _, storage, _ in
            try await client.register("alice")
            let before = try await client.login("alice")
            let oldKid = try #require(try Self.kid(before.accessToken))
            let replacement = try await KeyRing.newKey(.es256, now: clock.now())
            let nowMs = clock.now().millisecondsSince1970
            _ = try await storage.signingKeys.change(logger: testLogger) { rows in
                try KeyRingRule.retire(rows, kid: oldKid, replacement: replacement, nowMs: nowMs)
            }
            // The server reads the ring every 10 s; a token naming the new key makes it read the
            // ring at once, so the test need not wait.
            let user = try await client.get("/me", token: before.accessToken).decode(User.self)
            let fresh = try await SigningKey.asymmetric(.es256, pem: replacement.privateKeyPEM)
            let minted = try await Forger(keys: fresh.keys, kid: fresh.kid).sign(.valid(for: user, now: clock.now()))
            #expect(try await client.get("/me", token: minted).status == .ok)
            #expect(try await client.get("/me", token: before.accessToken).error?.message == "invalid kid")
            #expect(
                try Self.kid(
                    try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: before.refreshToken)).decode(TokenPair.self).accessToken
                ) == replacement.kid
            )
        }
    }

    @Test(
        "--key-rotation-interval: a server adds the next key once the signing key is old enough, one key however often it looks",
        arguments: Engine.allCases
    )
    func rotationInterval(engine: Engine) async throws {
        var config = try await testConfiguration(.es256, engine: engine)
        config.keyPublishDelay = 60
        config.keyRotationInterval = 3_600
        let settings = KeyRing.Settings(config)
        try await withStorage(config: config) { storage in
            let clock = TestClock()
            let ring = KeyRing(repository: storage.signingKeys, settings: settings)
            try await ring.prepare(importing: [], now: clock.now(), logger: testLogger)
            let first = try #require(ring.signer(at: clock.now())?.kid)
            clock.advance(3_599)
            try await ring.maintain(now: clock.now(), logger: testLogger)
            #expect(try await storage.signingKeys.all(logger: testLogger).count == 1)
            clock.advance(1)
            try await ring.maintain(now: clock.now(), logger: testLogger)
            try await ring.maintain(now: clock.now(), logger: testLogger)
            let rows = try await storage.signingKeys.all(logger: testLogger)
            #expect(rows.count == 2)
            let next = try #require(rows.first { $0.state == .next })
            #expect(next.activatesAtMs == clock.now().millisecondsSince1970 + 60_000)
            #expect(ring.signer(at: clock.now())?.kid == first)
            clock.advance(60)
            #expect(ring.signer(at: clock.now())?.kid == next.kid, "it signs once the publish delay has passed")
        }
    }

    @Test("a cursor issued before a rotation pages after it, and after a restart", arguments: Engine.allCases)
    func cursorsSurviveRotation(engine: Engine) async throws {
        var config = try await testConfiguration(.es256, engine: engine)
        config.keyPublishDelay = 0
        let cursor: String = try await withApp(config) { client in
            let token = try await client.signUp("alice")
            for index in 0..<3 { _ = try await client.createNote(token, title: "note \(index)") }
            let page = try await client.get("/notes?limit=1", token: token).decode(Page<Note>.self)
            return try #require(page.nextCursor)
        }
        try await withStorage(config: config) { storage in
            let new = try await KeyRing.newKey(.es256, now: Date())
            _ = try await storage.signingKeys.change(logger: testLogger) { rows in
                KeyRingRule.rotate(rows, new: new, nowMs: Date().millisecondsSince1970, publishDelayMs: 0, retireAfterMs: 60_000)
            }
        }
        try await withApp(config) { client in
            let token = try await client.login("alice").accessToken
            let page = try await client.get("/notes?limit=1&cursor=\(cursor)", token: token)
            #expect(page.status == .ok, "\(page.text)")
            #expect(try page.decode(Page<Note>.self).items.first?.title == "note 1")
        }
    }
}
