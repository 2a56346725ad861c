import Foundation
import Logging
import PostgresNIO

/// Login counts on PostgreSQL: each call locks the key's row (creating it if needed) with one
/// upsert, applies ``LoginThrottleRule`` and writes the result, in one transaction.
struct PostgresLoginAttemptRepository: LoginAttemptRepository {
    let db: PostgresDatabase

    /// Locks the key's row, creating it when missing, and returns what it holds.
    private static func lock(_ key: String, _ connection: PostgresConnection, logger: Logger) async throws -> LoginAttemptState {
        let rows = try await connection.query(
            """
            INSERT INTO login_attempts AS a (key, window_start_ms, failures, pending, pending_until_ms) VALUES (\(key), 0, 0, 0, 0)
            ON CONFLICT (key) DO UPDATE SET key = a.key
            RETURNING window_start_ms, failures, pending, pending_until_ms
            """,
            logger: logger
        )
        var state = LoginAttemptState()
        for try await (start, failures, pending, until) in rows.decode((Int64, Int, Int, Int64).self) {
            state = LoginAttemptState(windowStartMs: start, failures: failures, pending: pending, pendingUntilMs: until)
        }
        return state
    }

    private static func store(_ key: String, _ state: LoginAttemptState?, _ connection: PostgresConnection, logger: Logger) async throws {
        if let state {
            try await connection.perform(
                """
                UPDATE login_attempts SET window_start_ms = \(state.windowStartMs), failures = \(state.failures),
                    pending = \(state.pending), pending_until_ms = \(state.pendingUntilMs)
                WHERE key = \(key)
                """,
                logger: logger
            )
        } else {
            try await connection.perform("DELETE FROM login_attempts WHERE key = \(key)", logger: logger)
        }
    }

    func admit(key: String, at date: Date, rule: LoginThrottleRule, logger: Logger) async throws -> LoginAdmission {
        let now = date.millisecondsSince1970
        return try await db.transaction(logger: logger) { connection in
            let stored = try await Self.lock(key, connection, logger: logger)
            let (admission, state) = rule.admit(stored, now: now)
            let keep = state.failures > 0 || state.pending > 0 ? state : nil
            if state != stored || keep == nil { try await Self.store(key, keep, connection, logger: logger) }
            return admission
        }
    }

    func settle(key: String, outcome: LoginOutcome, at date: Date, rule: LoginThrottleRule, logger: Logger) async throws {
        let now = date.millisecondsSince1970
        try await db.transaction(logger: logger) { connection in
            let stored = try await Self.lock(key, connection, logger: logger)
            try await Self.store(key, rule.settle(stored, outcome: outcome, now: now), connection, logger: logger)
        }
    }

    func deleteExpired(at date: Date, rule: LoginThrottleRule, logger: Logger) async throws -> Int {
        let now = date.millisecondsSince1970
        return try await db.run(logger: logger) { client in
            try await client.query(
                """
                DELETE FROM login_attempts
                WHERE (failures = 0 OR window_start_ms + \(rule.windowMs) <= \(now)) AND (pending = 0 OR pending_until_ms <= \(now))
                RETURNING key
                """,
                logger: logger
            ).collect().count
        }
    }
}
