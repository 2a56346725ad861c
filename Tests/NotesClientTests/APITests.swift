import Foundation
import NotesClient
import NotesModels
import Testing

@Suite("Typed calls and typed errors")
struct APITests {
    @Test("wrong credentials are a 401 AuthenticationError")
    func wrongPassword() async throws {
        try await withServer { server, api in
            _ = try await api.register(username: "alice", password: "correct-horse-1")
            let error = await #expect(throws: NotesClientError.self) {
                try await api.login(username: "alice", password: "wrong-password")
            }
            #expect(error?.code == .server)
            #expect(error?.status == 401)
            #expect(error?.errorName == .authentication)
            #expect(try await server.store.load() == nil)
        }
    }

    @Test("an id prefix finds the user's notes whose ids start with it, in any case, across pages; a 412 carries the current ETag")
    func idPrefixAndETag() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            var created: [Note] = []
            // More than one page of 100, so that the search has to follow nextCursor.
            for index in 0..<105 { created.append(try await api.createNote(NoteInput(title: "note \(index)", body: nil, tags: []))) }
            let target = created[0]
            let whole = try await api.notes(withIDPrefix: target.id.uuidString.lowercased())
            #expect(whole.map(\.id) == [target.id])
            let first = String(target.id.uuidString.prefix(1))
            let sharing = try await api.notes(withIDPrefix: first.lowercased())
            #expect(Set(sharing.map(\.id)) == Set(created.filter { $0.id.uuidString.hasPrefix(first) }.map(\.id)))

            let error = await #expect(throws: NotesClientError.self) {
                _ = try await api.updateNote(id: target.id, with: NotePatch(title: "x", body: nil, tags: nil), ifMatch: "\"7\"")
            }
            #expect(error?.status == 412)
            #expect(error?.etag == "\"1\"")
        }
    }

    @Test("notes: create, read, patch with If-Match, list with filters and pages, delete")
    func notesRoundTrip() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            var created: [Note] = []
            for index in 0..<5 {
                created.append(
                    try await api.createNote(NoteInput(title: "note \(index)", body: "c++ & more \(index)", tags: index % 2 == 0 ? ["even"] : []))
                )
            }
            let fetched = try await api.note(id: created[0].id)
            #expect(fetched == created[0])

            let page = try await api.notes(limit: 2)
            #expect(page.items.count == 2)
            #expect(page.nextCursor != nil)
            let all = try await api.allNotes(pageSize: 2)
            #expect(all.map(\.id) == created.reversed().map(\.id))
            #expect(try await api.allNotes(tag: "even").count == 3)

            let patched = try await api.updateNote(id: created[1].id, with: NotePatch(title: "renamed"), ifMatch: created[1].etag)
            #expect(patched.title == "renamed")
            #expect(patched.version == 2)
            let stale = await #expect(throws: NotesClientError.self) {
                _ = try await api.updateNote(id: created[1].id, with: NotePatch(title: "again"), ifMatch: created[1].etag)
            }
            #expect(stale?.errorName == .preconditionFailed)

            try await api.deleteNote(id: created[2].id)
            let gone = await #expect(throws: NotesClientError.self) { _ = try await api.note(id: created[2].id) }
            #expect(gone?.status == 404)
            #expect(gone?.errorName == .notFound)
        }
    }

    @Test("a validation error carries its details per field")
    func validationDetails() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            let error = await #expect(throws: NotesClientError.self) { _ = try await api.createNote(NoteInput(title: "")) }
            #expect(error?.status == 400)
            #expect(error?.errorName == .validation)
            #expect(error?.detail?.details?["title"] != nil)
        }
    }

    @Test("a non-admin gets ForbiddenError from users")
    func forbidden() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            let error = await #expect(throws: NotesClientError.self) { _ = try await api.users() }
            #expect(error?.status == 403)
            #expect(error?.errorName == .forbidden)
        }
    }

    @Test("the access token decodes, unverified, into header, payload and signature")
    func inspectToken() async throws {
        try await withServer { server, api in
            let session = try await server.registerAndLogin(api)
            let jwt = try UnverifiedJWT(session.accessToken)
            #expect(jwt.algorithm == "ES256")
            #expect(jwt.name == "alice")
            #expect(jwt.signatureByteCount == 64)
            let issuedAt = try #require(jwt.issuedAt)
            let expiresAt = try #require(jwt.expiresAt)
            #expect(expiresAt.timeIntervalSince(issuedAt) == 900)
            #expect(jwt.headerJSON.contains("\"kid\""))
            #expect(throws: UnverifiedJWT.FormatError.self) { try UnverifiedJWT("not-a-jwt") }
        }
    }

    @Test("server URLs are checked and normalised")
    func serverURLs() async throws {
        let store = SessionStore(directory: "/nonexistent")
        #expect(throws: InvalidServerURLError.self) { try NotesAPI(server: "ftp://x", store: store) }
        #expect(throws: InvalidServerURLError.self) { try NotesAPI(server: "localhost:8080", store: store) }
        try await withAPI(server: "http://127.0.0.1:8080/", store: store) { api in
            #expect(api.server == "http://127.0.0.1:8080")
        }
    }
}
