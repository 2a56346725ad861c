public import Foundation
public import Hummingbird
import HummingbirdAuth
import HummingbirdCore
import HummingbirdTLS
import Logging
public import Metrics
public import NIOCore
import NIOSSL
import ServiceLifecycle

/// Hooks for whoever embeds the server: tests, and the executable's `listening on` line.
public struct ServerHooks: Sendable {
    /// Called once the socket is bound, with the real port (useful with port 0).
    public var onListening: @Sendable (_ host: String, _ port: Int) async -> Void
    /// Called once the socket is bound, with the listening channel (for `ListenerDrain`).
    public var onServerRunning: @Sendable (_ channel: any Channel) async -> Void
    /// Called once the metrics listener (`--metrics-port`) is bound, after `onListening`.
    public var onMetricsListening: @Sendable (_ host: String, _ port: Int) async -> Void
    /// Called after every response with its method, path and status.
    public var onRequest: @Sendable (_ method: String, _ path: String, _ status: Int) -> Void
    /// The clock for tokens, sessions and throttling.
    public var now: @Sendable () -> Date
    /// Where metrics go. Nil: with `--metrics-port`, a Prometheus registry of this app's own
    /// (served on that port); without, nowhere.
    public var metricsFactory: (any MetricsFactory)?

    public init(
        onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in },
        onServerRunning: @escaping @Sendable (_ channel: any Channel) async -> Void = { _ in },
        onMetricsListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in },
        onRequest: @escaping @Sendable (_ method: String, _ path: String, _ status: Int) -> Void = { _, _, _ in },
        now: @escaping @Sendable () -> Date = { Date() },
        metricsFactory: (any MetricsFactory)? = nil
    ) {
        self.onListening = onListening
        self.onServerRunning = onServerRunning
        self.onMetricsListening = onMetricsListening
        self.onRequest = onRequest
        self.now = now
        self.metricsFactory = metricsFactory
    }
}

/// Builds the whole server from a configuration: storage (migrated), keys, seeds, routes.
public func buildApplication(configuration: ServerConfiguration, hooks: ServerHooks = ServerHooks()) async throws -> some ApplicationProtocol {
    try configuration.validate()
    var logger = Logger(label: "notes-server")
    logger.logLevel = configuration.logLevel
    let location = try configuration.databaseLocation()
    // A database that cannot be reached is said first, before keys are made or files read.
    if case .postgres(let postgres) = location { try await PostgresDatabase.probe(postgres, logger: logger) }
    let storage = try openStorage(location, deadline: configuration.databaseDeadline, logger: logger)
    return try await buildApplication(configuration: configuration, storage: storage, hooks: hooks)
}

/// The storage a location names: SQLite opened and migrated now; PostgreSQL connected and
/// migrated when the server starts (its client must be running for that).
func openStorage(_ location: DatabaseLocation, deadline: Duration = .seconds(10), logger: Logger) throws -> Storage {
    switch location {
    case .sqlite(let path):
        do {
            return try SQLiteDatabase.open(path: path).storage
        } catch {
            throw ConfigurationError("cannot open the SQLite database \(path): \(error); check --data-dir or --database-url")
        }
    case .postgres(let location):
        let database = try PostgresDatabase(location: location, deadline: deadline, logger: logger)
        var storage = database.storage
        storage.whileHoldingLock = { key, logger, work in try await database.whileHoldingLock(key, logger: logger, work) }
        return storage
    }
}

