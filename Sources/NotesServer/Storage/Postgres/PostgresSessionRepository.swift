import Foundation
import Logging
import PostgresNIO

/// Session families and their refresh tokens. Rotation locks the token's row and then its
/// family's (always in that order, so no two calls wait on each other in a cycle): of
/// concurrent presentations of one token, exactly one finds it unspent. A login locks its
/// user's row, so the bound on live sessions holds under concurrent logins.
struct PostgresSessionRepository: SessionRepository {
    let db: PostgresDatabase

    func createFamily(
        id: UUID,
        userID: UUID,
        tokenHash: String,
        createdAt: Date,
        expiresAt: Date,
        limits: SessionLimits,
        logger: Logger
    ) async throws {
        let now = createdAt.millisecondsSince1970
        try await db.transaction(logger: logger) { connection in
            try await connection.perform("SELECT 1 FROM users WHERE id = \(userID) FOR UPDATE", logger: logger)
            // Each login clears the user's dead sessions (their tokens go by cascade).
            try await connection.perform(
                "DELETE FROM session_families WHERE user_id = \(userID) AND (expires_at_ms <= \(now) OR revoked_at_ms IS NOT NULL)",
                logger: logger
            )
            try await connection.perform(
                """
                INSERT INTO session_families (id, user_id, created_at_ms, expires_at_ms, last_used_at_ms)
                VALUES (\(id), \(userID), \(now), \(expiresAt.millisecondsSince1970), \(now))
                """,
                logger: logger
            )
            try await connection.perform(
                "INSERT INTO refresh_tokens (token_hash, family_id, issued_at_ms) VALUES (\(tokenHash), \(id), \(now))",
                logger: logger
            )
            // At most so many live sessions: the oldest beyond the bound end now.
            try await connection.perform(
                """
                UPDATE session_families SET revoked_at_ms = \(now)
                WHERE id IN (
                    SELECT id FROM session_families WHERE user_id = \(userID) AND revoked_at_ms IS NULL AND expires_at_ms > \(now)
                    ORDER BY created_at_ms DESC, id DESC OFFSET \(limits.maxLivePerUser)
                )
                """,
                logger: logger
            )
        }
    }

    func rotate(tokenHash: String, newTokenHash: String, at date: Date, limits: SessionLimits, logger: Logger) async throws -> RotationOutcome {
        let now = date.millisecondsSince1970
        return try await db.transaction(logger: logger) { connection in
            // FOR UPDATE re-reads the row once a competing rotation commits: the second one
            // sees the token spent.
            var token: (UUID, Int64?, Int)?
            for try await row in try await connection.query(
                "SELECT family_id, spent_at_ms, generation FROM refresh_tokens WHERE token_hash = \(tokenHash) FOR UPDATE",
                logger: logger
            ).decode((UUID, Int64?, Int).self) {
                token = row
            }
            guard let (familyID, spentAt, generation) = token else { return .invalid }
            var family: (UUID, Int64, Int64?)?
            for try await row in try await connection.query(
                "SELECT user_id, expires_at_ms, revoked_at_ms FROM session_families WHERE id = \(familyID) FOR UPDATE",
                logger: logger
            ).decode((UUID, Int64, Int64?).self) {
                family = row
            }
            guard let (userID, expiresAt, revokedAt) = family else { return .invalid }
            switch RotationRule.decide(spent: spentAt != nil, revoked: revokedAt != nil, expiresAtMs: expiresAt, now: now) {
            case .reuse:
                if revokedAt == nil {
                    try await connection.perform("UPDATE session_families SET revoked_at_ms = \(now) WHERE id = \(familyID)", logger: logger)
                }
                return .reused
            case .expired: return .expired
            case .revoked: return .invalid
            case .rotate: break
            }
            try await connection.perform("UPDATE refresh_tokens SET spent_at_ms = \(now) WHERE token_hash = \(tokenHash)", logger: logger)
            try await connection.perform(
                """
                INSERT INTO refresh_tokens (token_hash, family_id, issued_at_ms, generation)
                VALUES (\(newTokenHash), \(familyID), \(now), \(generation + 1))
                """,
                logger: logger
            )
            try await connection.perform(
                "UPDATE session_families SET last_used_at_ms = GREATEST(last_used_at_ms, \(now)) WHERE id = \(familyID)",
                logger: logger
            )
            // Only the newest spent tokens are kept for reuse detection.
            try await connection.perform(
                """
                DELETE FROM refresh_tokens
                WHERE family_id = \(familyID) AND spent_at_ms IS NOT NULL AND generation <= \(generation - limits.spentTokensKept)
                """,
                logger: logger
            )
            return .rotated(userID: userID, familyID: familyID, familyExpiresAt: Date(millisecondsSince1970: expiresAt))
        }
    }

    func revokeFamily(tokenHash: String, at date: Date, logger: Logger) async throws {
        let now = date.millisecondsSince1970
        try await db.run(logger: logger) { client in
            try await client.perform(
                """
                UPDATE session_families SET revoked_at_ms = \(now)
                WHERE id = (SELECT family_id FROM refresh_tokens WHERE token_hash = \(tokenHash)) AND revoked_at_ms IS NULL
                """,
                logger: logger
            )
        }
    }

    func live(userID: UUID, at date: Date, logger: Logger) async throws -> [SessionRecord] {
        let now = date.millisecondsSince1970
        return try await db.run(logger: logger) { client in
            var sessions: [SessionRecord] = []
            for try await (id, created, lastUsed, expires) in try await client.query(
                """
                SELECT id, created_at_ms, last_used_at_ms, expires_at_ms FROM session_families
                WHERE user_id = \(userID) AND revoked_at_ms IS NULL AND expires_at_ms > \(now)
                ORDER BY created_at_ms DESC, id DESC
                """,
                logger: logger
            ).decode((UUID, Int64, Int64, Int64).self) {
                sessions.append(
                    SessionRecord(
                        id: id,
                        createdAt: Date(millisecondsSince1970: created),
                        lastUsedAt: Date(millisecondsSince1970: lastUsed),
                        expiresAt: Date(millisecondsSince1970: expires)
                    )
                )
            }
            return sessions
        }
    }

    func revoke(id: UUID, userID: UUID, at date: Date, logger: Logger) async throws -> Bool {
        let now = date.millisecondsSince1970
        return try await db.run(logger: logger) { client in
            try await !client.query(
                """
                UPDATE session_families SET revoked_at_ms = COALESCE(revoked_at_ms, \(now))
                WHERE id = \(id) AND user_id = \(userID) RETURNING id
                """,
                logger: logger
            ).collect().isEmpty
        }
    }

    func revokeAll(userID: UUID, except: UUID?, at date: Date, logger: Logger) async throws {
        let now = date.millisecondsSince1970
        try await db.run(logger: logger) { client in
            try await client.perform(
                """
                UPDATE session_families SET revoked_at_ms = \(now)
                WHERE user_id = \(userID) AND revoked_at_ms IS NULL AND id IS DISTINCT FROM \(except)::uuid
                """,
                logger: logger
            )
        }
    }

    func deleteEnded(at date: Date, logger: Logger) async throws -> Int {
        let now = date.millisecondsSince1970
        return try await db.run(logger: logger) { client in
            try await client.query(
                "DELETE FROM session_families WHERE expires_at_ms <= \(now) OR revoked_at_ms IS NOT NULL RETURNING id",
                logger: logger
            ).collect().count
        }
    }
}
