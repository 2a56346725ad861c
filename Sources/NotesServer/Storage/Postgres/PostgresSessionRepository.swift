import Foundation
import Logging
import PostgresNIO

/// Session families and their refresh tokens. Rotation locks the token's row and then its
/// family's (always in that order, so no two calls wait on each other in a cycle): of
/// concurrent presentations of one token, exactly one finds it unspent.
struct PostgresSessionRepository: SessionRepository {
    let db: PostgresDatabase

    func createFamily(id: UUID, userID: UUID, tokenHash: String, createdAt: Date, expiresAt: Date, logger: Logger) async throws {
        let now = createdAt.millisecondsSince1970
        try await db.transaction(logger: logger) { connection in
            // Each login clears the user's dead sessions (their tokens go by cascade).
            try await connection.perform(
                "DELETE FROM session_families WHERE user_id = \(userID) AND (expires_at_ms <= \(now) OR revoked_at_ms IS NOT NULL)",
                logger: logger
            )
            try await connection.perform(
                """
                INSERT INTO session_families (id, user_id, created_at_ms, expires_at_ms)
                VALUES (\(id), \(userID), \(now), \(expiresAt.millisecondsSince1970))
                """,
                logger: logger
            )
            try await connection.perform(
                "INSERT INTO refresh_tokens (token_hash, family_id, issued_at_ms) VALUES (\(tokenHash), \(id), \(now))",
                logger: logger
            )
        }
    }

    func rotate(tokenHash: String, newTokenHash: String, at date: Date, logger: Logger) async throws -> RotationOutcome {
        let now = date.millisecondsSince1970
        return try await db.transaction(logger: logger) { connection in
            // FOR UPDATE re-reads the row once a competing rotation commits: the second one
            // sees the token spent.
            var token: (UUID, Int64?)?
            for try await row in try await connection.query(
                "SELECT family_id, spent_at_ms FROM refresh_tokens WHERE token_hash = \(tokenHash) FOR UPDATE",
                logger: logger
            ).decode((UUID, Int64?).self) {
                token = row
            }
            guard let (familyID, spentAt) = token else { return .invalid }
            var family: (UUID, Int64, Int64?)?
            for try await row in try await connection.query(
                "SELECT user_id, expires_at_ms, revoked_at_ms FROM session_families WHERE id = \(familyID) FOR UPDATE",
                logger: logger
            ).decode((UUID, Int64, Int64?).self) {
                family = row
            }
            guard let (userID, expiresAt, revokedAt) = family else { return .invalid }
            // A spent token is reuse, whatever state its family is in now.
            if spentAt != nil {
                if revokedAt == nil {
                    try await connection.perform("UPDATE session_families SET revoked_at_ms = \(now) WHERE id = \(familyID)", logger: logger)
                }
                return .reused
            }
            guard revokedAt == nil, expiresAt > now else { return .invalid }
            try await connection.perform("UPDATE refresh_tokens SET spent_at_ms = \(now) WHERE token_hash = \(tokenHash)", logger: logger)
            try await connection.perform(
                "INSERT INTO refresh_tokens (token_hash, family_id, issued_at_ms) VALUES (\(newTokenHash), \(familyID), \(now))",
                logger: logger
            )
            return .rotated(userID: userID, familyExpiresAt: Date(millisecondsSince1970: expiresAt))
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
