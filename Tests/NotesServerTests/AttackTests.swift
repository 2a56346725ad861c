import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

/// A token made by hand from a raw payload, signed with the test server's real HS256 secret.
func handMadeToken(payload: String) async -> String {
    let kid = await Forger.hs256().kid
    let signingInput = b64url(#"{"alg":"HS256","typ":"JWT","kid":"\#(kid)"}"#) + "." + b64url(payload)
    let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(testSecret.utf8)))
    return signingInput + "." + b64url(Data(signature))
}

/// Findings of the outside review (issue 9's table), one test each.
@Suite("Attack probes: hostile numbers, non-canonical tokens, huge notes")
struct AttackTests {
    static func payload(_ user: User, exp: String, nbf: String? = nil) -> String {
        let now = Int(Date().timeIntervalSince1970)
        let notBefore = nbf.map { #","nbf":\#($0)"# } ?? ""
        return
            #"{"sub":"\#(user.id.uuidString)","name":"\#(user.username)","admin":false,"iss":"notes-server","aud":"notes-client","iat":\#(now),"exp":\#(exp),"jti":"x"\#(notBefore)}"#
    }

    @Test("row 3: exp -1e300 or nbf 1e300, signed with the server's own key, is a 401 with a clamped date, never a crash")
    func hostileTimes() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let expired = try await client.get("/me", token: await handMadeToken(payload: Self.payload(user, exp: "-1e300")))
            #expect(expired.status == .unauthorized)
            #expect(expired.error?.name == "TokenExpiredError")
            #expect(expired.text.contains(#""expiredAt":-9223372036854775808"#), "\(expired.text)")
            let future = Int(Date().timeIntervalSince1970) + 900
            let early = try await client.get("/me", token: await handMadeToken(payload: Self.payload(user, exp: "\(future)", nbf: "1e300")))
            #expect(early.status == .unauthorized)
            #expect(early.error?.name == "NotBeforeError")
            #expect(early.text.contains(#""date":9223372036854775807"#), "\(early.text)")
            #expect(try await client.get("/health").status == .ok, "the server lives on")
        }
    }

    @Test("row 12: only canonical base64url: padding, or flipped unused bits in the signature, is refused")
    func canonicalBase64() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let future = Int(Date().timeIntervalSince1970) + 900
            let token = await handMadeToken(payload: Self.payload(user, exp: "\(future)"))
            #expect(try await client.get("/me", token: token).status == .ok, "the control: the token itself is good")
            // An HMAC-SHA256 signature is 32 bytes: 43 characters, the last carrying 2 unused bits.
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let last = try #require(token.last)
            let index = try #require(alphabet.firstIndex(of: last))
            let flipped = String(token.dropLast()) + String(alphabet[index ^ 1])
            for variant in [token + "==", token + "=", flipped] {
                let response = try await client.get("/me", token: variant)
                #expect(response.status == .unauthorized, "\(variant.suffix(6))")
                #expect(response.error?.name == "JsonWebTokenError")
            }
        }
    }

    @Test("row 2: byte caps beside the character caps; a title or body within characters but over bytes is 400")
    func byteCaps() async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            // 200 Characters, each an e with five combining marks: 11 bytes each.
            let heavyTitle = String(repeating: "e\u{301}\u{302}\u{303}\u{304}\u{305}", count: 200)
            #expect(heavyTitle.count == 200)
            let title = try await client.post("/notes", token: token, json: NoteInput(title: heavyTitle))
            #expect(title.status == .badRequest)
            #expect(title.error?.details?["title"]?.contains("bytes") == true)
            let heavyBody = String(repeating: "🙂", count: 100_000)
            let body = try await client.post("/notes", token: token, json: NoteInput(title: "smiles", body: heavyBody))
            #expect(body.status == .badRequest)
            #expect(body.error?.details?["body"]?.contains("bytes") == true)
            let fits = String(repeating: "🙂", count: NotesLimits.maxBodyBytes / 4)
            #expect(try await client.post("/notes", token: token, json: NoteInput(title: "fits", body: fits)).status == .created)
        }
    }

    @Test("row 2: a page stops before its byte budget, and its cursor continues without repeats or gaps", arguments: Engine.allCases)
    func pageBudget(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let big = String(repeating: "🙂", count: 62_500)  // 250,000 bytes
            var created: [UUID] = []
            for index in 0..<6 { created.append(try await client.createNote(token, title: "big \(index)", body: big).id) }
            var seen: [UUID] = []
            var sizes: [Int] = []
            var cursor: String?
            repeat {
                let path = "/notes?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page: Page<Note> = try await client.get(path, token: token).decode()
                sizes.append(page.items.count)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil && sizes.count < 10
            #expect(sizes == [4, 2], "1 MiB holds four 250 KB notes")
            #expect(seen == created.reversed())
        }
    }

    @Test("row 2: at the storage level a page is cut at the budget inside the database", arguments: Engine.allCases)
    func storageBudget(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await StorageConformanceTests.user(storage)
            for index in 0..<5 {
                _ = try await storage.notes.create(
                    StorageConformanceTests.note(alice.id, "n\(index)", body: String(repeating: "y", count: 200_000)),
                    logger: testLogger
                )
            }
            var query = NoteQuery(limit: 5)
            query.byteBudget = 500_000
            let listing = try await storage.notes.list(ownerID: alice.id, query: query, logger: testLogger)
            #expect(listing.fetched == 5)
            #expect(listing.notes.map(\.title) == ["n4", "n3", "n2"], "rows starting within the budget; the third crosses it")
            query.byteBudget = 1
            #expect(try await storage.notes.list(ownerID: alice.id, query: query, logger: testLogger).notes.count == 1, "the first row always comes")
        }
    }
}

