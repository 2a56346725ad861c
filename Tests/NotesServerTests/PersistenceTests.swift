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

@Suite("Restarts, generated keys and seeds")
struct PersistenceTests {
    @Test(
        "a restart on the same data dir keeps users, notes, refresh sessions and the generated key",
        arguments: [JWTAlgorithmName.rs256, .es256, .edDSA]
    )
    func restart(algorithm: JWTAlgorithmName) async throws {
        let config = try testConfiguration(algorithm)
        let (pair, note) = try await withApp(config) { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "survives")
            return (try await client.login("alice"), note)
        }
        let key = try await Forger.keptRow(config)
        #expect(!FileManager.default.fileExists(atPath: config.dataDirectory + "/keys"), "keys live in the database, not in files")
        try await withApp(config) { client in
            #expect(try await client.get("/me", token: pair.accessToken).status == .ok, "a token from before the restart still verifies")
            let shown: Note = try await client.get("/notes/\(note.id)", token: pair.accessToken).decode()
            #expect(shown == note)
            #expect(try await client.post("/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken)).status == .ok)
        }
        #expect(try await Forger.keptRow(config) == key, "the same key signs after the restart")
    }

    @Test("the database that holds the key ring is 0600 in a 0700 folder, and no key file is written")
    func keyFileModes() async throws {
        let config = try testConfiguration(.rs256)
        try await withApp(config) { client in _ = try await client.get("/health") }
        let databaseMode = try FileManager.default.attributesOfItem(atPath: config.dataDirectory + "/notes.sqlite")[.posixPermissions] as? Int
        #expect(databaseMode == 0o600)
        let key = try await Forger.keptRow(config)
        #expect(key.algorithm == "RS256" && key.state == .current && key.privateKeyPEM.hasPrefix("-----BEGIN"))
        #expect(!FileManager.default.fileExists(atPath: config.dataDirectory + "/keys"))
    }

    @Test("a configured PEM key is used as given and nothing is generated")
    func configuredKey() async throws {
        let folder = try temporaryDirectory()
        let pem = try SigningKey.generatePEM(.es256)
        try Data(pem.utf8).write(to: URL(fileURLWithPath: folder + "/key.pem"))
        var config = try testConfiguration(.es256)
        config.jwtPrivateKeyPath = folder + "/key.pem"
        try await withApp(config) { client in
            let jwks = try await client.get("/.well-known/jwks.json")
            let expected = try await SigningKey.asymmetric(.es256, pem: pem).kid
            #expect(jwks.text.contains(expected))
        }
        #expect(!FileManager.default.fileExists(atPath: config.dataDirectory + "/keys"))
    }

    @Test("the demo seeds load, and loading them twice changes nothing")
    func seedsIdempotent() async throws {
        var config = try testConfiguration()
        config.seedFile = try seedsPath()
        let first = try await withApp(config) { client in try await Self.snapshot(client) }
        let second = try await withApp(config) { client in try await Self.snapshot(client) }
        #expect(first == second)
        #expect(first.users == ["admin", "alice", "bob"])
        #expect(first.notes >= 12)
    }

    static func snapshot(_ client: any TestClientProtocol) async throws -> Snapshot {
        let seeds = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try seedsPath()))) as? [String: Any]
        let seedUsers = try #require(seeds?["users"] as? [[String: Any]])
        var total = 0
        var adminToken = ""
        for user in seedUsers {
            let name = try #require(user["username"] as? String)
            let pair = try await client.login(name, try #require(user["password"] as? String))
            if user["admin"] as? Bool == true { adminToken = pair.accessToken }
            let page: Page<Note> = try await client.get("/notes?limit=100", token: pair.accessToken).decode()
            total += page.items.count
        }
        let users: [User] = try await client.get("/users", token: adminToken).decode()
        return Snapshot(users: users.map(\.username).sorted(), notes: total)
    }

    struct Snapshot: Equatable, Sendable {
        var users: [String]
        var notes: Int
    }
}

/// The repository's Seeds/demo.json.
func seedsPath() throws -> String {
    repositoryRoot() + "/Seeds/demo.json"
}
