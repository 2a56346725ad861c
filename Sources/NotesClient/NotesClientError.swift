public import NotesModels

/// Everything that can go wrong in a call to the notes server, sorted by what the caller
/// should do about it (the `notes` executable maps ``Code`` to its exit codes).
public struct NotesClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure. A struct around a private enum so that kinds can be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable {
            case server, unreachable, notLoggedIn, sessionExpired, sessionRevoked, invalidResponse, insecureTransport
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server answered with an error body (`status` and `detail` are set).
        public static let server = Code(.server)
        /// The server could not be reached; nothing was changed locally.
        public static let unreachable = Code(.unreachable)
        /// There is no cached session for this server.
        public static let notLoggedIn = Code(.notLoggedIn)
        /// The refresh token was refused because the session's lifetime is over; the cached
        /// session has been deleted.
        public static let sessionExpired = Code(.sessionExpired)
        /// The refresh token was refused before the session's end: it was revoked on the server
        /// (a logout, a password change, or a refresh token presented twice). The cached session
        /// has been deleted.
        public static let sessionRevoked = Code(.sessionRevoked)
        /// The server answered something that is not the contract (not JSON, wrong shape).
        public static let invalidResponse = Code(.invalidResponse)
        /// A password or token would have gone over plain http to a host that is not
        /// loopback; nothing was sent (`--insecure-http` allows it).
        public static let insecureTransport = Code(.insecureTransport)

        public var description: String { "\(base)" }
    }

    public let code: Code
    /// The HTTP status, when the server answered.
    public let status: Int?
    /// The decoded `error` object of the body, for ``Code/server``.
    public let detail: ErrorBody.Detail?
    /// Seconds from a `Retry-After` header (429).
    public let retryAfter: Int?
    /// The `ETag` of the answer (a 412 carries the note's current one).
    public let etag: String?
    /// The server URL the failure is about (for ``Code/unreachable``, ``Code/notLoggedIn``).
    public let server: String?
    /// Why the server refused the refresh token, in its words (for ``Code/sessionRevoked``).
    public let reason: String?
    /// A sentence for people.
    public let message: String

    init(
        code: Code,
        status: Int? = nil,
        detail: ErrorBody.Detail? = nil,
        retryAfter: Int? = nil,
        etag: String? = nil,
        server: String? = nil,
        reason: String? = nil,
        message: String
    ) {
        self.code = code
        self.status = status
        self.detail = detail
        self.retryAfter = retryAfter
        self.etag = etag
        self.server = server
        self.reason = reason
        self.message = message
    }

    /// The contract's error name, if the server sent one this client knows.
    public var errorName: ErrorName? { detail?.knownName }

    public var description: String { message }

    static func server(status: Int, detail: ErrorBody.Detail, retryAfter: Int?, etag: String? = nil) -> Self {
        .init(code: .server, status: status, detail: detail, retryAfter: retryAfter, etag: etag, message: "\(detail.name): \(detail.message)")
    }

    static func unreachable(_ server: String, reason: String) -> Self {
        let server = ServerURL.redacted(server)
        return .init(code: .unreachable, server: server, reason: reason, message: "cannot reach the server at \(server) (\(reason))")
    }

    /// There is no session for `server` (shown without its userinfo).
    public static func notLoggedIn(_ server: String) -> Self {
        let server = ServerURL.redacted(server)
        return .init(code: .notLoggedIn, server: server, message: "not logged in to \(server) — run notes login")
    }

    static func insecureTransport(_ server: String, host: String) -> Self {
        let server = ServerURL.redacted(server)
        return .init(
            code: .insecureTransport,
            server: server,
            message: "refusing to send a password or token over plain http to \(host), which is not this machine: "
                + "anyone on the way could read it. Use https://, or --insecure-http (NOTES_INSECURE_HTTP=1) to send it anyway"
        )
    }

    static var sessionExpired: Self {
        .init(code: .sessionExpired, message: "session expired — run notes login")
    }

    /// `reason` is the server's message for the refused refresh token.
    static func sessionRevoked(reason: String) -> Self {
        .init(
            code: .sessionRevoked,
            reason: reason,
            message: "session revoked on the server (\(reason)) — run notes login"
        )
    }

    static func invalidResponse(status: Int?, _ reason: String) -> Self {
        .init(code: .invalidResponse, status: status, message: "unexpected answer from the server: \(reason)")
    }
}
