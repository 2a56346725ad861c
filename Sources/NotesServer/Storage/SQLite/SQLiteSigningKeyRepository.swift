import Foundation
import GRDB
import Logging

struct SigningKeyRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "signingKeys"
    var kid: String
    var legacyKid: String?
    var legacyUntilMs: Int64?
    var algorithm: String
    var privateKeyPEM: String
    var state: String
    var createdAtMs: Int64
    var activatesAtMs: Int64
    var retiresAtMs: Int64?
    var retiredAtMs: Int64?

    init(_ key: StoredSigningKey) {
        kid = key.kid
        legacyKid = key.legacyKid
        legacyUntilMs = key.legacyUntilMs
        algorithm = key.algorithm
        privateKeyPEM = key.privateKeyPEM
        state = key.state.rawValue
        createdAtMs = key.createdAtMs
        activatesAtMs = key.activatesAtMs
        retiresAtMs = key.retiresAtMs
        retiredAtMs = key.retiredAtMs
    }

    /// Nil for a row with a state this version does not know (written by a newer one).
    var key: StoredSigningKey? {
        guard let state = KeyState(rawValue: state) else { return nil }
        return StoredSigningKey(
            kid: kid,
            legacyKid: legacyKid,
            legacyUntilMs: legacyUntilMs,
            algorithm: algorithm,
            privateKeyPEM: privateKeyPEM,
            state: state,
            createdAtMs: createdAtMs,
            activatesAtMs: activatesAtMs,
            retiresAtMs: retiresAtMs,
            retiredAtMs: retiredAtMs
        )
    }
}

/// Each change is one write transaction: SQLite's write lock is held from the read to the
/// write, and a unique index on the current state keeps it to one key even so.
struct SQLiteSigningKeyRepository: SigningKeyRepository {
    let writer: any DatabaseWriter

    func all(logger: Logger) async throws -> [StoredSigningKey] {
        try await writer.read { db in try SigningKeyRow.order(Column("createdAtMs")).fetchAll(db).compactMap(\.key) }
    }

    func change(logger: Logger, _ plan: @escaping @Sendable ([StoredSigningKey]) throws -> RingChange) async throws -> RingChange {
        try await writer.write { db in
            let keys = try SigningKeyRow.order(Column("createdAtMs")).fetchAll(db).compactMap(\.key)
            let change = try plan(keys)
            // Rows leaving `current` first, so the one-current index never sees two.
            for key in change.updates.sorted(by: { ($0.state == .current ? 1 : 0) < ($1.state == .current ? 1 : 0) }) {
                try SigningKeyRow(key).update(db)
            }
            for key in change.inserts { try SigningKeyRow(key).insert(db) }
            return change
        }
    }

    func secret(named name: String, make: @escaping @Sendable () -> Data, logger: Logger) async throws -> Data {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO serverSecrets (name, value) VALUES (?, ?)", arguments: [name, make()])
            guard let value = try Data.fetchOne(db, sql: "SELECT value FROM serverSecrets WHERE name = ?", arguments: [name]) else {
                throw StorageError.unavailable
            }
            return value
        }
    }
}
