import Foundation
import GRDB

/// The SQLite engine, after GRDB's AppDatabase pattern: it owns a `DatabaseWriter` (a WAL
/// `DatabasePool` on disk) and the migrations, applied before the server starts.
struct SQLiteDatabase: Sendable {
    let writer: any DatabaseWriter

    init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try Self.migrator.migrate(writer)
    }

    /// Opens (creating if needed) the file at `path`, in WAL mode, and migrates it.
    static func open(path: String) throws -> SQLiteDatabase {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Created 0600 before SQLite opens it, so the WAL and shared-memory files, which SQLite
        // gives the database file's mode, are private too.
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        } else {
            // An existing file (a restored backup, say) is made private as well, when it is ours.
            chmod(path, 0o600)
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.label = "notes"
        return try SQLiteDatabase(DatabasePool(path: path, configuration: configuration))
    }

    /// The repositories over this database.
    var storage: Storage {
        let writer = self.writer
        return Storage(
            users: SQLiteUserRepository(writer: writer),
            notes: SQLiteNoteRepository(writer: writer),
            sessions: SQLiteSessionRepository(writer: writer),
            ping: { try await writer.read { db in _ = try Int.fetchOne(db, sql: "SELECT 1") } },
            close: { try writer.close() }
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
        return migrator
    }
}

extension Date {
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
    init(millisecondsSince1970 ms: Int64) { self.init(timeIntervalSince1970: TimeInterval(ms) / 1000) }
}
