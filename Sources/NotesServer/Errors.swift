public import Foundation
public import HTTPTypes
import Hummingbird
public import NotesModels

/// The one error type handlers throw: it knows its status, its contract name and message,
/// and the extra fields and headers the contract gives it. Anything else that is thrown
/// becomes a logged `InternalServerError` in ``ErrorMiddleware``.
public struct APIError: Error, Sendable {
    public let status: HTTPResponse.Status
    public let name: ErrorName
    public let message: String
    public var expiredAt: Date?
    public var date: Date?
    public var details: [String: String]?
    public var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ name: ErrorName, _ message: String) {
        self.status = status
        self.name = name
        self.message = message
    }

    /// `WWW-Authenticate` as RFC 6750 wants it for every 401.
    private static func challenge(_ error: String?, _ description: String?) -> HTTPFields {
        var value = "Bearer realm=\"notes\""
        if let error, let description {
            let escaped = description.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            value += ", error=\"\(error)\", error_description=\"\(escaped)\""
        }
        return [.wwwAuthenticate: value]
    }

    static let noToken: APIError = {
        var e = APIError(.unauthorized, .unauthorized, "No authorization token was found")
        e.headers = challenge(nil, nil)
        return e
    }()

    static func tokenExpired(at exp: Date) -> APIError {
        var e = APIError(.unauthorized, .tokenExpired, "jwt expired")
        e.expiredAt = exp
        e.headers = challenge("invalid_token", e.message)
        return e
    }

    static func notBefore(_ nbf: Date) -> APIError {
        var e = APIError(.unauthorized, .notBefore, "jwt not active")
        e.date = nbf
        e.headers = challenge("invalid_token", e.message)
        return e
    }

    static func invalidToken(_ message: String) -> APIError {
        var e = APIError(.unauthorized, .jsonWebToken, message)
        e.headers = challenge("invalid_token", message)
        return e
    }

    static func authentication(_ message: String) -> APIError {
        var e = APIError(.unauthorized, .authentication, message)
        e.headers = challenge(nil, nil)
        return e
    }

    static let badCredentials = authentication("invalid username or password")
    static let badRefreshToken = authentication("refresh token is invalid, expired or revoked")

    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, .forbidden, message) }

    static func validation(_ details: [String: String], message: String? = nil) -> APIError {
        let text = message ?? details.keys.sorted().map { "\($0) \(details[$0] ?? "")" }.joined(separator: "; ")
        var e = APIError(.badRequest, .validation, text)
        e.details = details
        return e
    }

    static func notFound(_ message: String) -> APIError { APIError(.notFound, .notFound, message) }

    static func methodNotAllowed(_ method: HTTPRequest.Method, allowed: [HTTPRequest.Method]) -> APIError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        var e = APIError(.methodNotAllowed, .methodNotAllowed, "\(method.rawValue) is not allowed here; use \(list)")
        e.headers = [.allow: list]
        return e
    }

    static func conflict(_ message: String) -> APIError { APIError(.conflict, .conflict, message) }

    static func preconditionFailed(current: Int) -> APIError {
        var e = APIError(.preconditionFailed, .preconditionFailed, "If-Match does not match the note's current ETag")
        e.headers = [.eTag: "\"\(current)\""]
        return e
    }

    static let payloadTooLarge = APIError(.contentTooLarge, .payloadTooLarge, "request body is larger than 1 MiB")

    static let unsupportedMediaType = APIError(
        .unsupportedMediaType,
        .unsupportedMediaType,
        "request body must be JSON, sent with Content-Type: application/json"
    )

    /// Too much password hashing queued: try again shortly.
    static func busy(retryAfter seconds: Int) -> APIError {
        var e = APIError(.tooManyRequests, .tooManyRequests, "the server is busy checking passwords; try again in \(seconds)s")
        e.headers = [.retryAfter: String(seconds)]
        return e
    }

    static func tooManyRequests(retryAfter seconds: Int) -> APIError {
        var e = APIError(.tooManyRequests, .tooManyRequests, "too many failed logins for this username; try again in \(seconds)s")
        e.headers = [.retryAfter: String(seconds)]
        return e
    }

    /// The database does not answer; nothing was changed.
    static let unavailable: APIError = {
        var e = APIError(.serviceUnavailable, .serviceUnavailable, "the database is not answering; nothing was changed, try again shortly")
        e.headers = [.retryAfter: "5"]
        return e
    }()

    /// The JSON body of this error.
    var body: ErrorBody {
        ErrorBody(error: .init(name: name, message: message, expiredAt: expiredAt, date: date, details: details))
    }

    func response() -> Response {
        var response = Self.jsonResponse(status: status, body: body)
        response.headers.append(contentsOf: headers)
        return response
    }

    static func internalError(requestID: String) -> Response {
        let body = ErrorBody(
            error: .init(
                name: .internalServer,
                message: "internal server error; quote request id \(requestID) to the operator",
                requestId: requestID
            )
        )
        return jsonResponse(status: .internalServerError, body: body)
    }

    static func jsonResponse(status: HTTPResponse.Status, body: some Encodable) -> Response {
        let data = (try? NotesJSON.encoder().encode(body)) ?? Data(#"{"error":{"name":"InternalServerError","message":"encoding failed"}}"#.utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
