import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import NotesModels
import Prometheus
import ServiceLifecycle

/// What the server counts, recorded through a `MetricsFactory` it is given (never the
/// process-wide `MetricsSystem`, so tests can run several apps side by side). Labels hold
/// route patterns, statuses, outcomes and fixed error messages only: never a username, a
/// token or an id.
struct ServerMetrics: Sendable {
    let factory: any MetricsFactory

    /// A server that records nothing (no `--metrics-port`).
    static let disabled = ServerMetrics(factory: NOOPMetricsHandler.instance)

    enum LoginOutcome: String { case success, failure, throttled }
    enum RefreshOutcome: String { case rotated, reused, expired, unknown }

    /// How the contract's messages for a busy server and a replayed refresh token begin.
    static let busyMessageStart = "the server is busy"
    static let reusedMessageStart = "refresh token was already used"
    static let expiredMessageStart = "refresh token has expired"

    /// One answered request: `route` is the matched pattern (`/notes/{id}`), never the raw path.
    func request(method: String, route: String, status: Int, duration: Duration) {
        let dimensions = [("method", method), ("route", route), ("status", String(status))]
        Counter(label: "notes_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Metrics.Timer(label: "notes_http_request_duration_seconds", dimensions: dimensions, factory: factory)
            .recordNanoseconds(Int64(clamping: duration.components.seconds) &* 1_000_000_000 &+ duration.components.attoseconds / 1_000_000_000)
    }

    func login(_ outcome: LoginOutcome) {
        Counter(label: "notes_logins_total", dimensions: [("outcome", outcome.rawValue)], factory: factory).increment()
    }

    func refresh(_ outcome: RefreshOutcome) {
        Counter(label: "notes_refreshes_total", dimensions: [("outcome", outcome.rawValue)], factory: factory).increment()
    }

    /// An access token refused; `message` is the contract's fixed error message (`jwt expired`).
    func accessTokenRefused(message: String) {
        Counter(label: "notes_access_token_refusals_total", dimensions: [("message", message)], factory: factory).increment()
    }

    /// How many keys of the signing key ring are in `state` (`current`, `next`, `retiring`).
    func signingKeys(state: String, count: Int) {
        Gauge(label: "notes_signing_keys", dimensions: [("state", state)], factory: factory).record(count)
    }

    /// Records what one response says about logins, refreshes and token refusals. Central, in
    /// the middleware that sees every response with its route and its contract error, so the
    /// controllers stay free of metrics.
    func outcome(route: String?, method: String, status: Int, error: APIError?) {
        if let error, [ErrorName.tokenExpired, .notBefore, .jsonWebToken, .unauthorized].contains(error.name) {
            // `UnauthorizedError` from the login or refresh routes never happens; from a
            // protected route it is a missing token.
            accessTokenRefused(message: error.message)
        }
        guard method == "POST" else { return }
        switch route {
        case "/auth/login":
            if status == 200 {
                login(.success)
            } else if status == 401 {
                login(.failure)
            } else if status == 429, error?.message.hasPrefix(Self.busyMessageStart) == false {
                // A 429 because bcrypt is saturated refuses before the password check: not the
                // brute-force throttle, so it is not counted as `throttled`.
                login(.throttled)
            }
        case "/auth/refresh":
            if status == 200 {
                refresh(.rotated)
            } else if status == 401, let error {
                // Told apart by the start of the message AuthController gives each outcome;
                // revoked sessions count as unknown (their tokens answer alike).
                if error.message.hasPrefix(Self.reusedMessageStart) {
                    refresh(.reused)
                } else if error.message.hasPrefix(Self.expiredMessageStart) {
                    refresh(.expired)
                } else {
                    refresh(.unknown)
                }
            }
        default:
            break
        }
    }
}

/// The Prometheus side: one registry per application, its factory, and `GET /metrics`.
struct PrometheusMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    init() {
        registry = PrometheusCollectorRegistry()
        factory = PrometheusMetricsFactory(registry: registry)
    }

    /// `GET /metrics` in the Prometheus text format, on a listener of its own.
    func application(
        hostname: String,
        port: Int,
        logger: Logger,
        onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void
    ) -> some ApplicationProtocol {
        let router = Router()
        let registry = self.registry
        router.get("metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer))
            )
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(hostname, port: port), serverName: "notes-server-metrics"),
            onServerRunning: { channel in await onListening(hostname, channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}

/// Runs the metrics listener once the API's listener is up, so its stdout line comes second.
struct MetricsService<App: ApplicationProtocol>: Service {
    let app: App
    let apiListening: Latch
    let hostname: String
    let port: Int

    func run() async throws {
        guard await apiListening.wait() else { return }
        do {
            try await app.run()
        } catch  where ServeCommand.isAddressInUse(error) {
            throw MetricsPortInUse(hostname: hostname, port: port)
        }
    }
}

/// The metrics port was taken: said apart from the API port, so the message names the right option.
struct MetricsPortInUse: Error {
    let hostname: String
    let port: Int
}

/// Opens once; waiters return true when it opened, false when cancelled first.
final class Latch: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream<Void>.makeStream()
    }

    func open() {
        continuation.yield()
        continuation.finish()
    }

    func wait() async -> Bool {
        await withTaskCancellationHandler {
            for await _ in stream { return true }
            return false
        } onCancel: {
            continuation.finish()
        }
    }
}
