import Foundation
import Logging
import PostgresNIO

/// Each change is one transaction that first takes the ring's transaction-level advisory lock,
/// so changes by different replicas (and `notes-server keys`) run one after another; a partial
/// unique index keeps the current key to one even so.
struct PostgresSigningKeyRepository: SigningKeyRepository {
    let db: PostgresDatabase

    /// The ring's advisory lock key ("keyring" in ASCII).
    static let lockKey: Int64 = 0x6b_6579_7269_6e67

    private typealias Row = (String, String?, Int64?, String, String, String, Int64, Int64, Int64?, Int64?)

    private static let columns =
        "kid, legacy_kid, legacy_until_ms, algorithm, private_key_pem, state, created_at_ms, activates_at_ms, retires_at_ms, retired_at_ms"

    private static func key(_ row: Row) -> StoredSigningKey? {
        guard let state = KeyState(rawValue: row.5) else { return nil }
        return StoredSigningKey(
            kid: row.0,
            legacyKid: row.1,
            legacyUntilMs: row.2,
            algorithm: row.3,
            privateKeyPEM: row.4,
            state: state,
            createdAtMs: row.6,
            activatesAtMs: row.7,
            retiresAtMs: row.8,
            retiredAtMs: row.9
        )
    }

    func all(logger: Logger) async throws -> [StoredSigningKey] {
        try await db.run(logger: logger) { client in
            var keys: [StoredSigningKey] = []
            let rows = try await client.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM notes_signing_keys ORDER BY created_at_ms"),
                logger: logger
            )
            for try await row in rows.decode(Row.self) { if let key = Self.key(row) { keys.append(key) } }
            return keys
        }
    }

    func change(logger: Logger, _ plan: @escaping @Sendable ([StoredSigningKey]) throws -> RingChange) async throws -> RingChange {
        try await db.transaction(logger: logger) { connection in
            try await connection.perform("SELECT pg_advisory_xact_lock(\(Self.lockKey))", logger: logger)
            var keys: [StoredSigningKey] = []
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT \(Self.columns) FROM notes_signing_keys ORDER BY created_at_ms"),
                logger: logger
            )
            for try await row in rows.decode(Row.self) { if let key = Self.key(row) { keys.append(key) } }
            let change = try plan(keys)
            // Rows leaving `current` first, so the one-current index never sees two.
            for key in change.updates.sorted(by: { ($0.state == .current ? 1 : 0) < ($1.state == .current ? 1 : 0) }) {
                try await connection.perform(
                    """
                    UPDATE notes_signing_keys SET state = \(key.state.rawValue), activates_at_ms = \(key.activatesAtMs),
                        retires_at_ms = \(key.retiresAtMs), retired_at_ms = \(key.retiredAtMs), legacy_until_ms = \(key.legacyUntilMs)
                    WHERE kid = \(key.kid)
                    """,
                    logger: logger
                )
            }
            for key in change.inserts {
                try await connection.perform(
                    """
                    INSERT INTO notes_signing_keys (\(unescaped: Self.columns))
                    VALUES (\(key.kid), \(key.legacyKid), \(key.legacyUntilMs), \(key.algorithm), \(key.privateKeyPEM), \(key.state.rawValue),
                        \(key.createdAtMs), \(key.activatesAtMs), \(key.retiresAtMs), \(key.retiredAtMs))
                    """,
                    logger: logger
                )
            }
            return change
        }
    }

    func secret(named name: String, make: @escaping @Sendable () -> Data, logger: Logger) async throws -> Data {
        try await db.run(logger: logger) { client in
            let candidate = ByteBuffer(bytes: make())
            try await client.perform(
                "INSERT INTO notes_server_secrets (name, value) VALUES (\(name), \(candidate)) ON CONFLICT (name) DO NOTHING",
                logger: logger
            )
            for try await value in try await client.query("SELECT value FROM notes_server_secrets WHERE name = \(name)", logger: logger)
                .decode(ByteBuffer.self)
            {
                return Data(value.readableBytesView)
            }
            throw StorageError.unavailable
        }
    }
}
