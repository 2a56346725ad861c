import Foundation
import Logging
import PostgresNIO

/// Notes on PostgreSQL. Full-text search goes through a `tsvector` column with a GIN index,
/// built from the same words the server searches with (``SearchWords``), so both engines
/// agree on what a word is.
struct PostgresNoteRepository: NoteRepository {
    let db: PostgresDatabase

    private typealias Row = (UUID, UUID, String, String, [String], Int64, Int64, Int)
    private static let columns = "id, owner_id, title, body, tags, created_at_ms, updated_at_ms, version"

    private static func note(_ row: Row) -> StoredNote {
        StoredNote(
            id: row.0,
            ownerID: row.1,
            title: row.2,
            body: row.3,
            tags: row.4,
            createdAt: Date(millisecondsSince1970: row.5),
            updatedAt: Date(millisecondsSince1970: row.6),
            version: row.7
        )
    }

    private static func notes(_ rows: PostgresRowSequence) async throws -> [StoredNote] {
        var result: [StoredNote] = []
        for try await row in rows.decode(Row.self) { result.append(note(row)) }
        return result
    }

    /// Creates a note in one statement: claiming the time on the owner's row locks it until the
    /// insert commits, so concurrent creates by one owner get distinct, increasing times.
    /// Prepared once per connection.
    private struct Create: PostgresPreparedStatement {
        static let name = "notes_create"
        static let sql = """
            WITH claimed AS (
                UPDATE users SET last_note_created_at_ms = GREATEST(last_note_created_at_ms + 1, $1::bigint)
                WHERE id = $2 RETURNING last_note_created_at_ms AS at
            )
            INSERT INTO notes (id, owner_id, title, body, tags, created_at_ms, updated_at_ms, version, search)
            SELECT $3, $2, $4, $5, $6::text[], at, GREATEST(at, $7::bigint), $8, array_to_tsvector($9::text[])
            FROM claimed
            RETURNING \(PostgresNoteRepository.columns)
            """
        typealias Row = PostgresNoteRepository.Row
        let note: StoredNote
        let words: [String]
        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 9)
            bindings.append(note.createdAt.millisecondsSince1970)
            bindings.append(note.ownerID)
            bindings.append(note.id)
            bindings.append(note.title)
            bindings.append(note.body)
            bindings.append(note.tags)
            bindings.append(note.updatedAt.millisecondsSince1970)
            bindings.append(note.version)
            bindings.append(words)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    func create(_ note: StoredNote, logger: Logger) async throws -> StoredNote {
        let statement = Create(note: note, words: SearchWords.indexWords(title: note.title, body: note.body))
        let stored = try await db.run(logger: logger) { client in
            try await client.execute(statement, logger: logger).first { _ in true }.map(Self.note)
        }
        guard let stored else { throw StorageError.noteNotFound }
        return stored
    }

    /// A note by id and owner, the most frequent read: prepared once per connection, so
    /// PostgreSQL parses and plans it once.
    private struct ByID: PostgresPreparedStatement {
        static let name = "notes_note_by_id"
        static let sql = "SELECT \(PostgresNoteRepository.columns) FROM notes WHERE id = $1 AND owner_id = $2"
        typealias Row = PostgresNoteRepository.Row
        let id: UUID
        let ownerID: UUID
        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(id)
            bindings.append(ownerID)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    func find(id: UUID, ownerID: UUID, logger: Logger) async throws -> StoredNote? {
        try await db.run(logger: logger) { client in
            try await client.execute(ByID(id: id, ownerID: ownerID), logger: logger).first { _ in true }.map(Self.note)
        }
    }

    /// A page of the notes `filter` selects, newest first: at most `limit` rows are chosen
    /// (LIMIT), then the running size of title and body cuts them at `budget` inside the
    /// database, so a page of huge notes never reaches memory. `fetched` counts the rows the
    /// LIMIT chose, which tells whether a next page exists. The three are SQL text (here,
    /// placeholders).
    private static func pageSQL(filter: String, limit: String, budget: String) -> String {
        """
        SELECT \(columns), fetched FROM (
            SELECT page.*, SUM(size) OVER (ORDER BY created_at_ms DESC, id DESC ROWS UNBOUNDED PRECEDING) AS running,
                   COUNT(*) OVER () AS fetched
            FROM (
                SELECT \(columns), octet_length(title) + octet_length(body) AS size FROM notes
                WHERE \(filter)
                ORDER BY created_at_ms DESC, id DESC
                LIMIT \(limit)
            ) AS page
        ) AS sized
        WHERE running - size < \(budget)
        ORDER BY created_at_ms DESC, id DESC
        """
    }

    /// A page's row: the note's columns, then `fetched`.
    private typealias PageRow = (UUID, UUID, String, String, [String], Int64, Int64, Int, Int64)

    private static func listing<Rows: AsyncSequence>(_ rows: Rows) async throws -> NoteListing where Rows.Element == PageRow {
        var listing = NoteListing(notes: [], fetched: 0)
        for try await row in rows {
            listing.notes.append(note((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7)))
            listing.fetched = Int(clamping: row.8)
        }
        return listing
    }

