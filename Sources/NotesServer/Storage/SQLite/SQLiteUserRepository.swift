import Foundation
import GRDB
import Logging

struct UserRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "users"
    var id: String
    var username: String
    var passwordHash: String
    var admin: Bool
    var createdAtMs: Int64

    enum Columns {
        static let id = Column(CodingKeys.id)
        static let username = Column(CodingKeys.username)
        static let createdAtMs = Column(CodingKeys.createdAtMs)
    }

    init(_ account: UserAccount) {
        id = account.id.uuidString
        username = account.username
        passwordHash = account.passwordHash
        admin = account.admin
        createdAtMs = account.createdAt.millisecondsSince1970
    }

    var account: UserAccount? {
        guard let uuid = UUIDText.parse(id) else { return nil }
        return UserAccount(
            id: uuid,
            username: username,
            passwordHash: passwordHash,
            admin: admin,
            createdAt: Date(millisecondsSince1970: createdAtMs)
        )
    }
}

struct SQLiteUserRepository: UserRepository {
    let writer: any DatabaseWriter

    func create(_ account: UserAccount, logger: Logger) async throws {
        do {
            try await writer.write { db in try UserRow(account).insert(db) }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw StorageError.usernameTaken
        }
    }

    func find(username: String, logger: Logger) async throws -> UserAccount? {
        try writer.readStatement { db in
            try UserRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE username = ?"), arguments: [username])?.account
        }
    }

    func find(id: UUID, logger: Logger) async throws -> UserAccount? {
        // A statement prepared once per connection: compiling it cost more than running it.
        try writer.readStatement { db in
            try UserRow.fetchOne(db.cachedStatement(sql: "SELECT * FROM users WHERE id = ?"), arguments: [id.uuidString])?.account
        }
    }

    func updatePasswordHash(id: UUID, to hash: String, logger: Logger) async throws {
        try await writer.write { db in
            try db.execute(sql: "UPDATE users SET passwordHash = ? WHERE id = ?", arguments: [hash, id.uuidString])
        }
    }

    func all(logger: Logger) async throws -> [UserAccount] {
        try await writer.read { db in
            try UserRow.order(UserRow.Columns.createdAtMs, UserRow.Columns.id).fetchAll(db).compactMap(\.account)
        }
    }
}
