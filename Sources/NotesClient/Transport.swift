import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotesModels

#if canImport(Glibc)
import Glibc
#endif

/// What a ``NotesAPI`` is doing, for `--verbose`. Events carry the method, the URL path
/// and the status only: never a header, a body or a query string, so never a secret.
public enum NotesAPIEvent: Sendable, Equatable {
    /// A request is about to be sent.
    case request(method: String, path: String)
    /// The server answered; `errorName` is the contract's `error.name` for an error answer.
    case response(method: String, path: String, status: Int, errorName: String?)
    /// The server could not be reached.
    case unreachable(method: String, path: String)
    /// The access token expired and this process is refreshing it.
    case refreshing
    /// Another process (or call) had already refreshed; its token pair is reused.
    case reusedRefreshedSession
}

/// The server URL is not an `http` or `https` URL with a host.
public struct InvalidServerURLError: Error, Sendable, CustomStringConvertible {
    public let url: String
    public var description: String {
        "not a server URL: \(ServerURL.redacted(url)) (expected e.g. http://127.0.0.1:8080)"
    }
}

/// What the client knows about server URLs: how to print one, and where plain http is allowed.
public enum ServerURL {
    /// `url` with any `user:password@` replaced by `***@`, for every message that shows a URL.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else {
            // Not a URL we understand; still never print what looks like userinfo.
            guard let at = url.lastIndex(of: "@") else { return url }
            return "***" + url[at...]
        }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<schemeEnd.upperBound]) + "***" + String(url[at...])
    }

    /// Whether `host` is this machine's loopback: `localhost` (and `*.localhost`), 127.0.0.0/8, or ::1.
    public static func isLoopback(host: String) -> Bool {
        var host = host.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.hasSuffix(".") { host.removeLast() }
        if host == "localhost" || host.hasSuffix(".localhost") { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return bytes == [UInt8](repeating: 0, count: 15) + [1]
        }
        return false
    }
}

/// One answer, with the body read in full.
struct RawResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: Data
}

/// Sends requests to one server and turns error bodies into ``NotesClientError`` — the one
/// place that does so.
struct Transport: Sendable {
    let server: String
    let http: HTTPClient
    let observer: @Sendable (NotesAPIEvent) -> Void
    /// One deadline for the whole answer: connecting, the head and every byte of the body.
    let timeout: Duration
    /// Whether `--insecure-http` allows secrets over plain http to a host that is not loopback.
    let allowsInsecureHTTP: Bool
    static let maxResponseBytes = 8 * 1024 * 1024

    /// The server URL as messages show it (no userinfo).
    var displayServer: String { ServerURL.redacted(server) }

    /// Throws unless secrets may go to this server: https, a loopback host, or `--insecure-http`.
    func checkSecretsMayBeSent() throws {
        guard !allowsInsecureHTTP, let components = URLComponents(string: server), components.scheme?.lowercased() == "http" else { return }
        let host = components.host ?? ""
        if ServerURL.isLoopback(host: host) { return }
        throw NotesClientError.insecureTransport(displayServer, host: host)
    }

    static func normalize(_ url: String) throws -> String {
        var text = url.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil
        else { throw InvalidServerURLError(url: url) }
        return text
    }

