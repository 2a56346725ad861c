import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

@Suite("Notes CRUD, isolation and ETags")
struct NotesTests {
    @Test("create answers 201 with Location and ETag; show answers the same note", arguments: Engine.allCases)
    func createAndShow(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let response = try await client.post("/notes", token: token, json: NoteInput(title: "First", body: "Hello", tags: ["a", "b"]))
            #expect(response.status == .created)
            let note: Note = try response.decode()
            #expect(response.headers[.location] == "/notes/\(note.id.uuidString)")
            #expect(response.headers[.eTag] == "\"1\"")
            #expect(note.version == 1)
            #expect(note.title == "First" && note.body == "Hello" && note.tags == ["a", "b"])
            let shown = try await client.get("/notes/\(note.id.uuidString)", token: token)
            #expect(shown.status == .ok)
            #expect(shown.headers[.eTag] == "\"1\"")
            #expect(try shown.decode(Note.self) == note)
            let lower = try await client.get("/notes/\(note.id.uuidString.lowercased())", token: token)
            #expect(lower.status == .ok)
        }
    }

    @Test("body defaults to empty and tags to none; text comes back exactly", arguments: Engine.allCases)
    func defaultsAndExactText(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let bare = try await client.execute(
                uri: "/notes",
                method: .post,
                headers: jsonHeaders(token),
                body: ByteBuffer(string: #"{"title":"Only a title"}"#)
            )
            let note: Note = try bare.decode()
            #expect(note.body == "" && note.tags == [])
            let tricky = "  Ünïcödé 🧪 e\u{301} \"quotes\" \\ <tag> \t tab\nnew line  "
            let exact = try await client.createNote(token, title: "Exact  ", body: tricky)
            let shown: Note = try await client.get("/notes/\(exact.id)", token: token).decode()
            #expect(shown.body.unicodeScalars.elementsEqual(tricky.unicodeScalars))
            #expect(shown.title == "Exact  ")
        }
    }

    @Test("PUT replaces (absent body and tags reset), PATCH changes only what it sends, versions grow by one", arguments: Engine.allCases)
    func updates(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "T", body: "B", tags: ["x"])
            let put = try await client.execute(
                uri: "/notes/\(note.id)",
                method: .put,
                headers: jsonHeaders(token),
                body: jsonBody(NoteInput(title: "T2"))
            )
            #expect(put.status == .ok)
            let replaced: Note = try put.decode()
            #expect(replaced.title == "T2" && replaced.body == "" && replaced.tags == [] && replaced.version == 2)
            #expect(put.headers[.eTag] == "\"2\"")
            #expect(replaced.createdAt == note.createdAt)
            let patch = try await client.execute(
                uri: "/notes/\(note.id)",
                method: .patch,
                headers: jsonHeaders(token),
                body: jsonBody(NotePatch(body: "new body"))
            )
            let patched: Note = try patch.decode()
            #expect(patched.title == "T2" && patched.body == "new body" && patched.version == 3)
            let empty = try await client.execute(
                uri: "/notes/\(note.id)",
                method: .patch,
                headers: jsonHeaders(token),
                body: ByteBuffer(string: "{}")
            )
            #expect(empty.status == .badRequest)
            #expect(empty.error?.name == "ValidationError")
        }
    }

    @Test("delete answers 204, then the note is gone", arguments: Engine.allCases)
    func delete(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "Gone soon")
            #expect(try await client.execute(uri: "/notes/\(note.id)", method: .delete, headers: bearer(token)).status == .noContent)
            #expect(try await client.get("/notes/\(note.id)", token: token).status == .notFound)
            #expect(try await client.execute(uri: "/notes/\(note.id)", method: .delete, headers: bearer(token)).status == .notFound)
        }
    }

    @Test("another user's note is 404 for every method, and never listed", arguments: Engine.allCases)
    func isolation(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let alice = try await client.signUp("alice")
            let bob = try await client.signUp("bob")
            let note = try await client.createNote(alice, title: "Alice's secret")
            let path = "/notes/\(note.id)"
            for method in [HTTPRequest.Method.get, .delete] {
                let response = try await client.execute(uri: path, method: method, headers: bearer(bob))
                #expect(response.status == .notFound)
                #expect(response.error?.name == "NotFoundError")
            }
            let put = try await client.execute(uri: path, method: .put, headers: jsonHeaders(bob), body: jsonBody(NoteInput(title: "pwned")))
            #expect(put.status == .notFound)
            let patch = try await client.execute(uri: path, method: .patch, headers: jsonHeaders(bob), body: jsonBody(NotePatch(title: "pwned")))
            #expect(patch.status == .notFound)
            let missing = try await client.get("/notes/\(UUID())", token: bob)
            #expect(missing.text == (try await client.get(path, token: bob)).text, "a foreign note must look exactly like a missing one")
            let bobs: Page<Note> = try await client.get("/notes", token: bob).decode()
            #expect(bobs.items.isEmpty)
            let still: Note = try await client.get(path, token: alice).decode()
            #expect(still.title == "Alice's secret" && still.version == 1)
        }
    }

    @Test("a malformed note id is 404", arguments: Engine.allCases)
    func malformedID(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            #expect(try await client.get("/notes/not-a-uuid", token: token).status == .notFound)
        }
    }

    @Test("If-Match: a stale ETag is 412 and changes nothing; the current one and * succeed", arguments: Engine.allCases)
    func ifMatch(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "v1")
            var headers = jsonHeaders(token)
            headers[.ifMatch] = "\"1\""
            let first = try await client.execute(uri: "/notes/\(note.id)", method: .patch, headers: headers, body: jsonBody(NotePatch(title: "v2")))
            #expect(first.status == .ok)
            let stale = try await client.execute(
                uri: "/notes/\(note.id)",
                method: .patch,
                headers: headers,
                body: jsonBody(NotePatch(title: "lost update"))
            )
            #expect(stale.status == .preconditionFailed)
            #expect(stale.error?.name == "PreconditionFailedError")
            #expect(stale.headers[.eTag] == "\"2\"")
            let current: Note = try await client.get("/notes/\(note.id)", token: token).decode()
            #expect(current.title == "v2")
            headers[.ifMatch] = "\"7\", \"2\""
            #expect(
                try await client.execute(uri: "/notes/\(note.id)", method: .put, headers: headers, body: jsonBody(NoteInput(title: "v3"))).status
                    == .ok
            )
            headers[.ifMatch] = "W/\"3\""
            #expect(
                try await client.execute(uri: "/notes/\(note.id)", method: .put, headers: headers, body: jsonBody(NoteInput(title: "weak"))).status
                    == .preconditionFailed
            )
            var deleteHeaders = bearer(token)
            deleteHeaders[.ifMatch] = "\"1\""
            #expect(try await client.execute(uri: "/notes/\(note.id)", method: .delete, headers: deleteHeaders).status == .preconditionFailed)
            deleteHeaders[.ifMatch] = "*"
            #expect(try await client.execute(uri: "/notes/\(note.id)", method: .delete, headers: deleteHeaders).status == .noContent)
        }
    }

    @Test("If-None-Match with the current ETag is 304", arguments: Engine.allCases)
    func ifNoneMatch(engine: Engine) async throws {
        try await withApp(engine: engine) { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "cached")
            let cached = try await client.get("/notes/\(note.id)", token: token, headers: [.ifNoneMatch: "\"1\""])
            #expect(cached.status == .notModified)
            let changed = try await client.get("/notes/\(note.id)", token: token, headers: [.ifNoneMatch: "\"0\""])
            #expect(changed.status == .ok)
            // If-None-Match compares weakly (RFC 9110): a weak validator of the version matches.
            let weak = try await client.get("/notes/\(note.id)", token: token, headers: [.ifNoneMatch: "W/\"0\", W/\"1\""])
            #expect(weak.status == .notModified)
            #expect(weak.headers[.eTag] == "\"1\"")
            let weakOther = try await client.get("/notes/\(note.id)", token: token, headers: [.ifNoneMatch: "W/\"2\""])
            #expect(weakOther.status == .ok)
        }
    }
}
