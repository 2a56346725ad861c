import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NotesModels
import Testing

@testable import NotesServer

/// A note repository that fails like a broken disk would.
struct BrokenNotes: NoteRepository {
    struct Failure: Error, CustomStringConvertible { var description: String { "disk on fire: /var/secret/path" } }
    func create(_ note: StoredNote, logger: Logger) async throws -> StoredNote { throw Failure() }
    func find(id: UUID, ownerID: UUID, logger: Logger) async throws -> StoredNote? { throw Failure() }
    func list(ownerID: UUID, query: NoteQuery, logger: Logger) async throws -> NoteListing { throw Failure() }
    func update(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, changes: NoteChanges, at date: Date, logger: Logger) async throws -> StoredNote {
        throw Failure()
    }
    func delete(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, logger: Logger) async throws { throw Failure() }
    func exists(ownerID: UUID, title: String, logger: Logger) async throws -> Bool { throw Failure() }
}

@Suite("Error shapes: 404, 405, 500, health and request ids")
struct ErrorShapeTests {
    @Test("an unknown path is 404 NotFoundError in the contract's shape")
    func unknownPath() async throws {
        try await withApp { client in
            let response = try await client.get("/nothing/here")
            #expect(response.status == .notFound)
            #expect(response.error?.name == "NotFoundError")
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
        }
    }

    @Test(
        "a known path with another method is 405 with Allow",
        arguments: [
            ("/notes", HTTPRequest.Method.delete, "GET, HEAD, POST"), ("/auth/login", .get, "POST"), ("/health", .post, "GET, HEAD"),
            ("/notes/\(UUID())", .post, "DELETE, GET, HEAD, PATCH, PUT"),
        ]
    )
    func methodNotAllowed(path: String, method: HTTPRequest.Method, allow: String) async throws {
        try await withApp { client in
            let response = try await client.execute(uri: path, method: method)
            #expect(response.status == .methodNotAllowed)
            #expect(response.error?.name == "MethodNotAllowedError")
            #expect(response.headers[.allow] == allow)
        }
    }

    @Test("HEAD answers like GET, without a body")
    func head() async throws {
        try await withApp { client in
            let token = try await client.signUp("alice")
            let note = try await client.createNote(token, title: "headed")
            let response = try await client.execute(uri: "/notes/\(note.id)", method: .head, headers: bearer(token))
            #expect(response.status == .ok)
            #expect(response.headers[.eTag] == "\"1\"")
            #expect(response.body.readableBytes == 0)
            #expect(try await client.execute(uri: "/health", method: .head).status == .ok)
        }
    }

    @Test("every response carries an X-Request-Id")
    func requestID() async throws {
        try await withApp { client in
            let a = try await client.get("/health")
            let b = try await client.get("/nothing")
            let ida = try #require(a.headers[HTTPField.Name("X-Request-Id")!])
            let idb = try #require(b.headers[HTTPField.Name("X-Request-Id")!])
            #expect(ida != idb)
        }
    }

    @Test("an unexpected failure is a 500 with a request id and no internals")
    func internalError() async throws {
        let config = try testConfiguration()
        var storage = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite").storage
        storage.notes = BrokenNotes()
        let app = try await buildApplication(configuration: config, storage: storage, hooks: ServerHooks())
        try await app.test(.router) { client in
            let token = try await client.signUp("alice")
            let response = try await client.get("/notes", token: token)
            #expect(response.status == .internalServerError)
            let error = try #require(response.error)
            #expect(error.name == "InternalServerError")
            let requestID = try #require(error.requestId)
            #expect(response.headers[HTTPField.Name("X-Request-Id")!] == requestID)
            #expect(!response.text.contains("disk on fire"))
            #expect(!response.text.contains("BrokenNotes"))
        }
    }

    @Test("health is 200 while the database answers and 503 once it does not")
    func health() async throws {
        let config = try testConfiguration()
        let database = try SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite")
        let app = try await buildApplication(configuration: config, storage: database.storage, hooks: ServerHooks())
        try await app.test(.router) { client in
            let ok = try await client.get("/health")
            #expect(ok.status == .ok)
            #expect(try ok.decode(HealthStatus.self).status == "ok")
            try database.writer.close()
            let down = try await client.get("/health")
            #expect(down.status == .serviceUnavailable)
        }
    }

    @Test("Hummingbird's own client errors keep their status and message in the contract's shape; its server errors are 500s")
    func frameworkErrors() async throws {
        let routes = RouteTable()
        let request = Request(
            head: .init(method: .get, scheme: "http", authority: "x", path: "/notes"),
            body: .init(buffer: ByteBuffer())
        )
        let teapot = try #require(ErrorMiddleware.mapped(HTTPError(.requestTimeout, message: "took too long"), request: request, routes: routes))
        #expect(teapot.status == .requestTimeout)
        #expect(teapot.name == .validation)
        #expect(teapot.message == "took too long")
        let bad = try #require(ErrorMiddleware.mapped(HTTPError(.badRequest, message: "bad query"), request: request, routes: routes))
        #expect(bad.status == .badRequest && bad.message == "bad query", "not always 'not valid JSON'")
        #expect(ErrorMiddleware.mapped(HTTPError(.badGateway), request: request, routes: routes) == nil, "a 5xx stays an internal error")
        #expect(ErrorMiddleware.mapped(HTTPError(.serviceUnavailable), request: request, routes: routes)?.name == .serviceUnavailable)
    }
}
