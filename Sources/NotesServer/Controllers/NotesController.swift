import Foundation
import HTTPTypes
import Hummingbird
import NotesModels

/// Notes CRUD for the signed-in user, with search, tag filter, keyset pages and ETags.
/// Another user's note answers 404, exactly like a missing one.
struct NotesController: Sendable {
    let notes: any NoteRepository
    let cursors: CursorCodec
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.get(use: list)
        group.post(use: create)
        group.get(":id", use: show)
        group.put(":id", use: replace)
        group.patch(":id", use: patch)
        group.delete(":id", use: delete)
    }

    @Sendable func list(request: Request, context: AuthenticatedContext) async throws -> Page<Note> {
        let params = request.uri.queryParameters
        var problems: [String: String] = [:]
        var query = NoteQuery(limit: NotesLimits.defaultPageSize)
        if let text = params["limit"] {
            if let limit = Int(text), NotesLimits.pageSize.contains(limit) {
                query.limit = limit
            } else {
                problems["limit"] = "must be a whole number from 1 to 100"
            }
        }
        if let text = params["cursor"] {
            if let position = cursors.decode(String(text)) { query.after = position } else { problems["cursor"] = "was not issued by this server" }
        }
        if let text = params["q"] {
            let words = SearchWords.words(in: String(text))
            if words.isEmpty { problems["q"] = "must contain at least one word" } else { query.words = words }
        }
        if let text = params["tag"] {
            if let problem = Validate.tag(String(text)) { problems["tag"] = problem } else { query.tag = String(text) }
        }
        guard problems.isEmpty else { throw APIError.validation(problems) }

        let pageSize = query.limit
        query.limit += 1  // one more tells whether a next page exists
        query.byteBudget = NotesLimits.pageByteBudget
        let listing = try await notes.list(ownerID: context.user.id, query: query, logger: context.logger)
        // The page: at most pageSize notes, and no note past the one that fills the budget
        // (the database left out those starting beyond it; the first note always comes).
        var page: [StoredNote] = []
        var bytes = 0
        for note in listing.notes.prefix(pageSize) {
            let size = note.title.utf8.count + note.body.utf8.count
            if !page.isEmpty, bytes + size > NotesLimits.pageByteBudget { break }
            page.append(note)
            bytes += size
        }
        var next: String?
        if listing.fetched > page.count, let last = page.last {
            next = cursors.encode(NotePosition(createdAtMs: last.createdAt.millisecondsSince1970, id: last.id))
        }
        return Page(items: page.map(Note.init), nextCursor: next)
    }

    @Sendable func create(request: Request, context: AuthenticatedContext) async throws -> Response {
        var request = request
        let input = try await request.decodeJSON(NoteInput.self, context: context)
        let body = input.body ?? ""
        let tags = input.tags ?? []
        try Self.check(title: input.title, body: body, tags: tags)
        let date = now()
        let note = StoredNote(
            id: NoteID.make(at: date),
            ownerID: context.user.id,
            title: input.title,
            body: body,
            tags: tags,
            createdAt: Date(millisecondsSince1970: date.millisecondsSince1970),
            updatedAt: Date(millisecondsSince1970: date.millisecondsSince1970),
            version: 1
        )
        let stored = try await notes.create(note, logger: context.logger)
        let wire = Note(stored)
        var response = try wire.response(from: request, context: context)
        response.status = .created
        response.headers[.location] = "/notes/\(stored.id.uuidString)"
        response.headers[.eTag] = wire.etag
        return response
    }

    @Sendable func show(request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try Self.noteID(context)
        guard let note = try await notes.find(id: id, ownerID: context.user.id, logger: context.logger) else { throw Self.missing }
        let wire = Note(note)
        if let ifNoneMatch = request.headers[.ifNoneMatch], ETagList(ifNoneMatch, weak: true).matches(version: note.version) {
            return Response(status: .notModified, headers: [.eTag: wire.etag])
        }
        var response = try wire.response(from: request, context: context)
        response.headers[.eTag] = wire.etag
        return response
    }

    @Sendable func replace(request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try Self.noteID(context)
        var request = request
        let input = try await request.decodeJSON(NoteInput.self, context: context)
        let changes = NoteChanges(title: input.title, body: input.body ?? "", tags: input.tags ?? [])
        try Self.check(title: changes.title, body: changes.body, tags: changes.tags)
        return try await apply(changes, id: id, request: request, context: context)
    }

    @Sendable func patch(request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try Self.noteID(context)
        var request = request
        let input = try await request.decodeJSON(NotePatch.self, context: context)
        guard input.title != nil || input.body != nil || input.tags != nil else {
            throw APIError.validation(["request": "must set at least one of title, body, tags"])
        }
        try Self.check(title: input.title, body: input.body, tags: input.tags)
        return try await apply(NoteChanges(title: input.title, body: input.body, tags: input.tags), id: id, request: request, context: context)
    }

    private func apply(_ changes: NoteChanges, id: UUID, request: Request, context: AuthenticatedContext) async throws -> Response {
        do {
            let updated = try await notes.update(
                id: id,
                ownerID: context.user.id,
                allowedVersions: Self.allowedVersions(request),
                changes: changes,
                at: now(),
                logger: context.logger
            )
            let wire = Note(updated)
            var response = try wire.response(from: request, context: context)
            response.headers[.eTag] = wire.etag
            return response
        } catch let error as StorageError {
            throw Self.translate(error)
        }
    }

    @Sendable func delete(request: Request, context: AuthenticatedContext) async throws -> Response {
        let id = try Self.noteID(context)
        do {
            try await notes.delete(id: id, ownerID: context.user.id, allowedVersions: Self.allowedVersions(request), logger: context.logger)
        } catch let error as StorageError {
            throw Self.translate(error)
        }
        return Response(status: .noContent)
    }

    static let missing = APIError.notFound("note not found")

    /// A malformed id names no note: 404, like a missing one.
    static func noteID(_ context: AuthenticatedContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUIDText.parse(text) else { throw missing }
        return id
    }

    /// nil when any version may change (no `If-Match`, or `*`); else the versions it names.
    static func allowedVersions(_ request: Request) -> Set<Int>? {
        guard let header = request.headers[values: .ifMatch].joined(separator: ",").nilIfEmpty else { return nil }
        let list = ETagList(header)
        return list.any ? nil : list.versions
    }

    static func translate(_ error: StorageError) -> APIError {
        switch error {
        case .noteNotFound, .usernameTaken: missing
        case .versionMismatch(let current): .preconditionFailed(current: current)
        case .unavailable: .unavailable
        }
    }

    static func check(title: String?, body: String?, tags: [String]?) throws {
        var problems: [String: String] = [:]
        if let title { problems["title"] = Validate.title(title) }
        if let body { problems["body"] = Validate.body(body) }
        if let tags { problems["tags"] = Validate.tags(tags) }
        guard problems.isEmpty else { throw APIError.validation(problems) }
    }
}

/// An `If-Match` / `If-None-Match` value: `*` or a list of entity tags of the form
/// `"<version>"`. `If-Match` compares strongly (a weak `W/"1"` never matches); `If-None-Match`
/// compares weakly, so `W/"1"` matches version 1 (RFC 9110 §13.1.1–2).
struct ETagList {
    var any = false
    var versions: Set<Int> = []

    init(_ header: String, weak: Bool = false) {
        for item in header.split(separator: ",") {
            var tag = Substring(item.trimmingCharacters(in: .whitespaces))
            if tag == "*" {
                any = true
                continue
            }
            if tag.hasPrefix("W/") {
                guard weak else { continue }
                tag = tag.dropFirst(2)
            }
            if tag.hasPrefix("\""), tag.hasSuffix("\""), tag.count >= 3, let version = Int(tag.dropFirst().dropLast()) {
                versions.insert(version)
            }
        }
    }

    func matches(version: Int) -> Bool { any || versions.contains(version) }
}

extension Note {
    init(_ note: StoredNote) {
        self.init(
            id: note.id,
            title: note.title,
            body: note.body,
            tags: note.tags,
            createdAt: note.createdAt,
            updatedAt: note.updatedAt,
            version: note.version
        )
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
