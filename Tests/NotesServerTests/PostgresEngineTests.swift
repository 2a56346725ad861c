import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NotesModels
import PostgresNIO
import TestSupport
import Testing

@testable import NotesServer

/// Runs one of scripts/pg-throwaway.sh's commands, waiting for it on its own thread.
func throwaway(_ command: String, _ folder: String) async throws -> String {
    let run = try await runProcess("/bin/bash", [repositoryRoot() + "/scripts/pg-throwaway.sh", command, folder], mergeErrors: false)
    guard run.status == 0 else { throw PostgresTestCluster.StartFailed(description: "pg-throwaway.sh \(command) failed") }
    return run.output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Runs `query` once on the database at `url`.
func execute(_ query: PostgresQuery, on url: String) async throws -> [PostgresRow] {
    let location = try PostgresLocation(url: url)
    let connection = try await PostgresConnection.connect(
        configuration: location.connectionConfiguration(tls: .disable),
        id: 2,
        logger: testLogger
    )
    do {
        let rows = try await connection.query(query, logger: testLogger).collect()
        try await connection.close()
        return rows
    } catch {
        try? await connection.close()
        throw error
    }
}

@Suite("The PostgreSQL engine: URLs, migrations, a database that goes away")
struct PostgresEngineTests {
    @Test("database URLs: user, password, host, port, database and sslmode are read; the password is never shown")
    func urls() throws {
        let location = try PostgresLocation(url: "postgres://notes:s%40cret@db.example:6543/notes_prod?sslmode=require")
        #expect(location.username == "notes")
        #expect(location.password == "s@cret")
        #expect(location.host == "db.example")
        #expect(location.port == 6543)
        #expect(location.database == "notes_prod")
        #expect(location.sslMode == .require)
        #expect(location.redacted == "postgres://notes:***@db.example:6543/notes_prod?sslmode=require")
        let defaults = try PostgresLocation(url: "postgresql://notes@127.0.0.1/notes")
        #expect(defaults.port == 5432 && defaults.sslMode == .prefer && defaults.password == nil)
        for bad in [
            "postgres://127.0.0.1/notes", "postgres://u:p@/notes", "postgres://u:p@host", "postgres://u:p@host/db?sslmode=maybe",
            "postgres://u:p@host/db?timeout=3", "postgres://u:topsecret@host:99999/db",
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try PostgresLocation(url: bad) }
            do {
                _ = try PostgresLocation(url: bad)
            } catch {
                #expect(!error.description.contains("topsecret"))
            }
        }
        var config = ServerConfiguration()
        config.databaseURL = "postgres://u:p@127.0.0.1:5432/db"
        #expect(try config.databaseLocation() == .postgres(try PostgresLocation(url: "postgres://u:p@127.0.0.1:5432/db")))
    }

    @Test("an unreachable database at start is a configuration error naming the URL, without its password")
    func unreachable() async throws {
        var config = try testConfiguration()
        config.databaseURL = "postgres://notes:hunter2-secret@127.0.0.1:1/notes?sslmode=disable"
        let message: String? = await {
            do {
                try await withStorage(config: config) { _ in }
                return nil
            } catch {
                return (error as? ConfigurationError)?.description
            }
        }()
        let text = try #require(message)
        #expect(text.contains("postgres://notes:***@127.0.0.1:1/notes"))
        #expect(text.contains("check that PostgreSQL is running"))
        #expect(!text.contains("hunter2"))
    }

    @Test("three servers starting at once on one empty database migrate it once")
    func migrateOnce() async throws {
        let config = try await testConfiguration(engine: .postgres)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 { group.addTask { try await withStorage(config: config) { _ in } } }
            try await group.waitForAll()
        }
        let url = try #require(config.databaseURL)
        var versions: [Int] = []
        for row in try await execute("SELECT version FROM notes_schema_migrations", on: url) {
            versions.append(try row.decode(Int.self))
        }
        #expect(versions.sorted() == Array(1...PostgresMigrations.latest), "each migration applied once")
        try await withStorage(config: config) { storage in
            try await storage.users.create(StorageConformanceTests.account("alice"), logger: testLogger)
        }
    }

    @Test("a database whose schema is newer than this server knows is refused with a clear message")
    func newerSchema() async throws {
        let config = try await testConfiguration(engine: .postgres)
        try await withStorage(config: config) { _ in }
        let url = try #require(config.databaseURL)
        _ = try await execute("INSERT INTO notes_schema_migrations (version, name) VALUES (999, 'from the future')", on: url)
        await #expect {
            try await withStorage(config: config) { _ in }
        } throws: { error in
            (error as? ConfigurationError)?.description.contains("schema version 999, newer than this notes-server knows") == true
        }
    }

    @Test("a database lost while running: /health and requests are 503 with Retry-After, and it recovers without a restart")
    func lostAndFound() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notes-pg-lost-\(UUID().uuidString)").path
        let url = try await throwaway("start", folder)
        do {
            var config = try testConfiguration()
            config.databaseURL = url
            config.databaseDeadline = .seconds(3)
            try await withApp(config) { client in
                let token = try await client.signUp("alice")
                _ = try await client.createNote(token, title: "before")
                _ = try await throwaway("pause", folder)
                let health = try await client.get("/health")
                #expect(health.status == .serviceUnavailable)
                let list = try await client.get("/notes", token: token)
                #expect(list.status == .serviceUnavailable)
                #expect(list.error?.name == "ServiceUnavailableError")
                #expect(list.headers[.retryAfter] != nil)
                let write = try await client.post("/notes", token: token, json: NoteInput(title: "during"))
                #expect(write.status == .serviceUnavailable)
                _ = try await throwaway("resume", folder)
                // The pool reconnects by itself; poll with a deadline.
                let deadline = ContinuousClock.now + .seconds(90)
                var recovered = false
                while ContinuousClock.now < deadline {
                    if try await client.get("/health").status == .ok {
                        recovered = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                #expect(recovered)
                let page: Page<Note> = try await client.get("/notes", token: token).decode()
                #expect(page.items.map(\.title) == ["before"], "the refused write changed nothing")
            }
        } catch {
            _ = try? await throwaway("stop", folder)
            throw error
        }
        _ = try await throwaway("stop", folder)
    }

    @Test("SQLite: the search index moves to a stable key, keeps existing notes, and survives VACUUM")
    func sqliteSearchMigration() async throws {
        let folder = try temporaryDirectory()
        let path = folder + "/notes.sqlite"
        let pool = try DatabasePool(path: path)
        try SQLiteDatabase.migrator.migrate(pool, upTo: "v1-users-notes-sessions")
        try await pool.write { db in
            try db.execute(sql: "INSERT INTO users (id, username, passwordHash, admin, createdAtMs) VALUES ('U1', 'alice', 'x', 0, 1)")
            for index in 0..<6 {
                try db.execute(
                    sql: """
                        INSERT INTO notes (id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                        VALUES (?, 'U1', ?, ?, '[]', ?, ?, 1)
                        """,
                    arguments: ["N\(index)", "note \(index)", "word\(index) common", index, index]
                )
            }
            // Gaps in the rowids, which VACUUM would close.
            try db.execute(sql: "DELETE FROM notes WHERE id IN ('N0', 'N2')")
        }
        try pool.close()
        let database = try SQLiteDatabase.open(path: path)
        try await database.writer.writeWithoutTransaction { db in try db.execute(sql: "VACUUM") }
        let ids = try await database.writer.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT id FROM notes WHERE rowNumber IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'word3') ORDER BY id"
            )
        }
        #expect(ids == ["N3"])
        let common = try await database.writer.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT id FROM notes WHERE rowNumber IN (SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'common') ORDER BY id"
            )
        }
        #expect(common == ["N1", "N3", "N4", "N5"])
        let last = try await database.writer.read { db in
            try Int64.fetchOne(db, sql: "SELECT lastNoteCreatedAtMs FROM users WHERE id = 'U1'")
        }
        #expect(last == 5, "the owner's newest note time is carried over")
    }

    @Test("SQLite: notes kept from before v5 whose row numbers are out of creation order are numbered again, so a search pages newest first")
    func sqliteRowNumbersInNoteOrder() async throws {
        let folder = try temporaryDirectory()
        let path = folder + "/notes.sqlite"
        let pool = try DatabasePool(path: path)
        try SQLiteDatabase.migrator.migrate(pool, upTo: "v4-signing-key-ring")
        let alice = UUID()
        let bob = UUID()
        // Row numbers against the notes' order: the newest note has the smallest, and another
        // owner's notes sit in between.
        let owners = (0..<30).map { $0 % 3 == 0 ? bob : alice }
        let ids = owners.map { _ in UUID() }
        let aliceNotes = zip(owners, ids).filter { $0.0 == alice }.map(\.1)  // oldest first
        try await pool.write { db in
            for user in [alice, bob] {
                try db.execute(
                    sql: "INSERT INTO users (id, username, passwordHash, admin, createdAtMs) VALUES (?, ?, 'x', 0, 1)",
                    arguments: [user.uuidString, user.uuidString.lowercased()]
                )
            }
            for index in 0..<30 {
                let owner = owners[index]
                let id = ids[index]
                try db.execute(
                    sql: """
                        INSERT INTO notes (rowNumber, id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                        VALUES (?, ?, ?, ?, 'common words', '[]', ?, ?, 1)
                        """,
                    arguments: [1_000 - index, id.uuidString, owner.uuidString, "note \(index)", 100 + index, 100 + index]
                )
            }
        }
        try pool.close()
        let notes = try SQLiteDatabase.open(path: path).storage.notes
        var seen: [UUID] = []
        var query = NoteQuery(limit: 4, words: ["common"])
        for _ in 0..<10 {
            let page = try await notes.list(ownerID: alice, query: query, logger: Logger(label: "test"))
            seen += page.notes.map(\.id)
            guard page.fetched == 4, let last = page.notes.last else { break }
            query.after = NotePosition(createdAtMs: last.createdAt.millisecondsSince1970, id: last.id)
        }
        #expect(seen == aliceNotes.reversed(), "every note of alice's, newest first, each once")
    }

    @Test("SQLite v6: notes kept from v5 (random ids) keep their row numbers and stay found, searched, changed and unique by id")
    func sqliteNotesUniqueByKey() async throws {
        let folder = try temporaryDirectory()
        let path = folder + "/notes.sqlite"
        let pool = try DatabasePool(path: path)
        try SQLiteDatabase.migrator.migrate(pool, upTo: "v5-row-numbers-in-note-order")
        let alice = UUID()
        let ids = (0..<20).map { _ in UUID() }
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO users (id, username, passwordHash, admin, createdAtMs, lastNoteCreatedAtMs) VALUES (?, 'alice', 'x', 0, 1, 119)",
                arguments: [alice.uuidString]
            )
            for (index, id) in ids.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO notes (id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                        VALUES (?, ?, ?, 'kept words', '[]', ?, ?, 1)
                        """,
                    arguments: [id.uuidString, alice.uuidString, "note \(index)", 100 + index, 100 + index]
                )
            }
        }
        let before = try pool.read { db in try Row.fetchAll(db, sql: "SELECT rowNumber, id FROM notes ORDER BY rowNumber") }
        try pool.close()
        let database = try SQLiteDatabase.open(path: path)
        let notes = database.storage.notes
        let after = try database.writer.read { db in try Row.fetchAll(db, sql: "SELECT rowNumber, id FROM notes ORDER BY rowNumber") }
        #expect(after == before)
        for (index, id) in ids.enumerated() {
            #expect(try await notes.find(id: id, ownerID: alice, logger: testLogger)?.title == "note \(index)")
        }
        let found = try await notes.list(ownerID: alice, query: NoteQuery(limit: 100, words: ["kept"]), logger: testLogger).notes
        #expect(found.map(\.id) == ids.reversed())
        let changed = try await notes.update(
            id: ids[3],
            ownerID: alice,
            allowedVersions: [1],
            changes: NoteChanges(title: "changed"),
            at: Date(),
            logger: testLogger
        )
        #expect(changed.version == 2)
        try await notes.delete(id: ids[4], ownerID: alice, allowedVersions: nil, logger: testLogger)
        #expect(try await notes.find(id: ids[4], ownerID: alice, logger: testLogger) == nil)
        // The search index follows the rebuilt table: the change is found, the deleted note not.
        let searched = try await notes.list(ownerID: alice, query: NoteQuery(limit: 100, words: ["changed"]), logger: testLogger).notes
        #expect(searched.map(\.id) == [ids[3]])
        let kept = try await notes.list(ownerID: alice, query: NoteQuery(limit: 100, words: ["kept"]), logger: testLogger).notes
        #expect(kept.count == 19 && !kept.map(\.id).contains(ids[4]))
        try await database.writer.write { db in try db.execute(sql: "INSERT INTO notes_fts(notes_fts) VALUES('integrity-check')") }
        // A second row with an existing id is refused by the key's unique index.
        await #expect(throws: DatabaseError.self) {
            try await database.writer.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO notes (id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version) VALUES (?, ?, 'dup', '', '[]', 1, 1, 1)",
                    arguments: [ids[0].uuidString, alice.uuidString]
                )
            }
        }
        // Lookups by id go through that index, for old ids and new ones alike.
        let plans = try await database.writer.read { db in
            try [
                "SELECT id FROM notes WHERE \(SQLiteNoteRepository.keyExpression) = ? AND ownerID = ?",
                "UPDATE notes SET version = version + 1 WHERE \(SQLiteNoteRepository.keyExpression) = ? AND ownerID = ?",
                "DELETE FROM notes WHERE \(SQLiteNoteRepository.keyExpression) = ? AND ownerID = ?",
            ].map { sql in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: ["k", "o"]).map { $0["detail"] as String? ?? "" }.joined(
                    separator: "; "
                )
            }
        }
        for plan in plans { #expect(plan.contains("USING INDEX notes_by_key"), "\(plan)") }
        try database.writer.close()
    }
}
