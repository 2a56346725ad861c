import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotesModels

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
    public var description: String { "not a server URL: \(url) (expected e.g. http://127.0.0.1:8080)" }
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
    let timeout: TimeAmount = .seconds(30)
    static let maxResponseBytes = 8 * 1024 * 1024

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
        observer(.request(method: method.rawValue, path: path))
        let response: HTTPClientResponse
        let buffer: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch let error as CancellationError {
            throw error
        } catch {
            observer(.unreachable(method: method.rawValue, path: path))
            throw NotesClientError.unreachable(server, reason: Self.describe(error))
        }
        let raw = RawResponse(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
        let name = raw.status >= 400 ? (try? NotesJSON.decoder().decode(ErrorBody.self, from: raw.body))?.error.name : nil
        observer(.response(method: method.rawValue, path: path, status: raw.status, errorName: name))
        return raw
    }

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

    static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        if text.contains("deadlineExceeded") || text.contains("readTimeout") { return "no answer in time" }
        return text
    }
}
