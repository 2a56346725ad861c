import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NotesModels
import Synchronization

/// The known routes, for telling 405 (known path, other method) from 404. Filled in once the
/// router is complete; read on every unmatched request.
final class RouteTable: Sendable {
    private let routes = Mutex<[(components: [Substring], method: HTTPRequest.Method)]>([])

    func set(_ descriptions: [Router<AppRequestContext>.RouteDescription]) {
        let entries = descriptions.map { description in
            (components: description.path.description.split(separator: "/"), method: description.method)
        }
        routes.withLock { $0 = entries }
    }

    /// Whether `pattern` is one of the router's route patterns (as `context.endpointPath` gives them).
    func isRoute(_ pattern: String) -> Bool {
        let parts = pattern.split(separator: "/")
        return routes.withLock { routes in routes.contains { $0.components == parts } }
    }

    /// The methods routed for a path, in a stable order.
    func methods(for path: String) -> [HTTPRequest.Method] {
        let parts = path.split(separator: "/")
        let found = routes.withLock { routes in
            routes.filter { route in
                route.components.count == parts.count
                    && zip(route.components, parts).allSatisfy { pattern, part in
                        pattern.hasPrefix(":") || (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == part
                    }
            }.map(\.method)
        }
        var seen = Set<String>()
        // HEAD endpoints are generated for every GET when the responder is built.
        let withHead = found.contains(.get) ? found + [.head] : found
        return withHead.filter { seen.insert($0.rawValue).inserted }.sorted { $0.rawValue < $1.rawValue }
    }
}

/// Sits outside every route: gives each request an id (kept from a load balancer's
/// `X-Request-Id` when it is well-formed; logged and sent back), logs one line per request
/// without headers or bodies, records the request's metrics, and turns every error into the
/// contract's JSON — anything unexpected into a 500 whose detail only the log sees.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    /// A valid field name (the initialiser only fails on invalid characters).
    static let requestIDHeader = HTTPField.Name("X-Request-Id")
    /// The logger metadata key Hummingbird keeps the request id under (`context.id` reads it).
    static let requestIDMetadataKey = "hb.request.id"

    let routes: RouteTable
    let onRequest: @Sendable (_ method: String, _ path: String, _ status: Int) -> Void
    var metrics: ServerMetrics = .disabled

    /// An incoming id worth keeping: 1–128 characters of `[A-Za-z0-9._:-]`.
    static func acceptableRequestID(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...128).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                true
            default:
                false
            }
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        // A balancer's id follows the request into every log line and the response.
        if let name = Self.requestIDHeader, let incoming = request.headers[name], Self.acceptableRequestID(incoming) {
            context.logger[metadataKey: Self.requestIDMetadataKey] = .string(incoming)
        }
        let requestID = context.id
        context.logger.trace("request received", metadata: ["method": .string(request.method.rawValue), "path": .string(request.uri.path)])
        var response: Response
        var contractError: APIError?
        do {
            response = try await next(request, context)
        } catch {
            contractError = self.contractError(for: error, request: request)
            response = contractError?.response() ?? internalError(error, context: context)
        }
        if let name = Self.requestIDHeader { response.headers[name] = requestID }
        let elapsed = ContinuousClock.now - start
        let status = response.status.code
        let level: Logger.Level = status >= 500 ? .error : .info
        context.logger.log(
            level: level,
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(request.uri.path),
                "status": .stringConvertible(status),
                "duration_ms": .stringConvertible(Int(elapsed / .milliseconds(1))),
            ]
        )
        // The route pattern (`/notes/{id}`), never the raw path: ids stay out of labels, and
        // made-up paths cannot grow the label set.
        let route = context.endpointPath.flatMap { routes.isRoute($0) ? $0 : nil } ?? "unmatched"
        metrics.request(method: request.method.rawValue, route: route, status: status, duration: elapsed)
        metrics.outcome(route: route, method: request.method.rawValue, status: status, error: contractError)
        onRequest(request.method.rawValue, request.uri.path, status)
        return response
    }

    /// The contract error a thrown error stands for; nil for an unexpected one (a 500).
    func contractError(for error: any Error, request: Request) -> APIError? {
        switch error {
        case let error as APIError:
            return error
        case StorageError.unavailable:
            return APIError.unavailable
        case let error as HTTPError:
            return Self.mapped(error, request: request, routes: routes)
        default:
            return nil
        }
    }

    /// Hummingbird's own errors, as the contract names them.
    static func mapped(_ error: HTTPError, request: Request, routes: RouteTable) -> APIError? {
        switch error.status {
        case .notFound:
            let allowed = routes.methods(for: request.uri.path)
            if !allowed.isEmpty, !allowed.contains(request.method) {
                return .methodNotAllowed(request.method, allowed: allowed)
            }
            return .notFound("no route for \(request.method.rawValue) \(request.uri.path)")
        case .contentTooLarge:
            return .payloadTooLarge
        case .unsupportedMediaType:
            return .unsupportedMediaType
        case .methodNotAllowed:
            let allowed = routes.methods(for: request.uri.path)
            return .methodNotAllowed(request.method, allowed: allowed)
        case .serviceUnavailable:
            return .unavailable
        default:
            // Any other client error keeps its status, with what Hummingbird said of it (its
            // messages name no internals); server errors stay logged 500s.
            guard (400..<500).contains(error.status.code) else { return nil }
            let message = error.body ?? error.status.reasonPhrase.lowercased()
            var mapped = APIError(error.status, .validation, message)
            mapped.details = ["request": message]
            return mapped
        }
    }

    func internalError(_ error: any Error, context: Context) -> Response {
        // The type and description go to the log only; the body says nothing about them.
        context.logger.error(
            "unhandled error",
            metadata: ["error_type": .string(String(reflecting: type(of: error))), "error": .string(String(describing: error))]
        )
        return APIError.internalError(requestID: context.id)
    }
}
