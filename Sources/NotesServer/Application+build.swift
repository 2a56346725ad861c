public import Foundation
public import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore
import ServiceLifecycle

/// Hooks for whoever embeds the server: tests, and the executable's `listening on` line.
public struct ServerHooks: Sendable {
    /// Called once the socket is bound, with the real port (useful with port 0).
    public var onListening: @Sendable (_ host: String, _ port: Int) async -> Void
    /// Called after every response with its method, path and status.
    public var onRequest: @Sendable (_ method: String, _ path: String, _ status: Int) -> Void
    /// The clock for tokens, sessions and throttling.
    public var now: @Sendable () -> Date

    public init(
        onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in },
        onRequest: @escaping @Sendable (_ method: String, _ path: String, _ status: Int) -> Void = { _, _, _ in },
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.onListening = onListening
        self.onRequest = onRequest
        self.now = now
    }
}

/// Builds the whole server from a configuration: storage (migrated), keys, seeds, routes.
public func buildApplication(configuration: ServerConfiguration, hooks: ServerHooks = ServerHooks()) async throws -> some ApplicationProtocol {
    try configuration.validate()
    let storage: Storage
    switch try configuration.databaseLocation() {
    case .sqlite(let path):
        do {
            storage = try SQLiteDatabase.open(path: path).storage
        } catch {
            throw ConfigurationError("cannot open the SQLite database \(path): \(error); check --data-dir or --database-url")
        }
    }
    return try await buildApplication(configuration: configuration, storage: storage, hooks: hooks)
}

/// Builds the server over given storage (tests pass storage they can break).
func buildApplication(configuration: ServerConfiguration, storage: Storage, hooks: ServerHooks) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "notes-server")
    logger.logLevel = configuration.logLevel

    let key = try await SigningKey.load(configuration: configuration, logger: logger)
    let hasher = try await PasswordHasher(cost: configuration.bcryptCost)
    if let seedFile = configuration.seedFile {
        try await Seeder(users: storage.users, notes: storage.notes, hasher: hasher, now: hooks.now, logger: logger).load(path: seedFile)
    }
    let router = try buildRouter(configuration: configuration, storage: storage, key: key, hasher: hasher, hooks: hooks)

    var app = Application(
        router: router,
        configuration: .init(address: .hostname(configuration.hostname, port: configuration.port), serverName: "notes-server"),
        onServerRunning: { channel in
            await hooks.onListening(configuration.hostname, channel.localAddress?.port ?? configuration.port)
        },
        logger: logger
    )
    app.addServices(StorageService(storage: storage), SessionSweeper(sessions: storage.sessions, now: hooks.now, logger: logger))
    return app
}

func buildRouter(
    configuration: ServerConfiguration,
    storage: Storage,
    key: SigningKey,
    hasher: PasswordHasher,
    hooks: ServerHooks
) throws -> Router<AppRequestContext> {
    let accessTokens = AccessTokens(
        key: key,
        issuer: configuration.issuer,
        audience: configuration.audience,
        ttl: configuration.accessTokenTTL,
        clockTolerance: configuration.clockTolerance,
        now: hooks.now
    )
    let refreshTokens = RefreshTokens(sessions: storage.sessions, ttl: configuration.refreshTokenTTL, now: hooks.now)

    let routeTable = RouteTable()
    // HEAD is answered wherever GET is, as HTTP expects.
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    // First, so it wraps every route and the not-found responder too.
    router.add(middleware: ErrorMiddleware(routes: routeTable, onRequest: hooks.onRequest))

    WellKnownController(ping: storage.ping, publicJWK: key.publicJWK, openAPI: try OpenAPIDocument.load()).addRoutes(to: router)
    AuthController(
        users: storage.users,
        hasher: hasher,
        throttle: LoginThrottle(now: hooks.now),
        accessTokens: accessTokens,
        refreshTokens: refreshTokens,
        now: hooks.now
    ).addRoutes(to: router.group("auth"))

    let protected = router.group()
        .add(middleware: JWTAuthenticator(tokens: accessTokens))
        .group(context: AuthenticatedContext.self)
    UsersController(users: storage.users).addRoutes(to: protected)
    NotesController(notes: storage.notes, cursors: CursorCodec(material: key.derivationMaterial), now: hooks.now)
        .addRoutes(to: protected.group("notes"))

    routeTable.set(router.routes)
    return router
}

/// Closes the database after the HTTP server has drained its in-flight requests
/// (ServiceLifecycle shuts services down in reverse order, the server first).
struct StorageService: Service {
    let storage: Storage

    func run() async throws {
        try? await gracefulShutdown()
        try await storage.close()
    }
}

/// Deletes ended sessions at start and then hourly, so the sessions of people who never log
/// in again do not stay for ever (a login also clears its user's).
struct SessionSweeper: Service {
    let sessions: any SessionRepository
    let now: @Sendable () -> Date
    let logger: Logger
    var interval: Duration = .seconds(3_600)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let deleted = try await sessions.deleteEnded(at: now())
                    if deleted > 0 { logger.info("ended sessions deleted", metadata: ["count": .stringConvertible(deleted)]) }
                } catch is CancellationError {
                    break  // shutting down (or failing to start): nothing went wrong
                } catch {
                    logger.warning("could not delete ended sessions", metadata: ["error": .string(String(describing: error))])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}

/// The OpenAPI document, kept as a resource of this module.
enum OpenAPIDocument {
    static func load() throws -> ByteBuffer {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw ConfigurationError("the OpenAPI document is missing from the build")
        }
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }
}
