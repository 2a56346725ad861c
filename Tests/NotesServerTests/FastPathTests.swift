import Foundation
import HTTPTypes
import HummingbirdTesting
import JWTKit
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

@Suite("Fast paths answer exactly what the slow paths answered")
struct FastPathTests {
    @Test("the Bearer header is read as before: scheme in any case, blanks around, other schemes and empty tokens refused")
    func bearerHeader() {
        let cases: [(String, String?)] = [
            ("Bearer abc.def.ghi", "abc.def.ghi"),
            ("bearer abc", "abc"),
            ("BEARER abc", "abc"),
            ("  Bearer   abc  ", "abc"),
            ("\tBearer \tabc\t", "abc"),
            ("Bearer", nil),
            ("Bearer    ", nil),
            ("Basic abc", nil),
            ("Bearerabc", nil),
            ("Bearer\tabc", nil),
            ("Bearer a b", "a b"),
            ("", nil),
            // Not printable ASCII: the Unicode-aware path, which also trims U+00A0.
            ("Bearer \u{00A0}abc\u{00A0}", "abc"),
            ("Bearer ab\u{00E9}", "ab\u{00E9}"),
            ("B\u{00E9}arer abc", nil),
        ]
        for (header, expected) in cases {
            #expect(JWTAuthenticator.bearerToken(header) == expected, "\(header.debugDescription)")
            #expect(JWTAuthenticator.unicodeBearerToken(header) == expected, "\(header.debugDescription)")
        }
    }