/// Builds the server over given storage (tests pass storage they can break).
func buildApplication(
    configuration: ServerConfiguration,
    storage: Storage,
    hooks: ServerHooks,
    hasher given: PasswordHasher? = nil
) async throws -> some ApplicationProtocol {
    let logger = {
        var logger = Logger(label: "notes-server")
        logger.logLevel = configuration.logLevel
        return logger
    }()

    let seeds = try configuration.seedFile.map { path in (path: path, file: try Seeder.read(path: path)) }
    let hasher: PasswordHasher
    if let given { hasher = given } else { hasher = try await PasswordHasher(cost: configuration.bcryptCost) }
    // Each app has a registry of its own: tests run several apps in one process.
    let prometheus = configuration.metricsPort == nil ? nil : PrometheusMetrics()
    let metrics = (hooks.metricsFactory ?? prometheus?.factory).map(ServerMetrics.init) ?? .disabled
    let ring: KeyRing
    let keyFiles: [StoredSigningKey]
    if let fixed = try await SigningKey.fixed(configuration: configuration, logger: logger) {
        ring = KeyRing(fixed: fixed, publishDelay: configuration.keyPublishDelay, metrics: metrics)
        keyFiles = []
    } else {
        ring = KeyRing(repository: storage.signingKeys, settings: KeyRing.Settings(configuration), metrics: metrics)
        keyFiles = try await LegacyKeyFiles.read(configuration)
    }
    let cursors = CursorCodec()
    let router = try buildRouter(
        configuration: configuration,
        storage: storage,
        ring: ring,
        cursors: cursors,
        hasher: hasher,
        hooks: hooks,
        metrics: metrics
    )

    let apiListening = Latch()
    var app = Application(
        router: router,
        server: try httpServer(configuration),
        configuration: .init(address: .hostname(configuration.hostname, port: configuration.port), serverName: "notes-server"),
        onServerRunning: { channel in
            await hooks.onServerRunning(channel)
            await hooks.onListening(configuration.hostname, channel.localAddress?.port ?? configuration.port)
            apiListening.open()
        },
        logger: logger
    )
    app.addServices(storage.services)
    if let prometheus, let metricsPort = configuration.metricsPort {
        // Added before the API server, so it stops after it: metrics stay readable while draining.
        let listener = prometheus.application(
            hostname: configuration.hostname,
            port: metricsPort,
            logger: logger,
            onListening: hooks.onMetricsListening
        )
        app.addServices(MetricsService(app: listener, apiListening: apiListening, hostname: configuration.hostname, port: metricsPort))
    }
    let sweeper = SessionSweeper(storage: storage, now: hooks.now, logger: logger)
    app.addServices(sweeper, KeyRingService(ring: ring, now: hooks.now, logger: logger))
    // With the storage's services running and before the server binds: migrations, the key
    // ring and the cursor secret, seeds, a first sweep (the sweeper service then sweeps every
    // interval).
    app.beforeServerStarts {
        try await storage.prepare(logger)
        try await ring.prepare(importing: keyFiles, now: hooks.now(), logger: logger)
        cursors.load(secret: try await storage.signingKeys.secret(named: CursorCodec.secretName, make: CursorCodec.makeSecret, logger: logger))
        if let seeds {
            try await Seeder(users: storage.users, notes: storage.notes, hasher: hasher, now: hooks.now, logger: logger)
                .load(seeds.file, path: seeds.path)
        }
        await sweeper.sweep()
    }
    return app
}

func buildRouter(
    configuration: ServerConfiguration,
    storage: Storage,
    ring: KeyRing,
    cursors: CursorCodec,
    hasher: PasswordHasher,
    hooks: ServerHooks,
    metrics: ServerMetrics = .disabled
) throws -> Router<AppRequestContext> {
    let accessTokens = AccessTokens(
        ring: ring,
        issuer: configuration.issuer,
        audience: configuration.audience,
        ttl: configuration.accessTokenTTL,
        clockTolerance: configuration.clockTolerance,
        now: hooks.now
    )
    let refreshTokens = RefreshTokens(sessions: storage.sessions, ttl: configuration.refreshTokenTTL)

    let routeTable = RouteTable()
    // HEAD is answered wherever GET is, as HTTP expects.
    let router = Router(context: AppRequestContext.self, options: .autoGenerateHeadEndpoints)
    // First, so it wraps every route and the not-found responder too.
    router.add(middleware: ErrorMiddleware(routes: routeTable, onRequest: hooks.onRequest, metrics: metrics))

    WellKnownController(ping: storage.ping, ring: ring, now: hooks.now, openAPI: try OpenAPIDocument.load()).addRoutes(to: router)
    let auth = AuthController(
        users: storage.users,
        sessions: storage.sessions,
        hasher: hasher,
        throttle: LoginThrottle(attempts: storage.loginAttempts),
        accessTokens: accessTokens,
        refreshTokens: refreshTokens,
        now: hooks.now
    )
    auth.addRoutes(to: router.group("auth"))

    // Tokens that verified, answered again without RS256 while the key ring stays as it was.
    let tokenCache = VerifiedTokenCache(clockTolerance: configuration.clockTolerance)
    let protected = router.group()
        .add(middleware: JWTAuthenticator(tokens: accessTokens, cache: tokenCache))
        .group(context: AuthenticatedContext.self)
    auth.addProtectedRoutes(to: protected.group("auth"))
    UsersController(users: storage.users).addRoutes(to: protected)
    NotesController(notes: storage.notes, cursors: cursors, now: hooks.now)
        .addRoutes(to: protected.group("notes"))

    routeTable.set(router.routes)
    return router
}

