import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// The SQLite engine, after GRDB's AppDatabase pattern: it owns a `DatabaseWriter` (a WAL
/// `DatabasePool` on disk) and the migrations, applied before the server starts.
struct SQLiteDatabase: Sendable {
    let writer: any DatabaseWriter
    /// Note writes go through it: one transaction for the writes that queue up meanwhile.
    let batcher: SQLiteWriteBatcher

    init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        self.batcher = SQLiteWriteBatcher(writer: writer)
        try Self.migrator.migrate(writer)
    }

    /// Opens (creating if needed) the file at `path`, in WAL mode, and migrates it.
    static func open(path: String) throws -> SQLiteDatabase {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Created 0600 before SQLite opens it, so the WAL and shared-memory files, which SQLite
        // gives the database file's mode, are private too.
        // attributesOfItem does not follow links: a link there (even a dangling one) counts as
        // something, and is refused below rather than followed.
        if (try? FileManager.default.attributesOfItem(atPath: path)) == nil {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        } else {
            // An existing file (a restored backup, say) is made private as well.
            try PrivateFiles.restrict(path, mode: 0o600, what: "database file")
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.label = "notes"
        return try SQLiteDatabase(DatabasePool(path: path, configuration: configuration))
    }

    /// The repositories over this database (already migrated when it was opened).
    var storage: Storage {
        let writer = self.writer
        return Storage(
            users: SQLiteUserRepository(writer: writer),
            notes: SQLiteNoteRepository(writer: writer, batcher: batcher),
            sessions: SQLiteSessionRepository(writer: writer),
            loginAttempts: SQLiteLoginAttemptRepository(writer: writer),
            signingKeys: SQLiteSigningKeyRepository(writer: writer),
            ping: { try writer.readStatement { db in _ = try Int.fetchOne(db, sql: "SELECT 1") } },
            services: [SQLiteCloser(writer: writer)],
            prepare: { _ in }
        )
    }

    /// Migrations are named and never edited once shipped; a change is a new migration.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-users-notes-sessions") { db in
            try db.create(table: "users") { t in
                t.primaryKey("id", .text)
                t.column("username", .text).notNull().unique()
                t.column("passwordHash", .text).notNull()
                t.column("admin", .boolean).notNull().defaults(to: false)
                t.column("createdAtMs", .integer).notNull()
            }
            try db.create(table: "notes") { t in
                t.primaryKey("id", .text)
                t.column("ownerID", .text).notNull().references("users", onDelete: .cascade)
                t.column("title", .text).notNull()
                t.column("body", .text).notNull()
                t.column("tags", .text).notNull()
                t.column("createdAtMs", .integer).notNull()
                t.column("updatedAtMs", .integer).notNull()
                t.column("version", .integer).notNull()
            }
            try db.create(index: "notes_by_owner_newest", on: "notes", columns: ["ownerID", "createdAtMs", "id"])
            try db.create(virtualTable: "notes_fts", using: FTS5()) { t in
                t.synchronize(withTable: "notes")
                t.tokenizer = .unicode61()
                t.column("title")
                t.column("body")
            }
            try db.create(table: "sessionFamilies") { t in
                t.primaryKey("id", .text)
                t.column("userID", .text).notNull().references("users", onDelete: .cascade)
                t.column("createdAtMs", .integer).notNull()
                t.column("expiresAtMs", .integer).notNull()
                t.column("revokedAtMs", .integer)
            }
            try db.create(table: "refreshTokens") { t in
                t.primaryKey("tokenHash", .text)
                t.column("familyID", .text).notNull().indexed().references("sessionFamilies", onDelete: .cascade)
                t.column("issuedAtMs", .integer).notNull()
                t.column("spentAtMs", .integer)
            }
        }
        // The search index was linked to the notes through SQLite's implicit rowid, which
        // VACUUM may renumber; it is now linked through an INTEGER PRIMARY KEY alias
        // (`rowNumber`), which SQLite keeps. Also: each user's newest note time, kept on the
        // user so that "strictly newer" is one conditional update; and the login counts.
        migrator.registerMigration("v2-stable-search-key-login-attempts") { db in
            try db.execute(
                sql: """
                    DROP TABLE notes_fts;
                    DROP TRIGGER IF EXISTS __notes_fts_ai;
                    DROP TRIGGER IF EXISTS __notes_fts_ad;
                    DROP TRIGGER IF EXISTS __notes_fts_au;
                    CREATE TABLE notes_new (
                        rowNumber INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        ownerID TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        title TEXT NOT NULL,
                        body TEXT NOT NULL,
                        tags TEXT NOT NULL,
                        createdAtMs INTEGER NOT NULL,
                        updatedAtMs INTEGER NOT NULL,
                        version INTEGER NOT NULL
                    );
                    INSERT INTO notes_new (rowNumber, id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                        SELECT rowid, id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version FROM notes;
                    DROP TABLE notes;
                    ALTER TABLE notes_new RENAME TO notes;
                    CREATE INDEX notes_by_owner_newest ON notes(ownerID, createdAtMs, id);
                    ALTER TABLE users ADD COLUMN lastNoteCreatedAtMs INTEGER NOT NULL DEFAULT 0;
                    UPDATE users SET lastNoteCreatedAtMs = COALESCE((SELECT MAX(createdAtMs) FROM notes WHERE ownerID = users.id), 0);
                    CREATE TABLE loginAttempts (
                        key TEXT PRIMARY KEY,
                        windowStartMs INTEGER NOT NULL,
                        failures INTEGER NOT NULL,
                        pending INTEGER NOT NULL,
                        pendingUntilMs INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    """
            )
            // GRDB links the index to the table's INTEGER PRIMARY KEY and fills it.
            try db.create(virtualTable: "notes_fts", using: FTS5()) { t in
                t.synchronize(withTable: "notes")
                t.tokenizer = .unicode61()
                t.column("title")
                t.column("body")
            }
        }
        // Sessions show when they were last used (a refresh); each refresh token knows its
        // place in its family (its generation), for keeping only the newest spent ones.
        migrator.registerMigration("v3-session-last-used") { db in
            try db.execute(
                sql: """
                    ALTER TABLE sessionFamilies ADD COLUMN lastUsedAtMs INTEGER NOT NULL DEFAULT 0;
                    UPDATE sessionFamilies SET lastUsedAtMs = createdAtMs;
                    CREATE INDEX sessionFamilies_by_user ON sessionFamilies(userID, createdAtMs);
                    ALTER TABLE refreshTokens ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
                    CREATE INDEX refreshTokens_by_family_generation ON refreshTokens(familyID, generation);
                    """
            )
        }
        // The signing-key ring and the server's other secrets (the cursor MAC key), shared by
        // everything that opens this database.
        migrator.registerMigration("v4-signing-key-ring") { db in
            try db.execute(
                sql: """
                    CREATE TABLE signingKeys (
                        kid TEXT PRIMARY KEY,
                        legacyKid TEXT,
                        legacyUntilMs INTEGER,
                        algorithm TEXT NOT NULL,
                        privateKeyPEM TEXT NOT NULL,
                        state TEXT NOT NULL,
                        createdAtMs INTEGER NOT NULL,
                        activatesAtMs INTEGER NOT NULL,
                        retiresAtMs INTEGER,
                        retiredAtMs INTEGER
                    ) WITHOUT ROWID;
                    CREATE UNIQUE INDEX signingKeys_one_current ON signingKeys(state) WHERE state = 'current';
                    CREATE TABLE serverSecrets (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                    """
            )
        }
        // A search is driven by the search index in descending `rowNumber` order and stops at
        // the page's last note, which needs each owner's row numbers to grow with the order of
        // their notes, (createdAtMs, id). New notes keep it: SQLite numbers a new row one past
        // the largest, and `create` claims a createdAt strictly newer than every earlier note
        // of the owner (so does the seeder, through `create`). Rows kept from earlier versions
        // are numbered again in that order here, once, and the search index is rebuilt.
        migrator.registerMigration("v5-row-numbers-in-note-order") { db in
            try db.execute(
                sql: """
                    DROP TABLE notes_fts;
                    DROP TRIGGER IF EXISTS __notes_fts_ai;
                    DROP TRIGGER IF EXISTS __notes_fts_ad;
                    DROP TRIGGER IF EXISTS __notes_fts_au;
                    CREATE TABLE notes_new (
                        rowNumber INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        ownerID TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        title TEXT NOT NULL,
                        body TEXT NOT NULL,
                        tags TEXT NOT NULL,
                        createdAtMs INTEGER NOT NULL,
                        updatedAtMs INTEGER NOT NULL,
                        version INTEGER NOT NULL
                    );
                    INSERT INTO notes_new (id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                        SELECT id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version FROM notes
                        ORDER BY createdAtMs, id;
                    DROP TABLE notes;
                    ALTER TABLE notes_new RENAME TO notes;
                    CREATE INDEX notes_by_owner_newest ON notes(ownerID, createdAtMs, id);
                    """
            )
            try db.create(virtualTable: "notes_fts", using: FTS5()) { t in
                t.synchronize(withTable: "notes")
                t.tokenizer = .unicode61()
                t.column("title")
                t.column("body")
            }
        }
        // The notes' ids are unique through an index on a key made from them (see
        // `SQLiteNoteRepository.keyExpression` and `NoteID`), no longer through an index on the id
        // itself, which random ids made cost one written page per insert. SQLite cannot drop a
        // column's UNIQUE, so the table is built again, keeping every row and its row number; the
        // search index is rebuilt with it.
        migrator.registerMigration("v6-notes-unique-by-key") { db in
            try db.execute(
                sql: """
                    DROP TABLE notes_fts;
                    DROP TRIGGER IF EXISTS __notes_fts_ai;
                    DROP TRIGGER IF EXISTS __notes_fts_ad;
                    DROP TRIGGER IF EXISTS __notes_fts_au;
                    CREATE TABLE notes_new (
                        rowNumber INTEGER PRIMARY KEY,
                        id TEXT NOT NULL,
                        ownerID TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                        title TEXT NOT NULL,
                        body TEXT NOT NULL,
                        tags TEXT NOT NULL,
                        createdAtMs INTEGER NOT NULL,
                        updatedAtMs INTEGER NOT NULL,
                        version INTEGER NOT NULL
                    );
                    INSERT INTO notes_new (rowNumber, id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version)
                        SELECT rowNumber, id, ownerID, title, body, tags, createdAtMs, updatedAtMs, version FROM notes;
                    DROP TABLE notes;
                    ALTER TABLE notes_new RENAME TO notes;
                    CREATE INDEX notes_by_owner_newest ON notes(ownerID, createdAtMs, id);
                    CREATE UNIQUE INDEX notes_by_key ON notes((substr(id, 25) || substr(id, 1, 24)));
                    """
            )
            try db.create(virtualTable: "notes_fts", using: FTS5()) { t in
                t.synchronize(withTable: "notes")
                t.tokenizer = .unicode61()
                t.column("title")
                t.column("body")
            }
        }
        return migrator
    }
}

/// Closes the database after the HTTP server has drained its in-flight requests
/// (ServiceLifecycle shuts services down in reverse order, the server first).
struct SQLiteCloser: Service {
    let writer: any DatabaseWriter

    func run() async throws {
        try? await gracefulShutdown()
        try writer.close()
    }
}

extension Date {
    /// Whole milliseconds since 1970, never trapping: NaN is 0, and a date beyond what Int64
    /// holds is its nearest end.
    var millisecondsSince1970: Int64 {
        let milliseconds = (timeIntervalSince1970 * 1000).rounded(.down)
        if let exact = Int64(exactly: milliseconds) { return exact }
        return milliseconds.isNaN ? 0 : (milliseconds < 0 ? .min : .max)
    }
    init(millisecondsSince1970 ms: Int64) { self.init(timeIntervalSince1970: TimeInterval(ms) / 1000) }
}