    @Test("base64url round-trips every length and refuses padding, other characters and impossible lengths")
    func base64URL() {
        for length in 0..<40 {
            let data = Data((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
            let text = data.base64URLEncoded
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            let foundation = data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            #expect(text == foundation.replacingOccurrences(of: "=", with: ""))
            #expect(Data(base64URLEncoded: text) == data)
        }
        #expect(Data(base64URLEncoded: "") == Data())
        #expect(Data(base64URLEncoded: "QQ==") == nil)
        #expect(Data(base64URLEncoded: "Q") == nil)
        #expect(Data(base64URLEncoded: "QU+B") == nil)
        #expect(Data(base64URLEncoded: "QU B") == nil)
        #expect(Data(base64URLEncoded: "QUé") == nil)
        // Unused bits are ignored by decoding, as Foundation ignores them; the canonical check
        // of access tokens refuses such a spelling.
        #expect(Data(base64URLEncoded: "QR") == Data([0x41]))
        #expect(AccessTokens.isCanonicalBase64URL("QQ"))
        #expect(!AccessTokens.isCanonicalBase64URL("QR"))
    }

    @Test("stored tags are read back exactly, the simple form directly and anything else through JSONDecoder")
    func tagsColumn() throws {
        for tags in [[], ["a"], ["work", "home-1", "x_y"], [String](repeating: "t", count: 20)] {
            let json = String(decoding: try JSONEncoder().encode(tags), as: UTF8.self)
            #expect(try NoteRow.tags(fromJSON: json) == tags)
        }
        #expect(try NoteRow.tags(fromJSON: #"[ "a" , "b" ]"#) == ["a", "b"])
        #expect(try NoteRow.tags(fromJSON: #"["a\"b"]"#) == ["a\"b"])
        #expect(try NoteRow.tags(fromJSON: #"[""]"#) == [""])
        #expect(try NoteRow.tags(fromJSON: #"["é"]"#) == ["é"])
        // Whatever the fast path does not take, JSONDecoder answers, as it did before.
        #expect(try NoteRow.tags(fromJSON: #"["a",]"#) == (try JSONDecoder().decode([String].self, from: Data(#"["a",]"#.utf8))))
        #expect(throws: (any Error).self) { try NoteRow.tags(fromJSON: "not json") }
    }

    static func token(exp: Double, nbf: Double? = nil) -> String {
        var payload = #"{"exp":\#(exp)"#
        if let nbf { payload += #","nbf":\#(nbf)"# }
        payload += "}"
        return "eyJhbGciOiJIUzI1NiJ9." + Data(payload.utf8).base64URLEncoded + ".c2ln"
    }

    static let alice = AuthenticatedUser(id: UUID(), username: "alice", admin: false, sessionID: UUID())

    @Test("the verified-token cache answers only within the token's exp and nbf, with the clock tolerance")
    func cacheTimes() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let cache = VerifiedTokenCache(clockTolerance: 0)
        let token = Self.token(exp: 1_000_100, nbf: 999_900)
        cache.insert(token, user: Self.alice, at: now)
        #expect(cache.user(for: token, at: now) == Self.alice)
        #expect(cache.user(for: token, at: now.addingTimeInterval(99)) == Self.alice)
        #expect(cache.user(for: token, at: now.addingTimeInterval(100)) == nil)
        #expect(cache.user(for: token, at: now.addingTimeInterval(-101)) == nil)
        #expect(cache.user(for: token + "x", at: now) == nil)

        let tolerant = VerifiedTokenCache(clockTolerance: 30)
        tolerant.insert(token, user: Self.alice, at: now)
        #expect(tolerant.user(for: token, at: now.addingTimeInterval(129)) == Self.alice)
        #expect(tolerant.user(for: token, at: now.addingTimeInterval(130)) == nil)
        #expect(tolerant.user(for: token, at: now.addingTimeInterval(-130)) == Self.alice)
        #expect(tolerant.user(for: token, at: now.addingTimeInterval(-131)) == nil)

        cache.removeAll()
        #expect(cache.user(for: token, at: now) == nil)
        // A token whose payload has no readable exp is never stored.
        cache.insert("a.b.c", user: Self.alice, at: now)
        #expect(cache.count == 0)
    }

    @Test("the verified-token cache stays within its capacity, dropping expired entries first, then the oldest")
    func cacheBound() {
        let now = Date(timeIntervalSince1970: 1_000_000)
        let cache = VerifiedTokenCache(capacity: 8, clockTolerance: 0)
        let expired = Self.token(exp: 1_000_001)
        cache.insert(expired, user: Self.alice, at: now)
        let later = now.addingTimeInterval(10)
        let tokens = (0..<20).map { Self.token(exp: 2_000_000 + Double($0)) }
        for token in tokens {
            cache.insert(token, user: Self.alice, at: later)
            #expect(cache.count <= 8)
        }
        #expect(cache.user(for: tokens.last ?? "", at: later) == Self.alice)
        #expect(cache.user(for: tokens[0], at: later) == nil)
        #expect(cache.user(for: expired, at: now) == nil)
    }

    @Test("a cached token stops working at its exp, with TokenExpiredError, like an uncached one")
    func cachedTokenExpires() async throws {
        let clock = TestClock()
        var config = try testConfiguration()
        config.accessTokenTTL = 60
        try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
            try await client.register("alice")
            let token = try await client.login("alice").accessToken
            #expect(try await client.get("/me", token: token).status == .ok)
            #expect(try await client.get("/me", token: token).status == .ok)
            clock.advance(60)
            let expired = try await client.get("/me", token: token)
            #expect(expired.status == .unauthorized)
            #expect(expired.error?.name == "TokenExpiredError")
        }
    }

    static func foundationJSON(_ value: some Encodable) throws -> String {
        String(decoding: try NotesJSON.encoder().encode(value), as: UTF8.self)
    }

    static func wireJSON(_ value: some Encodable) -> String? {
        WireJSON.encode(value).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("notes, pages and users are written byte for byte as Foundation's encoder writes them")
    func wireJSONMatchesFoundation() throws {
        var every = ""
        for value in 0..<0x80 { every.unicodeScalars.append(Unicode.Scalar(UInt8(value))) }
        every += "\u{7F}\u{80}\u{A0}\u{2028}\u{2029}\u{FEFF}é😀👩‍👩‍👧/\\\""
        let dates: [TimeInterval] = [
            0, 0.999, 59, 86_399.5, 951_782_400, 951_868_800, 1_700_000_000.123, 4_107_542_400, 4_107_456_000,
            253_402_300_799.999, 253_402_300_800, -0.5, -86_400 * 400, 1e12,
        ]
        var generator = SystemRandomNumberGenerator()
        var notes: [Note] = []
        for (index, interval) in dates.enumerated() {
            notes.append(
                Note(
                    id: UUID(),
                    title: index == 0 ? every : "title \(index)",
                    body: index == 1 ? every : String(repeating: "body / \"x\" ", count: index),
                    tags: Array(["a", "b-1", "c_2"].prefix(index % 4)),
                    createdAt: Date(timeIntervalSince1970: interval),
                    updatedAt: Date(timeIntervalSince1970: Double(Int64.random(in: 0...253_402_300_799_999, using: &generator)) / 1000),
                    version: index * 7 + 1
                )
            )
        }
        for day in stride(from: 0, to: 2_932_897, by: 997) {
            let date = Date(timeIntervalSince1970: Double(day) * 86_400 + Double(day % 86_400))
            notes.append(Note(id: UUID(), title: "t", body: "", tags: [], createdAt: date, updatedAt: date, version: 1))
        }
        for note in notes {
            #expect(Self.wireJSON(note) == (try Self.foundationJSON(note)))
        }
        let pages = [
            Page(items: notes, nextCursor: "abc.def"), Page(items: [], nextCursor: nil), Page(items: Array(notes.prefix(3)), nextCursor: nil),
        ]
        for page in pages {
            #expect(Self.wireJSON(page) == (try Self.foundationJSON(page)))
        }
        for user in [
            User(id: UUID(), username: "alice", admin: true, createdAt: Date()),
            User(id: UUID(), username: "b.o_b-", admin: false, createdAt: Date(timeIntervalSince1970: 0)),
        ] {
            #expect(Self.wireJSON(user) == (try Self.foundationJSON(user)))
        }
        #expect(Self.wireJSON(HealthStatus(status: "ok")) == nil)
        #expect(Self.wireJSON([User]()) == nil)
    }
}
