import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
public import NotesModels

/// Typed calls for every endpoint of the notes server.
///
/// One instance owns one `HTTPClient`; call ``shutdown()`` when done. Calls that need a
/// login read the cached session (``SessionStore``) for this server, and on a `401
/// TokenExpiredError` refresh the token pair once and retry the call once.
public final class NotesAPI: Sendable {
    /// The server's base URL, without a trailing slash.
    public let server: String
    /// The session cache this instance reads and writes.
    public let store: SessionStore
    private let http: HTTPClient
    private let transport: Transport
    private let refresher: TokenRefresher

    /// - Parameters:
    ///   - server: `http(s)://host:port`, optionally with a path prefix.
    ///   - store: the session cache.
    ///   - insecureHTTP: allow passwords and tokens over plain http to a host that is not
    ///     loopback (`--insecure-http`); without it such a request is refused before sending.
    ///   - caCertificate: a PEM file of CA certificates to trust beside the system's (`--cacert`).
    ///   - timeout: one deadline for each whole answer, head and body.
    ///   - observer: told about each request, answer and refresh (for `--verbose`).
    public init(
        server: String,
        store: SessionStore,
        insecureHTTP: Bool = false,
        caCertificate: String? = nil,
        timeout: Duration = .seconds(30),
        observer: @escaping @Sendable (NotesAPIEvent) -> Void = { _ in }
    ) throws {
        let server = try Transport.normalize(server)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(30))
        // A refused connection means "server unreachable" now, not after retrying for the
        // whole connect timeout: the CLI exits 69 at once.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let caCertificate {
            let certificates: [NIOSSLCertificate]
            do {
                certificates = try NIOSSLCertificate.fromPEMFile(caCertificate)
            } catch {
                throw InvalidCACertificateError(path: caCertificate, reason: String(describing: error))
            }
            guard !certificates.isEmpty else { throw InvalidCACertificateError(path: caCertificate, reason: "no PEM certificate in it") }
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(certificates)]
            configuration.tlsConfiguration = tls
        }
        let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let transport = Transport(server: server, http: http, observer: observer, timeout: timeout, allowsInsecureHTTP: insecureHTTP)
        self.server = server
        self.store = store
        self.http = http
        self.transport = transport
        self.refresher = TokenRefresher(store: store, transport: transport)
    }

    /// The server URL as messages show it: any `user:password@` masked.
    public var displayServer: String { ServerURL.redacted(server) }

    /// Closes the connections. Call once, after the last request.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// The cached session, if it is for this server.
    public func currentSession() async throws -> Session? {
        guard let session = try await store.load(), session.server == server else { return nil }
        return session
    }

    // MARK: - Auth

    /// `POST /auth/register`.
    public func register(username: String, password: String) async throws -> User {
        let raw = try await transport.send(.POST, "/auth/register", json: try encode(Credentials(username: username, password: password)))
        return try Transport.decode(User.self, from: raw)
    }

    /// `POST /auth/login`, then writes the session cache.
    @discardableResult
    public func login(username: String, password: String) async throws -> Session {
        let raw = try await transport.send(.POST, "/auth/login", json: try encode(Credentials(username: username, password: password)))
        let pair = try Transport.decodeTokenPair(from: raw)
        let session = Session(server: server, username: username, pair: pair)
        try await store.withExclusiveLock {
            try await store.save(session)
        }
        return session
    }

    /// `POST /auth/logout` with the cached refresh token, then deletes the cache.
    /// Returns false when there was no session for this server. If the server cannot be
    /// reached the cache stays as it is (and the error is thrown).
    @discardableResult
    public func logout() async throws -> Bool {
        try await store.withExclusiveLock {
            guard let session = try await currentSession() else { return false }
            let raw = try await transport.send(.POST, "/auth/logout", json: try encode(RefreshRequest(refreshToken: session.refreshToken)))
            try Transport.check(raw)
            try await store.delete()
            return true
        }
    }

    /// `DELETE /auth/sessions` ("log out everywhere"), then deletes the cache. Returns false
    /// when there was no session for this server. If the server cannot be reached the cache
    /// stays as it is (and the error is thrown).
    @discardableResult
    public func logoutEverywhere() async throws -> Bool {
        guard try await currentSession() != nil else { return false }
        try Transport.check(try await authorized(.DELETE, "/auth/sessions"))
        try await store.withExclusiveLock {
            if try await currentSession() != nil { try await store.delete() }
        }
        return true
    }

    /// `POST /auth/password`: every other session of the user ends; this client keeps the
    /// new session's token pair. A wrong current password is a 401 `AuthenticationError`.
    @discardableResult
    public func changePassword(current: String, new: String) async throws -> Session {
        let cached = try await refresher.currentSession()
        let body = try encode(PasswordChangeRequest(currentPassword: current, newPassword: new))
        let pair = try Transport.decodeTokenPair(from: try await authorized(.POST, "/auth/password", json: body))
        let session = Session(server: server, username: cached.username, pair: pair)
        try await store.withExclusiveLock {
            try await store.save(session)
        }
        return session
    }

    /// `GET /auth/sessions`: the user's live sessions, newest first.
    public func sessions() async throws -> [NotesModels.Session] {
        try Transport.decode([NotesModels.Session].self, from: try await authorized(.GET, "/auth/sessions"))
    }

    /// `DELETE /auth/sessions/{id}`. A session that was never the caller's is a 404.
    public func revokeSession(id: UUID) async throws {
        try Transport.check(try await authorized(.DELETE, "/auth/sessions/" + id.uuidString.lowercased()))
    }

    /// `POST /auth/logout` with a refresh token that is no longer cached here (a session that
    /// a new login replaced), so that it does not stay alive on the server. Leaves the cache
    /// alone.
    public func revoke(refreshToken: String) async throws {
        let raw = try await transport.send(.POST, "/auth/logout", json: try encode(RefreshRequest(refreshToken: refreshToken)))
        try Transport.check(raw)
    }

    /// `POST /auth/refresh` with the cached refresh token, whether or not the access token
    /// has expired (the pair is rotated and cached).
    @discardableResult
    public func refreshSession() async throws -> Session {
        let session = try await refresher.currentSession()
        return try await refresher.refresh(after: session.accessToken)
    }

    // MARK: - Users

    /// `GET /me`.
    public func me() async throws -> User {
        try Transport.decode(User.self, from: try await authorized(.GET, "/me"))
    }

    /// `GET /users` (admins only).
    public func users() async throws -> [User] {
        try Transport.decode([User].self, from: try await authorized(.GET, "/users"))
    }

    // MARK: - Notes

    /// `GET /notes`: one page.
    public func notes(limit: Int? = nil, cursor: String? = nil, query: String? = nil, tag: String? = nil) async throws -> Page<Note> {
        var items: [(String, String)] = []
        if let limit { items.append(("limit", String(limit))) }
        if let cursor { items.append(("cursor", cursor)) }
        if let query { items.append(("q", query)) }
        if let tag { items.append(("tag", tag)) }
        return try Transport.decode(Page<Note>.self, from: try await authorized(.GET, "/notes", query: items))
    }

    /// `GET /notes`, following `nextCursor` to the last page.
    public func allNotes(pageSize: Int? = nil, query: String? = nil, tag: String? = nil) async throws -> [Note] {
        var result: [Note] = []
        var cursor: String?
        var seen: Set<String> = []
        repeat {
            let page = try await notes(limit: pageSize, cursor: cursor, query: query, tag: tag)
            result += page.items
            cursor = page.nextCursor
            // A server that hands out a cursor twice would keep us paging for ever.
            if let next = cursor, !seen.insert(next).inserted {
                throw NotesClientError.invalidResponse(
                    status: 200,
                    "the server repeated a pagination cursor after \(seen.count + 1) pages; stopped instead of looping"
                )
            }
        } while cursor != nil
        return result
    }

    /// The user's notes whose id starts with `prefix` (any case, dashes where the UUID has
    /// them). The server takes whole UUIDs only, so this walks every page of `GET /notes`.
    public func notes(withIDPrefix prefix: String) async throws -> [Note] {
        let prefix = prefix.uppercased()
        return try await allNotes(pageSize: NotesLimits.pageSize.upperBound).filter { $0.id.uuidString.uppercased().hasPrefix(prefix) }
    }

    /// `GET /notes/{id}`.
    public func note(id: UUID) async throws -> Note {
        try Transport.decode(Note.self, from: try await authorized(.GET, Self.notePath(id)))
    }

    /// `POST /notes`.
    public func createNote(_ input: NoteInput) async throws -> Note {
        try Transport.decode(Note.self, from: try await authorized(.POST, "/notes", json: try encode(input)))
    }

    /// `PUT /notes/{id}`; `ifMatch` is an ETag such as `"3"` or `*`.
    public func replaceNote(id: UUID, with input: NoteInput, ifMatch: String? = nil) async throws -> Note {
        let raw = try await authorized(.PUT, Self.notePath(id), json: try encode(input), headers: Self.ifMatch(ifMatch))
        return try Transport.decode(Note.self, from: raw)
    }

    /// `PATCH /notes/{id}`.
    public func updateNote(id: UUID, with patch: NotePatch, ifMatch: String? = nil) async throws -> Note {
        let raw = try await authorized(.PATCH, Self.notePath(id), json: try encode(patch), headers: Self.ifMatch(ifMatch))
        return try Transport.decode(Note.self, from: raw)
    }

    /// `DELETE /notes/{id}`.
    public func deleteNote(id: UUID, ifMatch: String? = nil) async throws {
        try Transport.check(try await authorized(.DELETE, Self.notePath(id), headers: Self.ifMatch(ifMatch)))
    }

    // MARK: - Public endpoints

    /// `GET /health`.
    public func health() async throws -> HealthStatus {
        try Transport.decode(HealthStatus.self, from: try await transport.send(.GET, "/health"))
    }

    /// `GET /.well-known/jwks.json`, as raw JSON.
    public func jwks() async throws -> Data {
        let raw = try await transport.send(.GET, "/.well-known/jwks.json")
        try Transport.check(raw)
        return raw.body
    }

    /// `GET /openapi.yaml`.
    public func openAPIDocument() async throws -> String {
        let raw = try await transport.send(.GET, "/openapi.yaml")
        try Transport.check(raw)
        return String(decoding: raw.body, as: UTF8.self)
    }

    // MARK: - Plumbing

    /// Sends with the cached access token; on `401 TokenExpiredError` refreshes (shared
    /// with concurrent callers and other processes) and retries once.
    private func authorized(
        _ method: HTTPMethod,
        _ path: String,
        query: [(String, String)] = [],
        json: Data? = nil,
        headers: [(String, String)] = []
    ) async throws -> RawResponse {
        let session = try await refresher.currentSession()
        let first = try await transport.send(method, path, query: query, json: json, token: session.accessToken, headers: headers)
        guard Transport.isTokenExpired(first) else { return first }
        let renewed = try await refresher.refresh(after: session.accessToken)
        return try await transport.send(method, path, query: query, json: json, token: renewed.accessToken, headers: headers)
    }

    /// The session id (`sid` claim) of the cached access token, when it has one.
    public func currentSessionID() async throws -> UUID? {
        guard let session = try await currentSession(), let jwt = try? UnverifiedJWT(session.accessToken) else { return nil }
        return jwt.claims["sid"].flatMap(UUID.init(uuidString:))
    }

    private func encode(_ value: some Encodable) throws -> Data {
        try NotesJSON.encoder().encode(value)
    }

    private static func notePath(_ id: UUID) -> String {
        "/notes/" + id.uuidString.lowercased()
    }

    private static func ifMatch(_ value: String?) -> [(String, String)] {
        value.map { [("If-Match", $0)] } ?? []
    }
}

/// `--cacert` names a file that holds no usable certificate.
public struct InvalidCACertificateError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "--cacert \(path): cannot read a PEM CA certificate from it (\(reason))" }
}
