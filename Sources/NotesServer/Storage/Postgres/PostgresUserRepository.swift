import Foundation
import Logging
import PostgresNIO

struct PostgresUserRepository: UserRepository {
    let db: PostgresDatabase

    private typealias Row = (UUID, String, String, Bool, Int64)
    /// The columns an account is read with, in `Row`'s order.
    private static let columns = "id, username, password_hash, admin, created_at_ms"

    private static func account(_ row: Row) -> UserAccount {
        UserAccount(id: row.0, username: row.1, passwordHash: row.2, admin: row.3, createdAt: Date(millisecondsSince1970: row.4))
    }

    func create(_ account: UserAccount, logger: Logger) async throws {
        do {
            try await db.run(logger: logger) { client in
                try await client.perform(
                    """
                    INSERT INTO users (id, username, password_hash, admin, created_at_ms)
                    VALUES (\(account.id), \(account.username), \(account.passwordHash), \(account.admin), \(account.createdAt.millisecondsSince1970))
                    """,
                    logger: logger
                )
            }
        } catch  where PostgresDatabase.isUniqueViolation(error) {
            throw StorageError.usernameTaken
        }
    }

    func find(username: String, logger: Logger) async throws -> UserAccount? {
        try await db.run(logger: logger) { client in
            try await client.query(
                "SELECT \(unescaped: Self.columns) FROM users WHERE username = \(username)",
                logger: logger
            ).decode(Row.self).first { _ in true }.map(Self.account)
        }
    }

    /// Every authenticated request but a few looks its user up by id: prepared once per
    /// connection, so PostgreSQL parses and plans it once, not per request.
    private struct ByID: PostgresPreparedStatement {
        static let name = "notes_user_by_id"
        static let sql = "SELECT \(PostgresUserRepository.columns) FROM users WHERE id = $1"
        typealias Row = PostgresUserRepository.Row
        let id: UUID
        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(id)
            return bindings
        }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    func find(id: UUID, logger: Logger) async throws -> UserAccount? {
        try await db.run(logger: logger) { client in
            try await client.execute(ByID(id: id), logger: logger).first { _ in true }.map(Self.account)
        }
    }

    func all(logger: Logger) async throws -> [UserAccount] {
        try await db.run(logger: logger) { client in
            var accounts: [UserAccount] = []
            for try await row in try await client.query(
                "SELECT \(unescaped: Self.columns) FROM users ORDER BY created_at_ms, id",
                logger: logger
            ).decode(Row.self) {
                accounts.append(Self.account(row))
            }
            return accounts
        }
    }

    func updatePasswordHash(id: UUID, to hash: String, logger: Logger) async throws {
        try await db.run(logger: logger) { client in
            try await client.perform("UPDATE users SET password_hash = \(hash) WHERE id = \(id)", logger: logger)
        }
    }
}
