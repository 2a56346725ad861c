import Foundation
import JWTKit
import Logging

/// The access token's payload (API.md "Tokens").
struct AccessClaims: JWTPayload, Equatable {
    var sub: SubjectClaim
    var name: String
    var admin: Bool
    var iss: IssuerClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var jti: IDClaim
    /// The session the token belongs to (a UUID string).
    var sid: String?

    /// Time claims are checked by ``AccessTokens/verify(_:)`` after the signature, with the
    /// configured tolerance and the contract's error names, so nothing is checked here.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// The header fields read before any verification, to refuse a foreign `alg` or `kid` early.
private struct PeekedHeader: Decodable {
    var alg: String?
    var kid: String?
    var typ: String?
    var crit: [String]?
}

/// Signs and verifies access tokens with the keys of the ``KeyRing``, and maps every failure to
/// the contract's names (jsonwebtoken's messages).
struct AccessTokens: Sendable {
    let ring: KeyRing
    let issuer: String
    let audience: String
    let ttl: Int
    let clockTolerance: Int
    let now: @Sendable () -> Date

    func sign(user: AuthenticatedUser, at date: Date) async throws -> String {
        let issuedAt = Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
        let claims = AccessClaims(
            sub: SubjectClaim(value: user.id.uuidString),
            name: user.username,
            admin: user.admin,
            iss: IssuerClaim(value: issuer),
            aud: AudienceClaim(value: [audience]),
            iat: IssuedAtClaim(value: issuedAt),
            exp: ExpirationClaim(value: issuedAt.addingTimeInterval(TimeInterval(ttl))),
            nbf: nil,
            jti: IDClaim(value: UUID().uuidString),
            sid: user.sessionID?.uuidString
        )
        // Only a ring that was never prepared has no signing key: the server is not ready.
        guard let key = ring.signer(at: date) else { throw StorageError.unavailable }
        return try await key.keys.sign(claims, kid: JWKIdentifier(string: key.kid))
    }

    /// Whether `part` is base64url exactly as an encoder writes it (empty is: an unsigned
    /// token's signature, refused later for its algorithm).
    static func isCanonicalBase64URL(_ part: Substring) -> Bool {
        if part.isEmpty { return true }
        guard
            part.utf8.allSatisfy({ byte in
                (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x5F
            }), let data = Data(base64URLEncoded: part)
        else { return false }
        return data.base64URLEncoded == part
    }

    /// The verified identity of a bearer token, or the contract's error for it.
    func verify(_ token: String, logger: Logger? = nil) async throws(APIError) -> AuthenticatedUser {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        // Every part in canonical base64url (no padding, no stray bits), so one token has one
        // spelling: `==` appended, or a last character with other unused bits, is refused.
        guard parts.count == 3, parts.allSatisfy(Self.isCanonicalBase64URL) else { throw .invalidToken("jwt malformed") }
        guard let headerData = Data(base64URLEncoded: parts[0]),
            let header = try? JSONDecoder().decode(PeekedHeader.self, from: headerData)
        else {
            throw .invalidToken("jwt malformed")
        }
        let date = now()
        guard let alg = header.alg, ring.algorithms(at: date).contains(alg) else { throw .invalidToken("invalid algorithm") }
        // Only access tokens as this server writes them: no other token type, and no critical
        // extensions it would have to understand (RFC 7515 §4.1.11).
        guard header.typ == nil || header.typ?.uppercased() == "JWT", header.crit == nil else { throw .invalidToken("invalid token type") }
        // JWTKit falls back to its default key for an unknown kid, so the kid is looked up in
        // our own ring first, and JWTKit is handed only that key. A token without kid (node's
        // jsonwebtoken adds none) is checked against the signing key only.
        guard let key = await ring.verifier(kid: header.kid, at: date, logger: logger) else { throw .invalidToken("invalid kid") }
        // The algorithm is pinned per key: during a rotation to another algorithm each key
        // accepts only its own.
        guard alg == key.algorithm.rawValue else { throw .invalidToken("invalid algorithm") }

        let claims: AccessClaims
        do {
            claims = try await key.keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalidToken("invalid signature")
        } catch {
            // Which check failed, for whoever debugs a client; never the token itself.
            logger?.debug("access token refused by JWTKit", metadata: ["error_type": .string(String(reflecting: type(of: error)))])
            throw .invalidToken("jwt malformed")
        }

        let current = date.timeIntervalSince1970
        let tolerance = TimeInterval(clockTolerance)
        if let nbf = claims.nbf?.value, nbf.timeIntervalSince1970 > current + tolerance {
            throw .notBefore(nbf)
        }
        if current >= claims.exp.value.timeIntervalSince1970 + tolerance {
            throw .tokenExpired(at: claims.exp.value)
        }
        guard claims.aud.value.contains(audience) else { throw .invalidToken("jwt audience invalid. expected: \(audience)") }
        guard claims.iss.value == issuer else { throw .invalidToken("jwt issuer invalid. expected: \(issuer)") }
        guard let id = UUID(uuidString: claims.sub.value) else { throw .invalidToken("jwt subject invalid") }
        var sessionID: UUID?
        if let sid = claims.sid {
            guard let parsed = UUID(uuidString: sid) else { throw .invalidToken("jwt session invalid") }
            sessionID = parsed
        }
        return AuthenticatedUser(id: id, username: claims.name, admin: claims.admin, sessionID: sessionID)
    }
}
