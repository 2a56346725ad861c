public import NotesModels

/// Everything that can go wrong in a call to the notes server, sorted by what the caller
/// should do about it (the `notes` executable maps ``Code`` to its exit codes).
public struct NotesClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct around a private enum so that kinds can be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable {
            case server, unreachable, notLoggedIn, sessionExpired, invalidResponse
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an error body (`status` and `detail` are set).
        public static let server = Code(.server)
        /// The server could not be reached; nothing was changed locally.
        public static let unreachable = Code(.unreachable)
        /// There is no cached session for this server.
        public static let notLoggedIn = Code(.notLoggedIn)
        /// The refresh token was refused; the cached session has been deleted.
        public static let sessionExpired = Code(.sessionExpired)
        /// The server answered something that is not the contract (not JSON, wrong shape).
        public static let invalidResponse = Code(.invalidResponse)

        public var description: String { "\(base)" }
    }

    public let code: Code
    /// The HTTP status, when the server answered.
    public let status: Int?
    /// The decoded `error` object of the body, for ``Code/server``.
    public let detail: ErrorBody.Detail?
    /// Seconds from a `Retry-After` header (429).
    public let retryAfter: Int?
    /// A sentence for people.
    public let message: String

    init(code: Code, status: Int? = nil, detail: ErrorBody.Detail? = nil, retryAfter: Int? = nil, message: String) {
        self.code = code
        self.status = status
        self.detail = detail
        self.retryAfter = retryAfter
        self.message = message
    }

    /// The contract's error name, if the server sent one this client knows.
    public var errorName: ErrorName? { detail?.knownName }

    public var description: String { message }

    static func server(status: Int, detail: ErrorBody.Detail, retryAfter: Int?) -> Self {
        .init(code: .server, status: status, detail: detail, retryAfter: retryAfter, message: "\(detail.name): \(detail.message)")
    }

    static func unreachable(_ server: String, reason: String) -> Self {
        .init(code: .unreachable, message: "cannot reach the server at \(server) (\(reason))")
    }

    /// There is no session for `server`.
    public static func notLoggedIn(_ server: String) -> Self {
        .init(code: .notLoggedIn, message: "not logged in to \(server) — run notes login")
    }

    static var sessionExpired: Self {
        .init(code: .sessionExpired, message: "session expired — run notes login")
    }

    static func invalidResponse(status: Int?, _ reason: String) -> Self {
        .init(code: .invalidResponse, status: status, message: "unexpected answer from the server: \(reason)")
    }
}
