public import Foundation
public import Hummingbird
public import HummingbirdAuth
import NIOCore
public import NotesModels

/// Who a verified access token says the caller is.
public struct AuthenticatedUser: Sendable, Equatable {
    public let id: UUID
    public let username: String
    public let admin: Bool
    /// The session (refresh-token family) the token belongs to: its `sid` claim. Nil only for
    /// tokens made elsewhere with a shared HS256 secret, which carry none.
    public var sessionID: UUID? = nil
}

/// The context of every request: Hummingbird's core storage plus the optional identity the
/// JWT authenticator fills in. It never enforces anything itself (see ``AuthenticatedContext``).
public struct AppRequestContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: AuthenticatedUser?

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.identity = nil
    }

    /// Bodies over 1 MiB are refused with 413 while they are collected.
    public var maxUploadSize: Int { NotesLimits.maxRequestBytes }
    /// Sorted keys and ISO 8601 dates, like every body the server writes.
    public var responseEncoder: NotesResponseEncoder { NotesResponseEncoder() }
}

/// The context of protected routes: its `user` is not optional, so a handler cannot forget to
/// check. Building it from a context with no identity throws `UnauthorizedError`.
public struct AuthenticatedContext: ChildRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let user: AuthenticatedUser

    public init(context: AppRequestContext) throws {
        guard let user = context.identity else { throw APIError.noToken }
        self.coreContext = context.coreContext
        self.user = user
    }

    public var maxUploadSize: Int { NotesLimits.maxRequestBytes }
    public var responseEncoder: NotesResponseEncoder { NotesResponseEncoder() }
}

extension User: ResponseEncodable {}
extension Note: ResponseEncodable {}
extension TokenPair: ResponseEncodable {}

extension Session: ResponseEncodable {}
extension HealthStatus: ResponseEncodable {}
extension Page: ResponseEncodable {}
