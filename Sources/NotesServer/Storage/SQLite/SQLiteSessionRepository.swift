import Foundation
import GRDB
import Logging

struct SessionFamilyRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "sessionFamilies"
    var id: String
    var userID: String
    var createdAtMs: Int64
    var expiresAtMs: Int64
    var revokedAtMs: Int64?
    var lastUsedAtMs: Int64

    var record: SessionRecord? {
        guard let id = UUID(uuidString: id) else { return nil }
        return SessionRecord(
            id: id,
            createdAt: Date(millisecondsSince1970: createdAtMs),
            lastUsedAt: Date(millisecondsSince1970: lastUsedAtMs),
            expiresAt: Date(millisecondsSince1970: expiresAtMs)
        )
    }
}

struct RefreshTokenRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "refreshTokens"
    /// SHA-256 of the token, hex: the token itself is never stored.
    var tokenHash: String
    var familyID: String
    var issuedAtMs: Int64
    var spentAtMs: Int64?
    /// The token's place in its family: the first is 0, each rotation adds one.
    var generation: Int
}

/// Every call is one IMMEDIATE write transaction (GRDB's default for writes): SQLite's write
/// lock is held from the first statement, the SQLite form of PostgreSQL's row locks. Two
/// requests presenting the same token are serialised, so exactly one rotates it and the other
/// is seen as reuse, across processes too.
struct SQLiteSessionRepository: SessionRepository {
    let writer: any DatabaseWriter

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
        try await writer.write { db in
            // Each login clears the user's dead sessions (their tokens go by cascade), so
            // spent and revoked rows do not pile up for ever.
            try db.execute(
                sql: "DELETE FROM sessionFamilies WHERE userID = ? AND (expiresAtMs <= ? OR revokedAtMs IS NOT NULL)",
                arguments: [userID.uuidString, now]
            )
            try SessionFamilyRow(
                id: id.uuidString,
                userID: userID.uuidString,
                createdAtMs: now,
                expiresAtMs: expiresAt.millisecondsSince1970,
                revokedAtMs: nil,
                lastUsedAtMs: now
            ).insert(db)
            try RefreshTokenRow(tokenHash: tokenHash, familyID: id.uuidString, issuedAtMs: now, spentAtMs: nil, generation: 0).insert(db)
            // At most so many live sessions: the oldest beyond the bound end now.
            try db.execute(
                sql: """
                    UPDATE sessionFamilies SET revokedAtMs = ?
                    WHERE id IN (
                        SELECT id FROM sessionFamilies WHERE userID = ? AND revokedAtMs IS NULL AND expiresAtMs > ?
                        ORDER BY createdAtMs DESC, id DESC LIMIT -1 OFFSET ?
                    )
                    """,
                arguments: [now, userID.uuidString, now, limits.maxLivePerUser]
            )
        }
    }

    func rotate(tokenHash: String, newTokenHash: String, at date: Date, limits: SessionLimits, logger: Logger) async throws -> RotationOutcome {
        let now = date.millisecondsSince1970
        return try await writer.write { db in
            guard var token = try RefreshTokenRow.fetchOne(db, key: tokenHash),
                var family = try SessionFamilyRow.fetchOne(db, key: token.familyID),
                let userID = UUID(uuidString: family.userID), let familyID = UUID(uuidString: family.id)
            else { return .invalid }
            switch RotationRule.decide(spent: token.spentAtMs != nil, revoked: family.revokedAtMs != nil, expiresAtMs: family.expiresAtMs, now: now) {
            case .reuse:
                if family.revokedAtMs == nil {
                    family.revokedAtMs = now
                    try family.update(db)
                }
                return .reused
            case .expired: return .expired
            case .revoked: return .invalid
            case .rotate: break
            }
            token.spentAtMs = now
            try token.update(db)
            try RefreshTokenRow(tokenHash: newTokenHash, familyID: family.id, issuedAtMs: now, spentAtMs: nil, generation: token.generation + 1)
                .insert(db)
            family.lastUsedAtMs = max(family.lastUsedAtMs, now)
            try family.update(db)
            // Only the newest spent tokens are kept for reuse detection.
            try db.execute(
                sql: "DELETE FROM refreshTokens WHERE familyID = ? AND spentAtMs IS NOT NULL AND generation <= ?",
                arguments: [family.id, token.generation - limits.spentTokensKept]
            )
            return .rotated(userID: userID, familyID: familyID, familyExpiresAt: Date(millisecondsSince1970: family.expiresAtMs))
        }
    }

    func live(userID: UUID, at date: Date, logger: Logger) async throws -> [SessionRecord] {
        try await writer.read { db in
            try SessionFamilyRow.fetchAll(
                db,
                sql: """
                    SELECT * FROM sessionFamilies WHERE userID = ? AND revokedAtMs IS NULL AND expiresAtMs > ?
                    ORDER BY createdAtMs DESC, id DESC
                    """,
                arguments: [userID.uuidString, date.millisecondsSince1970]
            ).compactMap(\.record)
        }
    }

    func revoke(id: UUID, userID: UUID, at date: Date, logger: Logger) async throws -> Bool {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE sessionFamilies SET revokedAtMs = COALESCE(revokedAtMs, ?) WHERE id = ? AND userID = ?",
                arguments: [date.millisecondsSince1970, id.uuidString, userID.uuidString]
            )
            return db.changesCount > 0
        }
    }

    func revokeAll(userID: UUID, except: UUID?, at date: Date, logger: Logger) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "UPDATE sessionFamilies SET revokedAtMs = ? WHERE userID = ? AND revokedAtMs IS NULL AND id IS NOT ?",
                arguments: [date.millisecondsSince1970, userID.uuidString, except?.uuidString]
            )
        }
    }

    func deleteEnded(at date: Date, logger: Logger) async throws -> Int {
        try await writer.write { db in
            try db.execute(
                sql: "DELETE FROM sessionFamilies WHERE expiresAtMs <= ? OR revokedAtMs IS NOT NULL",
                arguments: [date.millisecondsSince1970]
            )
            return db.changesCount
        }
    }

    func revokeFamily(tokenHash: String, at date: Date, logger: Logger) async throws {
        try await writer.write { db in
            try db.execute(
                sql: """
                    UPDATE sessionFamilies SET revokedAtMs = ?
                    WHERE id = (SELECT familyID FROM refreshTokens WHERE tokenHash = ?) AND revokedAtMs IS NULL
                    """,
                arguments: [date.millisecondsSince1970, tokenHash]
            )
        }
    }
}

/// What presenting a refresh token means, the same on every engine: a spent token is reuse
/// whatever its family's state; otherwise a revoked family is refused, an ended one expired.
enum RotationRule {
    enum Decision {
        case rotate, reuse, expired, revoked
    }

    static func decide(spent: Bool, revoked: Bool, expiresAtMs: Int64, now: Int64) -> Decision {
        if spent { return .reuse }
        if revoked { return .revoked }
        if expiresAtMs <= now { return .expired }
        return .rotate
    }
}
