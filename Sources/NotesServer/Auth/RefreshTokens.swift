import Crypto
import Foundation
import Logging

/// Opaque refresh tokens: 256 random bits, base64url; only their SHA-256 is stored. Each use
/// rotates the token; a rotated one presented again revokes its whole family.
struct RefreshTokens: Sendable {
    let sessions: any SessionRepository
    /// Seconds a family lives from its login; rotation does not extend it.
    let ttl: Int
    var limits = SessionLimits()

    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64URLEncoded
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// A new family for a fresh login: its first token and its expiry.
    func startFamily(userID: UUID, at created: Date, logger: Logger) async throws -> (id: UUID, token: String, expiresAt: Date) {
        let token = Self.generate()
        let id = UUID()
        let expires = created.addingTimeInterval(TimeInterval(ttl))
        try await sessions.createFamily(
            id: id,
            userID: userID,
            tokenHash: Self.hash(token),
            createdAt: created,
            expiresAt: expires,
            limits: limits,
            logger: logger
        )
        return (id, token, expires)
    }

    func rotate(_ token: String, at date: Date, logger: Logger) async throws -> (outcome: RotationOutcome, newToken: String) {
        let next = Self.generate()
        let outcome = try await sessions.rotate(tokenHash: Self.hash(token), newTokenHash: Self.hash(next), at: date, limits: limits, logger: logger)
        return (outcome, next)
    }

    func revoke(_ token: String, at date: Date, logger: Logger) async throws {
        try await sessions.revokeFamily(tokenHash: Self.hash(token), at: date, logger: logger)
    }
}
