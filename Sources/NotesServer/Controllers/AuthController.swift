import Foundation
import Hummingbird
import Logging
import NotesModels

/// Register, login, refresh, logout.
struct AuthController: Sendable {
    let users: any UserRepository
    let hasher: PasswordHasher
    let throttle: LoginThrottle
    let accessTokens: AccessTokens
    let refreshTokens: RefreshTokens
    let now: @Sendable () -> Date

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("register", use: register)
        group.post("login", use: login)
        group.post("refresh", use: refresh)
        group.post("logout", use: logout)
    }

    @Sendable func register(request: Request, context: AppRequestContext) async throws -> EditedResponse<User> {
        var request = request
        let credentials = try await request.decodeJSON(Credentials.self, context: context)
        var problems: [String: String] = [:]
        problems["username"] = Validate.username(credentials.username)
        problems["password"] = Validate.password(credentials.password)
        guard problems.isEmpty else { throw APIError.validation(problems) }
        let account = UserAccount(
            id: UUID(),
            username: credentials.username,
            passwordHash: try await hasher.hash(credentials.password),
            admin: false,
            createdAt: now()
        )
        do {
            try await users.create(account, logger: context.logger)
        } catch StorageError.usernameTaken {
            throw APIError.conflict("username '\(credentials.username)' is already taken")
        }
        context.logger.info("registered", metadata: ["user_id": .string(account.id.uuidString)])
        return EditedResponse(status: .created, response: User(account))
    }

    @Sendable func login(request: Request, context: AppRequestContext) async throws -> TokenPair {
        var request = request
        let credentials = try await request.decodeJSON(Credentials.self, context: context)
        // One reading of the clock for the whole request.
        let date = now()
        // A name that fails validation cannot exist: all of them share one throttle key.
        let key = Validate.username(credentials.username) == nil ? credentials.username : LoginThrottle.invalidNameKey
        // Counted before bcrypt runs (a place is taken), so concurrent guesses cannot slip
        // past the limit; settled with what the check said.
        try await throttle.begin(key: key, at: date, logger: context.logger)
        let account: UserAccount?
        let matches: Bool
        do {
            account = try await users.find(username: credentials.username, logger: context.logger)
            // An unknown username is checked against a decoy hash at the same cost: same time.
            // A password with a NUL is checked too (for the time), but never accepted: bcrypt
            // would stop reading at the NUL.
            matches = try await hasher.verify(credentials.password, hash: account?.passwordHash ?? hasher.decoyHash)
        } catch {
            // Refused before the password was checked (busy, or the database): not a failure.
            try? await throttle.settle(key: key, outcome: .cancelled, at: date, logger: context.logger)
            throw error
        }
        guard let account, matches, !credentials.password.utf8.contains(0) else {
            try await throttle.settle(key: key, outcome: .failure, at: date, logger: context.logger)
            // Attempted usernames are not logged: people type passwords into that field.
            context.logger.notice("login failed", metadata: ["user_id": .string(account?.id.uuidString ?? "unknown")])
            throw APIError.badCredentials
        }
        try await throttle.settle(key: key, outcome: .success, at: date, logger: context.logger)
        // After a --bcrypt-cost change, move the hash to the new cost while the password is at
        // hand; otherwise old accounts would answer at another speed than unknown names do.
        if hasher.needsRehash(account.passwordHash) {
            do {
                try await users.updatePasswordHash(id: account.id, to: try await hasher.hash(credentials.password), logger: context.logger)
            } catch {
                context.logger.warning("could not rehash a password at the new cost", metadata: ["user_id": .string(account.id.uuidString)])
            }
        }
        let session = try await refreshTokens.startFamily(userID: account.id, at: date, logger: context.logger)
        context.logger.info("logged in", metadata: ["user_id": .string(account.id.uuidString)])
        return try await pair(for: account, refreshToken: session.token, familyExpiresAt: session.expiresAt, at: date)
    }

    @Sendable func refresh(request: Request, context: AppRequestContext) async throws -> TokenPair {
        var request = request
        let body = try await request.decodeJSON(RefreshRequest.self, context: context)
        let date = now()
        let (outcome, newToken) = try await refreshTokens.rotate(body.refreshToken, at: date, logger: context.logger)
        switch outcome {
        case .invalid:
            throw APIError.badRefreshToken
        case .reused:
            context.logger.warning("refresh token reuse: session family revoked")
            throw APIError.authentication("refresh token was already used; the session is revoked, log in again")
        case .rotated(let userID, let familyExpiresAt):
            guard let account = try await users.find(id: userID, logger: context.logger) else { throw APIError.badRefreshToken }
            return try await pair(for: account, refreshToken: newToken, familyExpiresAt: familyExpiresAt, at: date)
        }
    }

    @Sendable func logout(request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(RefreshRequest.self, context: context)
        try await refreshTokens.revoke(body.refreshToken, at: now(), logger: context.logger)
        return Response(status: .noContent)
    }

    private func pair(for account: UserAccount, refreshToken: String, familyExpiresAt: Date, at date: Date) async throws -> TokenPair {
        let user = AuthenticatedUser(id: account.id, username: account.username, admin: account.admin)
        let accessToken = try await accessTokens.sign(user: user, at: date)
        return TokenPair(
            accessToken: accessToken,
            refreshToken: refreshToken,
            expiresIn: accessTokens.ttl,
            refreshExpiresIn: max(0, Int(familyExpiresAt.timeIntervalSince(date).rounded(.down)))
        )
    }
}

extension User {
    init(_ account: UserAccount) {
        self.init(id: account.id, username: account.username, admin: account.admin, createdAt: account.createdAt)
    }
}
