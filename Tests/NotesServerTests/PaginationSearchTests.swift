import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

@Suite("Listing: keyset pages, full-text search and tag filter")
struct PaginationSearchTests {
    func allPages(_ client: any TestClientProtocol, _ token: String, query: String = "", limit: Int) async throws -> [Note] {
        var seen: [Note] = []
        var cursor: String?
        repeat {
            var path = "/notes?limit=\(limit)\(query)"
            if let cursor { path += "&cursor=\(cursor)" }
            let page: Page<Note> = try await client.get(path, token: token).decode()
            #expect(page.items.count <= limit)
            seen += page.items
            cursor = page.nextCursor
        } while cursor != nil
        return seen
    }

    @Test("pages are newest first and cover every note exactly once", arguments: Engine.allCases)
    func pages(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            var created: [Note] = []
            for i in 0..<7 { created.append(try await client.createNote(token, title: "note \(i)")) }
            let listed = try await allPages(client, token, limit: 3)
            #expect(listed.map(\.id) == created.reversed().map(\.id))
            let first: Page<Note> = try await client.get("/notes", token: token).decode()
            #expect(first.items.count == 7 && first.nextCursor == nil)
            #expect(try await client.get("/notes", token: token).text.contains("\"nextCursor\":null"))
        }
    }

    @Test("notes added while paging are never repeated and never make an older one skipped", arguments: Engine.allCases)
    func addWhilePaging(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            var older: [Note] = []
            for i in 0..<6 { older.append(try await client.createNote(token, title: "old \(i)")) }
            var seen: [UUID] = []
            var cursor: String?
            repeat {
                var path = "/notes?limit=2"
                if let cursor { path += "&cursor=\(cursor)" }
                let page: Page<Note> = try await client.get(path, token: token).decode()
                seen += page.items.map(\.id)
                cursor = page.nextCursor
                _ = try await client.createNote(token, title: "new while paging")
            } while cursor != nil
            #expect(Set(seen).count == seen.count, "a note was repeated")
            #expect(seen == older.reversed().map(\.id), "every older note, once, in order")
        }
    }

    @Test("edits do not move a note in the list", arguments: Engine.allCases)
    func editDoesNotMove(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let a = try await client.createNote(token, title: "a")
            let b = try await client.createNote(token, title: "b")
            let edited = try await client.execute(
                uri: "/notes/\(a.id)",
                method: .patch,
                headers: jsonHeaders(token),
                body: jsonBody(NotePatch(title: "a2"))
            )
            #expect(edited.status == .ok, "the edit itself succeeded: \(edited.text)")
            let page: Page<Note> = try await client.get("/notes", token: token).decode()
            #expect(page.items.map(\.id) == [b.id, a.id])
            #expect(page.items.last?.title == "a2", "the listed note is the edited one")
            #expect(page.items.last?.updatedAt ?? .distantPast >= page.items.last?.createdAt ?? .distantFuture)
        }
    }

    @Test("a cursor the server did not issue is 400", arguments: ["garbage", "MTIzLkFCQw.AAAAAAAAAAAAAAAAAAAAAA", ""])
    func forgedCursor(cursor: String) async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            let response = try await client.get("/notes?cursor=\(cursor)", token: token)
            #expect(response.status == .badRequest)
            #expect(response.error?.details?["cursor"] != nil)
        }
    }

    @Test("a tampered cursor is 400", arguments: Engine.allCases)
    func tamperedCursor(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            for i in 0..<3 { _ = try await client.createNote(token, title: "n\(i)") }
            let page: Page<Note> = try await client.get("/notes?limit=1", token: token).decode()
            let cursor = try #require(page.nextCursor)
            let parts = cursor.split(separator: ".")
            let forged = b64url("1.\(UUID().uuidString)") + "." + parts[1]
            #expect(try await client.get("/notes?cursor=\(forged)", token: token).status == .badRequest)
        }
    }

    @Test("limit must be 1 to 100", arguments: ["0", "101", "-1", "abc", "1.5"])
    func badLimit(limit: String) async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            let response = try await client.get("/notes?limit=\(limit)", token: token)
            #expect(response.status == .badRequest)
            #expect(response.error?.details?["limit"] != nil)
        }
    }

    @Test("limit 1 and 100 are accepted", arguments: Engine.allCases)
    func limitEdges(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            #expect(try await client.get("/notes?limit=1", token: token).status == .ok)
            #expect(try await client.get("/notes?limit=100", token: token).status == .ok)
        }
    }

    @Test("q matches whole words, any case, and every word must appear", arguments: Engine.allCases)
    func search(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let coffee = try await client.createNote(token, title: "Shopping", body: "Coffee beans and milk")
            let both = try await client.createNote(token, title: "Coffee plan", body: "Buy BEANS tomorrow")
            _ = try await client.createNote(token, title: "Coffees", body: "plural is another word")
            _ = try await client.createNote(token, title: "Tea", body: "no match here")
            func titles(_ q: String) async throws -> [UUID] {
                let page: Page<Note> = try await client.get("/notes?q=\(q)", token: token).decode()
                return page.items.map(\.id)
            }
            #expect(Set(try await titles("coffee")) == [coffee.id, both.id])
            #expect(Set(try await titles("COFFEE%20beans")) == [coffee.id, both.id])
            #expect(try await titles("coffee%20milk") == [coffee.id])
            #expect(try await titles("cof").isEmpty)
            #expect(try await titles("%22coffee%22%20OR%20tea").isEmpty, "operators are words, not syntax")
            let empty = try await client.get("/notes?q=%20!!", token: token)
            #expect(empty.status == .badRequest)
        }
    }

    @Test("tag filters by exact tag, and combines with q and paging", arguments: Engine.allCases)
    func tagFilter(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            var work: [Note] = []
            for i in 0..<5 { work.append(try await client.createNote(token, title: "work \(i)", body: "report", tags: ["work", "q\(i)"])) }
            _ = try await client.createNote(token, title: "home", body: "report", tags: ["workshop"])
            let listed = try await allPages(client, token, query: "&tag=work&q=report", limit: 2)
            #expect(listed.map(\.id) == work.reversed().map(\.id))
            let bad = try await client.get("/notes?tag=Not%20A%20Tag", token: token)
            #expect(bad.status == .badRequest)
            #expect(bad.error?.details?["tag"] != nil)
        }
    }

    @Test("search only sees the caller's notes", arguments: Engine.allCases)
    func searchIsolation(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let alice = try await client.signUp("alice")
            let bob = try await client.signUp("bob")
            let hers = try await client.createNote(alice, title: "secret", body: "password hint")
            let page: Page<Note> = try await client.get("/notes?q=secret", token: bob).decode()
            #expect(page.items.isEmpty)
            // The positive control: the same search finds it for its owner.
            let own: Page<Note> = try await client.get("/notes?q=secret", token: alice).decode()
            #expect(own.items.map(\.id) == [hers.id])
        }
    }
}