@Suite("Attack probes: private files behind symbolic links")
struct SymlinkTests {
    static func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    /// A world-readable file elsewhere, which a link will point to.
    static func bait() throws -> String {
        let path = try temporaryDirectory() + "/bait"
        _ = FileManager.default.createFile(atPath: path, contents: Data("not a key".utf8), attributes: [.posixPermissions: 0o644])
        return path
    }

    func refusal(_ config: ServerConfiguration) async -> String? {
        do {
            _ = try await buildApplication(configuration: config)
            return nil
        } catch {
            return (error as? ConfigurationError)?.description ?? "\(error)"
        }
    }

    @Test("row 14: a key file replaced by a symbolic link is refused, and its target keeps its mode")
    func keyFileLink() async throws {
        let config = try testConfiguration(.rs256)
        let keys = config.dataDirectory + "/keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        let target = try Self.bait()
        try FileManager.default.createSymbolicLink(atPath: keys + "/rs256-planted.pem", withDestinationPath: target)
        let message = try #require(await refusal(config))
        #expect(message.contains("is a symbolic link"), "\(message)")
        #expect(try Self.mode(target) == 0o644)
    }

    @Test("row 14: a keys folder replaced by a symbolic link is refused, and its target keeps its mode")
    func keyFolderLink() async throws {
        let config = try testConfiguration(.es256)
        let target = try temporaryDirectory()
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target)
        try FileManager.default.createSymbolicLink(atPath: config.dataDirectory + "/keys", withDestinationPath: target)
        let message = try #require(await refusal(config))
        #expect(message.contains("is a symbolic link"), "\(message)")
        #expect(try Self.mode(target) == 0o755)
    }

    @Test("row 14: a database file replaced by a symbolic link is refused, and its target keeps its mode")
    func databaseLink() async throws {
        let config = try testConfiguration()
        let target = try Self.bait()
        try FileManager.default.createSymbolicLink(atPath: config.dataDirectory + "/notes.sqlite", withDestinationPath: target)
        let message = try #require(await refusal(config))
        #expect(message.contains("is a symbolic link"), "\(message)")
        #expect(try Self.mode(target) == 0o644)
    }
}