    /// The page of a plain listing (no words, no tag), the most frequent one: prepared once per
    /// connection. Its one shape suits a generic plan, the keyset range on
    /// `notes_by_owner_newest`; the first page starts below the largest possible position.
    private struct Page: PostgresPreparedStatement {
        static let name = "notes_page"
        static let sql = PostgresNoteRepository.pageSQL(
            filter: "owner_id = $1 AND (created_at_ms, id) < ($2::bigint, $3::uuid)",
            limit: "$4",
            budget: "$5"
        )
        typealias Row = PostgresNoteRepository.PageRow
        static let end = NotePosition(
            createdAtMs: .max,
            id: UUID(uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))
        )
        let ownerID: UUID
        let after: NotePosition
        let limit: Int
        let budget: Int64
        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(ownerID)
            bindings.append(after.createdAtMs)
            bindings.append(after.id)
            bindings.append(Int64(limit))
            bindings.append(budget)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// The filter of a page with words or a tag. Sent as an unnamed statement, which PostgreSQL
    /// plans with its values: the IS NULL branches fold away, and it chooses between the
    /// full-text index and the keyset for the words at hand (a generic plan cannot know whether
    /// a word is rare).
    private static let filteredPageSQL = pageSQL(
        filter: """
            owner_id = $1
                  AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
                  AND ($3::tsquery IS NULL OR search @@ $3::tsquery)
                  AND ($4::bigint IS NULL OR (created_at_ms, id) < ($4::bigint, $5::uuid))
            """,
        limit: "$6",
        budget: "$7"
    )

    func list(ownerID: UUID, query: NoteQuery, logger: Logger) async throws -> NoteListing {
        let budget = Int64(query.byteBudget ?? Int.max)
        if query.words.isEmpty, query.tag == nil {
            let page = Page(ownerID: ownerID, after: query.after ?? Page.end, limit: query.limit, budget: budget)
            return try await db.run(logger: logger) { client in try await Self.listing(client.execute(page, logger: logger)) }
        }
        let tsquery: String? =
            query.words.isEmpty
            ? nil
            : query.words.map { "'" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'" }
                .joined(separator: " & ")
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(ownerID)
        if let tag = query.tag { bindings.append(tag) } else { bindings.appendNull() }
        if let tsquery { bindings.append(tsquery) } else { bindings.appendNull() }
        if let after = query.after {
            bindings.append(after.createdAtMs)
            bindings.append(after.id)
        } else {
            bindings.appendNull()
            bindings.appendNull()
        }
        bindings.append(Int64(query.limit))
        bindings.append(budget)
        let sql = PostgresQuery(unsafeSQL: Self.filteredPageSQL, binds: bindings)
        return try await db.run(logger: logger) { client in
            try await Self.listing(client.query(sql, logger: logger).decode(PageRow.self))
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
        // Under the note's row lock: read, check the version, write.
        try await db.transaction(logger: logger) { connection in
            var found: (Int, String, String)?
            for try await row in try await connection.query(
                "SELECT version, title, body FROM notes WHERE id = \(id) AND owner_id = \(ownerID) FOR UPDATE",
                logger: logger
            ).decode((Int, String, String).self) {
                found = row
            }
            guard let (version, oldTitle, oldBody) = found else { throw StorageError.noteNotFound }
            if let allowedVersions, !allowedVersions.contains(version) { throw StorageError.versionMismatch(current: version) }
            let words = SearchWords.indexWords(title: changes.title ?? oldTitle, body: changes.body ?? oldBody)
            let rows = try await connection.query(
                """
                UPDATE notes SET
                    title = COALESCE(\(changes.title)::text, title),
                    body = COALESCE(\(changes.body)::text, body),
                    tags = COALESCE(\(changes.tags)::text[], tags),
                    version = version + 1,
                    updated_at_ms = GREATEST(updated_at_ms, \(date.millisecondsSince1970)),
                    search = array_to_tsvector(\(words)::text[])
                WHERE id = \(id) AND owner_id = \(ownerID)
                RETURNING \(unescaped: Self.columns)
                """,
                logger: logger
            )
            guard let note = try await Self.notes(rows).first else { throw StorageError.noteNotFound }
            return note
        }
    }

    func delete(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, logger: Logger) async throws {
        let versions: [Int]? = allowedVersions.map { Array($0) }
        try await db.run(logger: logger) { client in
            // One conditional statement; the follow-up read only tells 404 from 412.
            let deleted = try await client.query(
                """
                DELETE FROM notes WHERE id = \(id) AND owner_id = \(ownerID)
                  AND (\(versions)::bigint[] IS NULL OR version = ANY(\(versions)::bigint[]))
                RETURNING version
                """,
                logger: logger
            ).collect()
            guard deleted.isEmpty else { return }
            for try await version in try await client.query("SELECT version FROM notes WHERE id = \(id) AND owner_id = \(ownerID)", logger: logger)
                .decode(Int.self)
            {
                throw StorageError.versionMismatch(current: version)
            }
            throw StorageError.noteNotFound
        }
    }

    func exists(ownerID: UUID, title: String, logger: Logger) async throws -> Bool {
        try await db.run(logger: logger) { client in
            try await !client.query("SELECT 1 FROM notes WHERE owner_id = \(ownerID) AND title = \(title) LIMIT 1", logger: logger).collect()
                .isEmpty
        }
    }
}
