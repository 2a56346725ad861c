import Foundation
import GRDB
import Logging

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

    /// Read by position from a row whose first columns are `SQLiteNoteRepository`'s selection,
    /// in its order (a page reads many rows; looking columns up by name costs per row).
    init(columns row: Row) throws {
        id = try row.decode(String.self, atIndex: 0)
        ownerID = try row.decode(String.self, atIndex: 1)
        title = try row.decode(String.self, atIndex: 2)
        body = try row.decode(String.self, atIndex: 3)
        tags = try Self.tags(fromJSON: try row.decode(String.self, atIndex: 4))
        createdAtMs = try row.decode(Int64.self, atIndex: 5)
        updatedAtMs = try row.decode(Int64.self, atIndex: 6)
        version = try row.decode(Int.self, atIndex: 7)
    }

    /// Read column by column (GRDB's Codable path decodes the tags with a new JSONDecoder
    /// per row, the largest part of reading a page).
    init(row: Row) throws {
        id = try row.decode(String.self, forColumn: "id")
        ownerID = try row.decode(String.self, forColumn: "ownerID")
        title = try row.decode(String.self, forColumn: "title")
        body = try row.decode(String.self, forColumn: "body")
        tags = try Self.tags(fromJSON: try row.decode(String.self, forColumn: "tags"))
        createdAtMs = try row.decode(Int64.self, forColumn: "createdAtMs")
        updatedAtMs = try row.decode(Int64.self, forColumn: "updatedAtMs")
        version = try row.decode(Int.self, forColumn: "version")
    }

    /// The tags column's text for `tags`: `["a","b"]`, written directly when every tag is made
    /// of tag bytes (always, for validated input), otherwise by JSONEncoder.
    static func tagsJSON(_ tags: [String]) throws -> String {
        guard tags.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(Validate.isTagByte) }) else {
            return String(decoding: try JSONEncoder().encode(tags), as: UTF8.self)
        }
        return "[" + tags.map { "\"" + $0 + "\"" }.joined(separator: ",") + "]"
    }

    /// The tags column, a JSON array of strings. Tags are `[a-z0-9_-]`, so the stored text is
    /// `["a","b"]` with nothing to unescape: read directly; anything else goes to JSONDecoder.
    static func tags(fromJSON text: String) throws -> [String] {
        let bytes = Array(text.utf8)
        if bytes == Array("[]".utf8) { return [] }
        simple: if bytes.count >= 4, bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") {
            var tags: [String] = []
            var index = 1
            let end = bytes.count - 1
            while index < end {
                guard bytes[index] == UInt8(ascii: "\"") else { break simple }
                let start = index + 1
                var close = start
                while close < end, Validate.isTagByte(bytes[close]) { close += 1 }
                guard close < end, close > start, bytes[close] == UInt8(ascii: "\"") else { break simple }
                tags.append(String(decoding: bytes[start..<close], as: UTF8.self))
                index = close + 1
                if index < end {
                    guard bytes[index] == UInt8(ascii: ","), index + 1 < end else { break simple }
                    index += 1
                }
            }
            return tags
        }
        return try JSONDecoder().decode([String].self, from: Data(bytes))
    }

    init(_ note: StoredNote) {
        id = UUIDText.string(note.id)
        ownerID = UUIDText.string(note.ownerID)
        title = note.title
        body = note.body
        tags = note.tags
        createdAtMs = note.createdAt.millisecondsSince1970
        updatedAtMs = note.updatedAt.millisecondsSince1970
        version = note.version
    }

    var note: StoredNote? {
        guard let uuid = UUIDText.parse(id), let owner = UUIDText.parse(ownerID) else { return nil }
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
    /// Creates, updates and deletes share transactions with the ones queued beside them.
    let batcher: SQLiteWriteBatcher

    /// The columns a note is read back with (the row number stays inside the database).
    private static let selection = "id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version"

    /// What the unique index `notes_by_key` holds and every lookup by id names, exactly as
    /// written here (SQLite uses an index on an expression only for that same expression): the
    /// id's last group, then the rest. For ``NoteID``'s ids the last group is the creation time,
    /// so new keys append to the index; for older, random ids it is as random as the id.
    static let keyExpression = "(substr(id, 25) || substr(id, 1, 24))"

    /// ``keyExpression`` of the id `id`, computed here.
    static func key(_ id: UUID) -> String {
        let text = UUIDText.string(id)
        return String(text.suffix(12)) + String(text.prefix(24))
    }

    func create(_ note: StoredNote, logger: Logger) async throws -> StoredNote {
        // Everything that needs no database is done here, before the write joins the writer's
        // queue: the writer is the one thread every write shares.
        let row = NoteRow(note)
        let tags = try NoteRow.tagsJSON(row.tags)
        let claimed = try await batcher.writeWithoutSavepoint { db in
            // Strictly newer than every note the owner ever created, even within one
            // millisecond, so a note added while someone pages can never land behind their
            // cursor: one conditional update of the owner's row claims the time. Should the
            // insert then fail, the claim stays: it is a high-water mark, not data, and every
            // later note is still strictly newer than every earlier one (hence no savepoint).
            guard
                let claimed = try Int64.fetchOne(
                    db.cachedStatement(
                        sql: "UPDATE users SET lastNoteCreatedAtMs = MAX(lastNoteCreatedAtMs + 1, ?) WHERE id = ? RETURNING lastNoteCreatedAtMs"
                    ),
                    arguments: [row.createdAtMs, row.ownerID]
                )
            else { throw StorageError.noteNotFound }
            // One statement prepared once per connection (GRDB's record insert encodes the
            // tags with a new JSONEncoder on every call).
            try db.cachedStatement(
                sql: """
                    INSERT INTO notes (id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(
                arguments: [row.id, row.ownerID, row.title, row.body, tags, claimed, max(row.updatedAtMs, claimed), row.version]
            )
            return claimed
        }
        var stored = note
        stored.createdAt = Date(millisecondsSince1970: claimed)
        stored.updatedAt = Date(millisecondsSince1970: max(row.updatedAtMs, claimed))
        return stored
    }

    func find(id: UUID, ownerID: UUID, logger: Logger) async throws -> StoredNote? {
        try writer.readStatement { db in
            try NoteRow.fetchOne(
                db.cachedStatement(sql: "SELECT \(Self.selection) FROM notes WHERE \(Self.keyExpression) = ? AND ownerID = ?"),
                arguments: [Self.key(id), UUIDText.string(ownerID)]
            )?.note
        }
    }

    /// The columns a note is read back with, named through the table (a search joins the
    /// notes with the search index, which has its own `title` and `body`).
    private static let qualifiedSelection =
        "notes.id, notes.ownerID, notes.title, notes.body, notes.tags, notes.createdAtMs, notes.updatedAtMs, notes.version"

    func list(ownerID: UUID, query: NoteQuery, logger: Logger) async throws -> NoteListing {
        var conditions: [SQL] = ["notes.ownerID = \(UUIDText.string(ownerID))"]
        if let tag = query.tag {
            conditions.append("EXISTS (SELECT 1 FROM json_each(notes.tags) WHERE json_each.value = \(tag))")
        }
        if let after = query.after {
            conditions.append(
                "(notes.createdAtMs < \(after.createdAtMs) OR (notes.createdAtMs = \(after.createdAtMs) AND notes.id < \(UUIDText.string(after.id))))"
            )
        }
        let source: SQL
        let order: SQL
        if query.words.isEmpty {
            source = "notes WHERE \(conditions.joined(separator: " AND "))"
            order = "notes.createdAtMs DESC, notes.id DESC"
        } else {
            // Each word quoted as an FTS5 string: whole tokens, all required, no operators.
            let pattern = query.words.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
            // Driven by the search index, newest row number first, so SQLite stops at the
            // page's last note instead of collecting every match and sorting them: an owner's
            // row numbers grow with their notes' (createdAt, id) order (see `rowNumber`). After
            // a cursor, the index starts below the row number of the first note at or after it.
            var bound: SQL = ""
            if let after = query.after {
                bound = """
                     AND notes_fts.rowid < COALESCE((
                        SELECT rowNumber FROM notes WHERE ownerID = \(UUIDText.string(ownerID))
                            AND (createdAtMs > \(after.createdAtMs) OR (createdAtMs = \(after.createdAtMs) AND id >= \(UUIDText.string(after.id))))
                        ORDER BY createdAtMs, id LIMIT 1
                    ), 9223372036854775807)
                    """
            }
            source = """
                notes_fts JOIN notes ON notes.rowNumber = notes_fts.rowid
                WHERE notes_fts MATCH \(pattern)\(bound) AND \(conditions.joined(separator: " AND "))
                """
            order = "notes_fts.rowid DESC"
        }
        // The page is chosen by the query (LIMIT); the byte budget is applied while its rows are
        // read, one at a time from the statement: a row's size (title and body in bytes) is read
        // before its text, and no row starting at or past the budget has its text read at all,
        // so a page of huge notes never reaches memory. The rows past the budget are still
        // counted (`fetched`), which tells that a next page exists.
        let budget = Int64(query.byteBudget ?? Int.max)
        let sql: SQL = """
            SELECT \(sql: Self.qualifiedSelection), length(CAST(notes.title AS BLOB)) + length(CAST(notes.body AS BLOB)) AS size
            FROM \(source)
            ORDER BY \(order) LIMIT \(query.limit)
            """
        return try writer.readStatement { db in
            var fetched = 0
            var running: Int64 = 0
            var notes: [StoredNote] = []
            // Cached per connection: the SQL text has one form per combination of filters.
            let rows = try Row.fetchCursor(db, SQLRequest<Row>(literal: sql, cached: true))
            while let row = try rows.next() {
                fetched += 1
                guard running < budget else { continue }
                running = running.addingReportingOverflow(try row.decode(Int64.self, atIndex: 8)).partialValue
                if let note = try NoteRow(columns: row).note { notes.append(note) }
            }
            return NoteListing(notes: notes, fetched: fetched)
        }
    }

    func update(
        id: UUID,
        ownerID: UUID,
        allowedVersions: Set<Int>?,
        changes: NoteChanges,
        at date: Date,
        logger: Logger
    ) async throws
        -> StoredNote
    {
        let tags: String? = try changes.tags.map { try NoteRow.tagsJSON($0) }
        var sql: SQL = """
            UPDATE notes SET
                title = COALESCE(\(changes.title), title),
                body = COALESCE(\(changes.body), body),
                tags = COALESCE(\(tags), tags),
                version = version + 1,
                updatedAtMs = MAX(updatedAtMs, \(date.millisecondsSince1970))
            WHERE \(sql: Self.keyExpression) = \(Self.key(id)) AND ownerID = \(UUIDText.string(ownerID))
            """
        if let allowedVersions { sql.append(literal: " AND version IN \(Array(allowedVersions))") }
        sql.append(literal: " RETURNING \(sql: Self.selection)")
        let statement = sql
        // One conditional statement: two updates with the same If-Match cannot both win.
        return try await batcher.writeWithoutSavepoint { db in
            if let note = try SQLRequest<NoteRow>(literal: statement).fetchOne(db)?.note { return note }
            throw try Self.whyNot(db, id: id, ownerID: ownerID)
        }
    }

    func delete(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, logger: Logger) async throws {
        var sql: SQL = "DELETE FROM notes WHERE \(sql: Self.keyExpression) = \(Self.key(id)) AND ownerID = \(UUIDText.string(ownerID))"
        if let allowedVersions { sql.append(literal: " AND version IN \(Array(allowedVersions))") }
        let statement = sql
        try await batcher.writeWithoutSavepoint { db in
            try db.execute(literal: statement)
            if db.changesCount == 0 { throw try Self.whyNot(db, id: id, ownerID: ownerID) }
        }
    }

    /// After a conditional statement changed nothing: missing, or another version.
    private static func whyNot(_ db: Database, id: UUID, ownerID: UUID) throws -> StorageError {
        let current = try Int.fetchOne(
            db,
            sql: "SELECT version FROM notes WHERE \(keyExpression) = ? AND ownerID = ?",
            arguments: [key(id), UUIDText.string(ownerID)]
        )
        return current.map { .versionMismatch(current: $0) } ?? .noteNotFound
    }

    func exists(ownerID: UUID, title: String, logger: Logger) async throws -> Bool {
        try await writer.read { db in
            try NoteRow.filter(NoteRow.Columns.ownerID == UUIDText.string(ownerID) && NoteRow.Columns.title == title).fetchCount(db) > 0
        }
    }
}
