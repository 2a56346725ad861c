import Foundation
import GRDB
import Logging

struct LoginAttemptRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "loginAttempts"
    var key: String
    var windowStartMs: Int64
    var failures: Int
    var pending: Int
    var pendingUntilMs: Int64

    init(key: String, _ state: LoginAttemptState) {
        self.key = key
        windowStartMs = state.windowStartMs
        failures = state.failures
        pending = state.pending
        pendingUntilMs = state.pendingUntilMs
    }

    var state: LoginAttemptState {
        LoginAttemptState(windowStartMs: windowStartMs, failures: failures, pending: pending, pendingUntilMs: pendingUntilMs)
    }
}

/// Each call is one IMMEDIATE write transaction: SQLite's write lock is held from the read to
/// the write, the SQLite form of PostgreSQL's `SELECT … FOR UPDATE`.
struct SQLiteLoginAttemptRepository: LoginAttemptRepository {
    let writer: any DatabaseWriter

    func admit(key: String, at date: Date, rule: LoginThrottleRule, logger: Logger) async throws -> LoginAdmission {
        let now = date.millisecondsSince1970
        return try await writer.write { db in
            let stored = try LoginAttemptRow.fetchOne(db, key: key)?.state ?? LoginAttemptState()
            let (admission, state) = rule.admit(stored, now: now)
            if state != stored { try LoginAttemptRow(key: key, state).save(db) }
            return admission
        }
    }

    func settle(key: String, outcome: LoginOutcome, at date: Date, rule: LoginThrottleRule, logger: Logger) async throws {
        let now = date.millisecondsSince1970
        try await writer.write { db in
            let stored = try LoginAttemptRow.fetchOne(db, key: key)?.state ?? LoginAttemptState()
            if let state = rule.settle(stored, outcome: outcome, now: now) {
                try LoginAttemptRow(key: key, state).save(db)
            } else {
                _ = try LoginAttemptRow.deleteOne(db, key: key)
            }
        }
    }

    func deleteExpired(at date: Date, rule: LoginThrottleRule, logger: Logger) async throws -> Int {
        let now = date.millisecondsSince1970
        return try await writer.write { db in
            try db.execute(
                sql: """
                    DELETE FROM loginAttempts
                    WHERE (failures = 0 OR windowStartMs + ? <= ?) AND (pending = 0 OR pendingUntilMs <= ?)
                    """,
                arguments: [rule.windowMs, now, now]
            )
            return db.changesCount
        }
    }
}
