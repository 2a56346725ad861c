import Foundation
import Hummingbird
import Logging
import NotesModels

/// Register, login, refresh, logout; and for a signed-in user: password change and sessions.
struct AuthController: Sendable {
    let users: any UserRepository
    let sessions: any SessionRepository
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

    /// The routes that need a bearer token, under `/auth`.
    func addProtectedRoutes(to group: RouterGroup<AuthenticatedContext>) {
        group.post("password", use: changePassword)
        group.get("sessions", use: listSessions)
        group.delete("sessions", use: revokeAllSessions)
        group.delete("sessions/:id", use: revokeSession)
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

    @Sendable func login(request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        let credentials = try await request.decodeJSON(Credentials.self, context: context)
        // One reading of the clock for the whole request.
        let date = now()
        // A name that fails validation cannot exist: all of them share one throttle key.
        let key = Validate.username(credentials.username) == nil ? credentials.username : LoginThrottle.invalidNameKey
        let found = try await checkPassword(credentials.password, key: key, at: date, logger: context.logger) {
            try await users.find(username: credentials.username, logger: context.logger)
        }
        guard let account = found else {
            // Attempted usernames are not logged: people type passwords into that field.
            context.logger.notice("login failed")
            throw APIError.badCredentials
        }
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
        return try await pair(for: account, session: session.id, refreshToken: session.token, familyExpiresAt: session.expiresAt, at: date)
    }

    @Sendable func refresh(request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(RefreshRequest.self, context: context)
        let date = now()
        let (outcome, newToken) = try await refreshTokens.rotate(body.refreshToken, at: date, logger: context.logger)
        switch outcome {
        case .invalid:
            throw APIError.badRefreshToken
        case .expired:
            throw APIError.authentication("refresh token has expired (the session is over); log in again")
        case .reused:
            context.logger.warning("refresh token reuse: session family revoked")
            throw APIError.authentication("refresh token was already used; the session is revoked, log in again")
        case .rotated(let userID, let familyID, let familyExpiresAt):
            guard let account = try await users.find(id: userID, logger: context.logger) else { throw APIError.badRefreshToken }
            return try await pair(for: account, session: familyID, refreshToken: newToken, familyExpiresAt: familyExpiresAt, at: date)
        }
    }

    @Sendable func logout(request: Request, context: AppRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(RefreshRequest.self, context: context)
        try await refreshTokens.revoke(body.refreshToken, at: now(), logger: context.logger)
        return Response(status: .noContent)
    }

    /// Checks `password` against the account `find` returns, as the login throttle wants it:
    /// a place is taken under `key` before bcrypt runs (so concurrent guesses cannot slip past
    /// the limit) and settled with what the check said. The account when the password is its
    /// own, else nil (counted as a failure).
    private func checkPassword(
        _ password: String,
        key: String,
        at date: Date,
        logger: Logger,
        find: () async throws -> UserAccount?
    ) async throws -> UserAccount? {
        try await throttle.begin(key: key, at: date, logger: logger)
        let account: UserAccount?
        let matches: Bool
        do {
            account = try await find()
            // An unknown account is checked against a decoy hash at the same cost: same time.
            // A password with a NUL is checked too (for the time), but never accepted: bcrypt
            // would stop reading at the NUL.
            matches = try await hasher.verify(password, hash: account?.passwordHash ?? hasher.decoyHash)
        } catch {
            // Refused before the password was checked (busy, or the database): not a failure.
            try? await throttle.settle(key: key, outcome: .cancelled, at: date, logger: logger)
            throw error
        }
        guard let account, matches, !password.utf8.contains(0) else {
            try await throttle.settle(key: key, outcome: .failure, at: date, logger: logger)
            return nil
        }
        try await throttle.settle(key: key, outcome: .success, at: date, logger: logger)
        return account
    }

    /// A token pair as every answer that carries tokens sends it: never cached (RFC 6749 §5.1).
    private func pair(
        for account: UserAccount,
        session: UUID,
        refreshToken: String,
        familyExpiresAt: Date,
        at date: Date
    ) async throws
        -> Response
    {
        let user = AuthenticatedUser(id: account.id, username: account.username, admin: account.admin, sessionID: session)
        let accessToken = try await accessTokens.sign(user: user, at: date)
        let pair = TokenPair(
            accessToken: accessToken,
            refreshToken: refreshToken,
            expiresIn: accessTokens.ttl,
            refreshExpiresIn: Int(exactly: max(0, min(Double(ServerConfiguration.maxTTL), familyExpiresAt.timeIntervalSince(date).rounded(.down))))
                ?? 0
        )
        var response = APIError.jsonResponse(status: .ok, body: pair)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    // MARK: The signed-in user's account

    /// `POST /auth/password`: the current password is checked like a login (and counted like
    /// one); then every session of the user ends and a new one starts for this client.
    @Sendable func changePassword(request: Request, context: AuthenticatedContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(PasswordChangeRequest.self, context: context)
        if let problem = Validate.password(body.newPassword) { throw APIError.validation(["newPassword": problem]) }
        let date = now()
        let found = try await checkPassword(body.currentPassword, key: context.user.username, at: date, logger: context.logger) {
            try await users.find(id: context.user.id, logger: context.logger)
        }
        guard let account = found else {
            context.logger.notice("password change refused: wrong current password", metadata: ["user_id": .string(context.user.id.uuidString)])
            throw APIError.authentication("the current password is wrong")
        }
        try await users.updatePasswordHash(id: account.id, to: try await hasher.hash(body.newPassword), logger: context.logger)
        let session = try await refreshTokens.startFamily(userID: account.id, at: date, logger: context.logger)
        try await sessions.revokeAll(userID: account.id, except: session.id, at: date, logger: context.logger)
        context.logger.info("password changed; other sessions ended", metadata: ["user_id": .string(account.id.uuidString)])
        return try await pair(for: account, session: session.id, refreshToken: session.token, familyExpiresAt: session.expiresAt, at: date)
    }

    /// `GET /auth/sessions`: the caller's live sessions, newest first.
    @Sendable func listSessions(request: Request, context: AuthenticatedContext) async throws -> [Session] {
        try await sessions.live(userID: context.user.id, at: now(), logger: context.logger).map { record in
            Session(
                id: record.id,
                createdAt: record.createdAt,
                lastUsedAt: record.lastUsedAt,
                expiresAt: record.expiresAt,
                current: record.id == context.user.sessionID
            )
        }
    }

    /// `DELETE /auth/sessions/{id}`: 204 when it is (or was) the caller's, 404 otherwise.
    @Sendable func revokeSession(request: Request, context: AuthenticatedContext) async throws -> Response {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text),
            try await sessions.revoke(id: id, userID: context.user.id, at: now(), logger: context.logger)
        else { throw APIError.notFound("session not found") }
        context.logger.info("session revoked", metadata: ["session_id": .string(id.uuidString)])
        return Response(status: .noContent)
    }

    /// `DELETE /auth/sessions`: log out everywhere.
    @Sendable func revokeAllSessions(request: Request, context: AuthenticatedContext) async throws -> Response {
        try await sessions.revokeAll(userID: context.user.id, except: nil, at: now(), logger: context.logger)
        context.logger.info("every session revoked", metadata: ["user_id": .string(context.user.id.uuidString)])
        return Response(status: .noContent)
    }
}

extension User {
    init(_ account: UserAccount) {
        self.init(id: account.id, username: account.username, admin: account.admin, createdAt: account.createdAt)
    }
}
