import Hummingbird
import NotesModels

/// `/me` for everyone signed in, `/users` for admins.
struct UsersController: Sendable {
    let users: any UserRepository

    func addRoutes(to router: RouterGroup<AuthenticatedContext>) {
        router.get("me", use: me)
        router.get("users", use: list)
    }

    @Sendable func me(request: Request, context: AuthenticatedContext) async throws -> User {
        guard let account = try await users.find(id: context.user.id, logger: context.logger) else {
            throw APIError.authentication("the account of this token no longer exists")
        }
        return User(account)
    }

    @Sendable func list(request: Request, context: AuthenticatedContext) async throws -> [User] {
        guard context.user.admin else { throw APIError.forbidden("listing users needs an admin account") }
        return try await users.all(logger: context.logger).map(User.init)
    }
}