/// HTTP/1.1, wrapped in TLS when `--tls-certificate` and `--tls-key` are given. The files are
/// read and checked here, so a bad one is a startup error (exit 78) and not a failed handshake.
func httpServer(_ configuration: ServerConfiguration) throws -> HTTPServerBuilder {
    let open = QueueCounter()
    let http1 = HTTPServerBuilder.http1(
        configuration: .init(
            additionalChannelHandlers: [ConnectionGuard(open: open, limit: configuration.maxConnections)],
            idleTimeout: .seconds(Int64(configuration.idleTimeout))
        )
    )
    guard let certificatePath = configuration.tlsCertificatePath, let keyPath = configuration.tlsKeyPath else { return http1 }
    let chain: [NIOSSLCertificate]
    do {
        chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
    } catch {
        throw ConfigurationError("--tls-certificate \(certificatePath) cannot be read as a PEM certificate: \(error)")
    }
    guard !chain.isEmpty else { throw ConfigurationError("--tls-certificate \(certificatePath) holds no certificate") }
    let key: NIOSSLPrivateKey
    do {
        key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
    } catch {
        throw ConfigurationError("--tls-key \(keyPath) cannot be read as a PEM private key: \(error)")
    }
    var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    tls.minimumTLSVersion = .tlsv12
    do {
        // Building a context checks that the key belongs to the certificate.
        _ = try NIOSSLContext(configuration: tls)
    } catch {
        throw ConfigurationError("--tls-certificate and --tls-key do not go together (\(error)); give the key of that certificate")
    }
    return try .tls(http1, tlsConfiguration: tls)
}

/// Deletes ended sessions and ended login-count windows at start and then every five minutes,
/// so the sessions of people who never log in again, and the counts of made-up usernames, do
/// not stay for ever (a login also clears its user's dead sessions).
struct SessionSweeper: Service {
    let storage: Storage
    let now: @Sendable () -> Date
    let logger: Logger
    var interval: Duration = .seconds(300)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                await sweep()
            }
        }
    }

    /// The advisory lock key of the sweep ("sweep" in ASCII): one replica sweeps at a time.
    static let lockKey: Int64 = 0x73_7765_6570

    /// Sweeps if no other replica is sweeping now (on SQLite: always); returns whether it swept.
    @discardableResult
    func sweep() async -> Bool {
        do {
            let swept = try await storage.whileHoldingLock(Self.lockKey, logger) { await sweepNow() }
            if !swept { logger.debug("another replica is sweeping sessions; skipped") }
            return swept
        } catch {
            if !Task.isCancelled {
                logger.warning("could not take the sweep lock", metadata: ["error": .string(String(describing: error))])
            }
            return false
        }
    }

    func sweepNow() async {
        do {
            let date = now()
            let sessions = try await storage.sessions.deleteEnded(at: date, logger: logger)
            let attempts = try await storage.loginAttempts.deleteExpired(at: date, rule: LoginThrottleRule(), logger: logger)
            if sessions > 0 || attempts > 0 {
                logger.info(
                    "ended sessions and login counts deleted",
                    metadata: ["sessions": .stringConvertible(sessions), "login_counts": .stringConvertible(attempts)]
                )
            }
        } catch {
            if !Task.isCancelled {
                logger.warning("could not delete ended sessions", metadata: ["error": .string(String(describing: error))])
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
