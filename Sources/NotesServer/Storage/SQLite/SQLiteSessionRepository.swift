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
}

struct RefreshTokenRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "refreshTokens"
    /// SHA-256 of the token, hex: the token itself is never stored.
    var tokenHash: String
    var familyID: String
    var issuedAtMs: Int64
    var spentAtMs: Int64?
}

struct SQLiteSessionRepository: SessionRepository {
    let writer: any DatabaseWriter

    func createFamily(id: UUID, userID: UUID, tokenHash: String, createdAt: Date, expiresAt: Date, logger: Logger) async throws {
        try await writer.write { db in
            // Each login clears the user's dead sessions (their tokens go by cascade), so
            // spent and revoked rows do not pile up for ever.
            try db.execute(
                sql: "DELETE FROM sessionFamilies WHERE userID = ? AND (expiresAtMs <= ? OR revokedAtMs IS NOT NULL)",
                arguments: [userID.uuidString, createdAt.millisecondsSince1970]
            )
            try SessionFamilyRow(
                id: id.uuidString,
                userID: userID.uuidString,
                createdAtMs: createdAt.millisecondsSince1970,
                expiresAtMs: expiresAt.millisecondsSince1970,
                revokedAtMs: nil
            ).insert(db)
            try RefreshTokenRow(tokenHash: tokenHash, familyID: id.uuidString, issuedAtMs: createdAt.millisecondsSince1970, spentAtMs: nil)
                .insert(db)
        }
    }

    func rotate(tokenHash: String, newTokenHash: String, at date: Date, logger: Logger) async throws -> RotationOutcome {
        let now = date.millisecondsSince1970
        // One IMMEDIATE write transaction (GRDB's default for writes) holds SQLite's write lock
        // from its first statement: two requests presenting the same token are serialised, so
        // exactly one rotates it and the other is seen as reuse, across processes too.
        return try await writer.write { db in
            guard var token = try RefreshTokenRow.fetchOne(db, key: tokenHash),
                var family = try SessionFamilyRow.fetchOne(db, key: token.familyID),
                let userID = UUID(uuidString: family.userID)
            else { return .invalid }
            // A spent token is reuse, whatever state its family is in now.
            if token.spentAtMs != nil {
                if family.revokedAtMs == nil {
                    family.revokedAtMs = now
                    try family.update(db)
                }
                return .reused
            }
            guard family.revokedAtMs == nil, family.expiresAtMs > now else { return .invalid }
            token.spentAtMs = now
            try token.update(db)
            try RefreshTokenRow(tokenHash: newTokenHash, familyID: family.id, issuedAtMs: now, spentAtMs: nil).insert(db)
            return .rotated(userID: userID, familyExpiresAt: Date(millisecondsSince1970: family.expiresAtMs))
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
        let now = date.millisecondsSince1970
        try await writer.write { db in
            guard let token = try RefreshTokenRow.fetchOne(db, key: tokenHash),
                var family = try SessionFamilyRow.fetchOne(db, key: token.familyID),
                family.revokedAtMs == nil
            else { return }
            family.revokedAtMs = now
            try family.update(db)
        }
    }
}
