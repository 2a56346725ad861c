import Foundation
import Hummingbird
import HummingbirdAuth

/// Reads `Authorization: Bearer <jwt>`. No header, or another scheme, leaves the request
/// anonymous (the ``AuthenticatedContext`` step refuses it); a bearer token that does not
/// verify is refused here with the contract's precise error.
struct JWTAuthenticator: AuthenticatorMiddleware {
    typealias Context = AppRequestContext
    let tokens: AccessTokens

    func authenticate(request: Request, context: Context) async throws -> AuthenticatedUser? {
        guard let header = request.headers[.authorization] else { return nil }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        let scheme = trimmed.prefix(while: { $0 != " " })
        guard scheme.lowercased() == "bearer" else { return nil }
        let token = trimmed.dropFirst(scheme.count).trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty else { return nil }
        return try await tokens.verify(token, logger: context.logger)
    }
}
