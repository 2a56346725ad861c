import Foundation
import GRDB

struct NoteRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "notes"
    var id: String
    var ownerID: String
    var title: String
    var body: String
    /// Stored as a JSON array (GRDB encodes it), searched with `json_each`.
    var tags: [String]
    var createdAtMs: Int64
    var updatedAtMs: Int64
    var version: Int

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let ownerID = Column(CodingKeys.ownerID)
        static let title = Column(CodingKeys.title)
    }

    init(_ note: StoredNote) {
        id = note.id.uuidString
        ownerID = note.ownerID.uuidString
        title = note.title
        body = note.body
        tags = note.tags
        createdAtMs = note.createdAt.millisecondsSince1970
        updatedAtMs = note.updatedAt.millisecondsSince1970
        version = note.version
    }

    var note: StoredNote? {
        guard let uuid = UUID(uuidString: id), let owner = UUID(uuidString: ownerID) else { return nil }
        return StoredNote(
            id: uuid,
            ownerID: owner,
            title: title,
            body: body,
            tags: tags,
            createdAt: Date(millisecondsSince1970: createdAtMs),
            updatedAt: Date(millisecondsSince1970: updatedAtMs),
            version: version
        )
    }
}

struct SQLiteNoteRepository: NoteRepository {
    let writer: any DatabaseWriter

    func create(_ note: StoredNote) async throws -> StoredNote {
        try await writer.write { db in
            var row = NoteRow(note)
            // Strictly newer than every note the owner has, even within one millisecond, so a
            // note added while someone pages can never land behind their cursor.
            let newest = try Int64.fetchOne(db, sql: "SELECT MAX(createdAtMs) FROM notes WHERE ownerID = ?", arguments: [row.ownerID])
            if let newest, newest >= row.createdAtMs {
                row.createdAtMs = newest + 1
                row.updatedAtMs = max(row.updatedAtMs, row.createdAtMs)
            }
            try row.insert(db)
            guard let stored = row.note else { throw StorageError.noteNotFound }
            return stored
        }
    }

    func find(id: UUID, ownerID: UUID) async throws -> StoredNote? {
        try await writer.read { db in try Self.row(db, id: id, ownerID: ownerID)?.note }
    }

    private static func row(_ db: Database, id: UUID, ownerID: UUID) throws -> NoteRow? {
        try NoteRow.filter(NoteRow.Columns.id == id.uuidString && NoteRow.Columns.ownerID == ownerID.uuidString).fetchOne(db)
    }

    func list(ownerID: UUID, query: NoteQuery) async throws -> [StoredNote] {
        var conditions: [SQL] = ["ownerID = \(ownerID.uuidString)"]
        if !query.words.isEmpty {
            // Each word quoted as an FTS5 string: whole tokens, all required, no operators.
            let pattern = query.words.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
            conditions.append("rowid IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH \(pattern))")
        }
        if let tag = query.tag {
            conditions.append("EXISTS (SELECT 1 FROM json_each(notes.tags) WHERE json_each.value = \(tag))")
        }
        if let after = query.after {
            conditions.append(
                "(createdAtMs < \(after.createdAtMs) OR (createdAtMs = \(after.createdAtMs) AND id < \(after.id.uuidString)))"
            )
        }
        let sql: SQL = """
            SELECT * FROM notes WHERE \(conditions.joined(separator: " AND "))
            ORDER BY createdAtMs DESC, id DESC LIMIT \(query.limit)
            """
        return try await writer.read { db in
            try SQLRequest<NoteRow>(literal: sql).fetchAll(db).compactMap(\.note)
        }
    }

    func update(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, changes: NoteChanges, at date: Date) async throws -> StoredNote {
        try await writer.write { db in
            guard var row = try Self.row(db, id: id, ownerID: ownerID) else { throw StorageError.noteNotFound }
            if let allowedVersions, !allowedVersions.contains(row.version) { throw StorageError.versionMismatch(current: row.version) }
            if let title = changes.title { row.title = title }
            if let body = changes.body { row.body = body }
            if let tags = changes.tags { row.tags = tags }
            row.version += 1
            row.updatedAtMs = max(date.millisecondsSince1970, row.updatedAtMs)
            try row.update(db)
            guard let note = row.note else { throw StorageError.noteNotFound }
            return note
        }
    }

    func delete(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?) async throws {
        try await writer.write { db in
            guard let row = try Self.row(db, id: id, ownerID: ownerID) else { throw StorageError.noteNotFound }
            if let allowedVersions, !allowedVersions.contains(row.version) { throw StorageError.versionMismatch(current: row.version) }
            try row.delete(db)
        }
    }

    func exists(ownerID: UUID, title: String) async throws -> Bool {
        try await writer.read { db in
            try NoteRow.filter(NoteRow.Columns.ownerID == ownerID.uuidString && NoteRow.Columns.title == title).fetchCount(db) > 0
        }
    }
}
