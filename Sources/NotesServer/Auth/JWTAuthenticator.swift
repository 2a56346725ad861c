import Foundation
import Hummingbird
import HummingbirdAuth

/// Reads `Authorization: Bearer <jwt>`. No header, or another scheme, leaves the request
/// anonymous (the ``AuthenticatedContext`` step refuses it); a bearer token that does not
/// verify is refused here with the contract's precise error. A token that verified before and
/// is still within its lifetime is answered from `cache`, when there is one.
struct JWTAuthenticator: AuthenticatorMiddleware {
    typealias Context = AppRequestContext
    let tokens: AccessTokens
    var cache: VerifiedTokenCache? = nil

    func authenticate(request: Request, context: Context) async throws -> AuthenticatedUser? {
        guard let header = request.headers[.authorization], let token = Self.bearerToken(header) else { return nil }
        if let cache {
            let now = tokens.now()
            // Read before verifying: if the keys change meanwhile, the entry is simply stale.
            let generation = tokens.ring.generation(at: now)
            if let user = cache.user(for: token, at: now, generation: generation) { return user }
            let user = try await tokens.verify(token, logger: context.logger)
            cache.insert(token, user: user, at: now, generation: generation)
            return user
        }
        return try await tokens.verify(token, logger: context.logger)
    }

    /// The token of a `Bearer` credential (scheme matched case-insensitively, white space
    /// around the parts ignored); nil for another scheme or an empty token.
    static func bearerToken(_ header: String) -> String? {
        // The usual header is printable ASCII: scanned as bytes, where one byte is one
        // Character and `.whitespaces` means space and tab. Anything else takes the
        // Unicode-aware path, which trims every kind of white space.
        guard header.utf8.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x09 }) else { return unicodeBearerToken(header) }
        let bytes = header.utf8
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isBlank(bytes[start]) { start = bytes.index(after: start) }
        while end > start, isBlank(bytes[bytes.index(before: end)]) { end = bytes.index(before: end) }
        var schemeEnd = start
        while schemeEnd < end, bytes[schemeEnd] != UInt8(ascii: " ") { schemeEnd = bytes.index(after: schemeEnd) }
        guard bytes.distance(from: start, to: schemeEnd) == 6,
            zip(bytes[start..<schemeEnd], "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 })
        else { return nil }
        var tokenStart = schemeEnd
        while tokenStart < end, isBlank(bytes[tokenStart]) { tokenStart = bytes.index(after: tokenStart) }
        guard tokenStart < end else { return nil }
        return String(header[tokenStart..<end])
    }

    static func unicodeBearerToken(_ header: String) -> String? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        let scheme = trimmed.prefix(while: { $0 != " " })
        guard scheme.lowercased() == "bearer" else { return nil }
        let token = trimmed.dropFirst(scheme.count).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}