    func send(
        _ method: HTTPMethod,
        _ path: String,
        query: [(String, String)] = [],
        json: Data? = nil,
        token: String? = nil,
        headers extra: [(String, String)] = []
    ) async throws -> RawResponse {
        var request = HTTPClientRequest(url: server + path + Self.encode(query))
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "notes")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        // Every request that carries a password, a token or a note (a JSON body) is a secret.
        if token != nil || json != nil { try checkSecretsMayBeSent() }
        observer(.request(method: method.rawValue, path: path))
        let raw: RawResponse
        do {
            raw = try await Self.fetch(request, http: http, timeout: timeout)
        } catch let error as CancellationError {
            throw error
        } catch {
            observer(.unreachable(method: method.rawValue, path: path))
            throw NotesClientError.unreachable(displayServer, reason: Self.describe(error, timeout: timeout))
        }
        let name = raw.status >= 400 ? (try? NotesJSON.decoder().decode(ErrorBody.self, from: raw.body))?.error.name : nil
        observer(.response(method: method.rawValue, path: path, status: raw.status, errorName: name))
        return raw
    }

    /// The head and the whole body before `timeout` has passed, or ``AnswerTimedOut``: a
    /// server that trickles its body a byte at a time never resets this clock (AsyncHTTPClient's
    /// read timeout is per read, so it alone would wait for ever).
    private static func fetch(_ request: HTTPClientRequest, http: HTTPClient, timeout: Duration) async throws -> RawResponse {
        try await withThrowingTaskGroup(of: RawResponse.self) { group in
            group.addTask {
                let response = try await http.execute(request, timeout: .nanoseconds(timeout.nanosecondsClamped))
                let buffer = try await response.body.collect(upTo: maxResponseBytes)
                return RawResponse(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw AnswerTimedOut()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw AnswerTimedOut() }
            return first
        }
    }

    struct AnswerTimedOut: Error {}

    /// Throws the typed error an error answer stands for; returns for 1xx–3xx.
    static func check(_ raw: RawResponse) throws {
        guard raw.status >= 400 else { return }
        if let body = try? NotesJSON.decoder().decode(ErrorBody.self, from: raw.body) {
            let retryAfter = raw.headers.first(name: "Retry-After").flatMap { Int($0) }
            let etag = raw.headers.first(name: "ETag")
            throw NotesClientError.server(status: raw.status, detail: body.error, retryAfter: retryAfter, etag: etag)
        }
        throw NotesClientError.invalidResponse(status: raw.status, "HTTP \(raw.status) without an error body")
    }

    /// Checks the status, then decodes the body.
    static func decode<T: Decodable>(_ type: T.Type, from raw: RawResponse) throws -> T {
        try check(raw)
        do {
            return try NotesJSON.decoder().decode(T.self, from: raw.body)
        } catch {
            throw NotesClientError.invalidResponse(status: raw.status, "the body is not a \(T.self)")
        }
    }

    /// The longest token lifetime a client accepts from a server (ten years, in seconds):
    /// beyond it, or at zero or below, a `TokenPair` is hostile or broken.
    static let maxTokenLifetime = 10 * 365 * 86_400

    /// A `TokenPair` answer, refused unless its lifetimes are sane (a hostile server may send
    /// `Int.min`; nothing downstream has to cope with that then).
    static func decodeTokenPair(from raw: RawResponse) throws -> TokenPair {
        let pair = try decode(TokenPair.self, from: raw)
        let range = 1...maxTokenLifetime
        guard range.contains(pair.expiresIn), range.contains(pair.refreshExpiresIn) else {
            throw NotesClientError.invalidResponse(
                status: raw.status,
                "token lifetimes out of range (expiresIn \(pair.expiresIn), refreshExpiresIn \(pair.refreshExpiresIn); "
                    + "expected 1 to \(maxTokenLifetime) seconds)"
            )
        }
        guard !pair.accessToken.isEmpty, !pair.refreshToken.isEmpty else {
            throw NotesClientError.invalidResponse(status: raw.status, "an empty token")
        }
        return pair
    }

    /// Whether this answer says the access token expired (and nothing else).
    static func isTokenExpired(_ raw: RawResponse) -> Bool {
        guard raw.status == 401 else { return false }
        return (try? NotesJSON.decoder().decode(ErrorBody.self, from: raw.body))?.error.knownName == .tokenExpired
    }

    /// `?a=b&c=d`, with everything but RFC 3986 unreserved characters percent-encoded
    /// (`+` and `&` included, which URLComponents would leave alone).
    static func encode(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        allowed.insert(charactersIn: "-._~")
        let pairs = query.map { name, value in
            let encodedValue = value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
            return "\(name)=\(encodedValue)"
        }
        return "?" + pairs.joined(separator: "&")
    }

    static func describe(_ error: any Error, timeout: Duration = .seconds(30)) -> String {
        if error is AnswerTimedOut { return "no complete answer within \(timeout.components.seconds)s" }
        let text = String(describing: error)
        if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate verify failed") {
            return "TLS: the server's certificate is not signed by a trusted CA (if it is your own CA, pass it with --cacert FILE)"
        }
        if text.contains("failedToValidateHostname") || text.contains("in certificate from peer") {
            return "TLS: the server's certificate is not for this host name"
        }
        if text.contains("handshakeFailed") || text.contains("NIOSSL") {
            return "TLS handshake failed: \(text)"
        }
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "no answer in time" }
        return text
    }
}

extension Duration {
    /// Whole nanoseconds, clamped to what an `Int64` holds.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        let (sum, overflowSum) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? Int64.max : sum
    }
}
