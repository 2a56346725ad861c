public import ArgumentParser
public import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// `notes-server`: runs `serve` by default.
public struct NotesServerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "notes-server",
        abstract: "The SecureNotes JWT-secured notes REST API.",
        // `notes-server` alone runs `serve`, so its help shows serve's options, not only the
        // subcommand's name.
        discussion: "With no subcommand it runs serve, whose options follow.\n\n" + ServeCommand.optionsHelp,
        version: "0.9.0",
        subcommands: [ServeCommand.self, KeysCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    public init() {}
}

/// `notes-server serve`: every option of API.md; each also reads `NOTES_<OPTION>` from the
/// environment, and a flag beats the variable.
public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Start the server.",
        discussion:
            "Every option also reads NOTES_<OPTION> from the environment (--access-token-ttl <- NOTES_ACCESS_TOKEN_TTL); a flag beats the variable."
    )

    @Option(help: "Bind address. (default: 127.0.0.1)") var hostname: String?
    @Option(help: "Port; 0 picks a free one. (default: 8080)") var port: String?
    @Option(help: "Serve Prometheus GET /metrics on this port at --hostname; 0 picks one. (default: off)") var metricsPort: String?
    @Option(help: "Holds the SQLite file, which holds the key ring too. (default: ./notes-data)") var dataDir: String?
    @Option(help: "sqlite:///abs/path.sqlite (default: SQLite in the data dir)") var databaseUrl: String?
    @Option(help: "HS256, RS256, ES256 or EdDSA. (default: RS256)") var jwtAlgorithm: String?
    @Option(help: "HS256 secret, at least 32 bytes. Prefer NOTES_JWT_SECRET: flags show in ps.") var jwtSecret: String?
    @Option(help: "HS256 only: a secret that still verifies but no longer signs, while tokens it signed expire.")
    var jwtPreviousSecret: String?
    @Option(help: "PEM private key for RS256/ES256/EdDSA: pins this one key. (default: the key ring in the database)")
    var jwtPrivateKey: String?
    @Option(help: "How long a new ring key is in the JWKS before it signs. (default: 5m)") var keyPublishDelay: String?
    @Option(help: "Rotate the ring when the signing key is older than this, e.g. 30d. (default: off)") var keyRotationInterval: String?
    @Option(help: "The iss claim. (default: notes-server)") var issuer: String?
    @Option(help: "The aud claim. (default: notes-client)") var audience: String?
    @Option(help: "Access token lifetime: 45s, 15m, 2h, 30d or seconds. (default: 15m)") var accessTokenTtl: String?
    @Option(help: "Refresh token (session family) lifetime. (default: 30d)") var refreshTokenTtl: String?
    @Option(help: "Leeway for exp/nbf, at most 5m. (default: 0s)") var clockTolerance: String?
    @Option(help: "bcrypt cost, 4-31. (default: 12)") var bcryptCost: String?
    @Option(help: "A Seeds JSON file to load at start; loading twice changes nothing.") var seed: String?
    @Option(help: "Close a connection with no request in progress after this long, slow headers included. (default: 30s)")
    var idleTimeout: String?
    @Option(help: "Connections open at once; more are closed at once. (default: 512)") var maxConnections: String?
    @Option(help: "PEM certificate (chain): serve HTTPS instead of HTTP; needs --tls-key.") var tlsCertificate: String?
    @Option(help: "PEM private key of --tls-certificate.") var tlsKey: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical. (default: info)") var logLevel: String?

    public init() {}

    /// The OPTIONS part of `serve --help`, and the environment rule.
    static var optionsHelp: String {
        // Narrower than the 80 columns the root help wraps its discussion at, so nothing is re-wrapped.
        let help = helpMessage(columns: 78)
        let options = help.range(of: "OPTIONS:").map { String(help[$0.lowerBound...]) } ?? help
        return options.trimmingCharacters(in: .whitespacesAndNewlines) + "\n\n" + configuration.discussion
    }

    /// Flags over `NOTES_*` variables over defaults, validated.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> ServerConfiguration {
        func value(_ flag: String?, _ name: String) -> String? {
            if let flag { return flag }
            if let env = environment["NOTES_" + name], !env.isEmpty { return env }
            return nil
        }
        func duration(_ flag: String?, _ name: String, _ option: String) throws(ConfigurationError) -> Int? {
            guard let text = value(flag, name) else { return nil }
            guard let seconds = DurationParser.seconds(text) else {
                throw ConfigurationError("--\(option) takes a duration like 45s, 15m, 2h, 30d or plain seconds, got '\(text)'")
            }
            return seconds
        }
        func integer(_ flag: String?, _ name: String, _ option: String) throws(ConfigurationError) -> Int? {
            guard let text = value(flag, name) else { return nil }
            guard let number = Int(text) else { throw ConfigurationError("--\(option) takes a whole number, got '\(text)'") }
            return number
        }

        var config = ServerConfiguration()
        if let v = value(hostname, "HOSTNAME") { config.hostname = v }
        if let v = try integer(port, "PORT", "port") { config.port = v }
        config.metricsPort = try integer(metricsPort, "METRICS_PORT", "metrics-port")
        if let v = value(dataDir, "DATA_DIR") { config.dataDirectory = v }
        config.databaseURL = value(databaseUrl, "DATABASE_URL")
        if let v = value(jwtAlgorithm, "JWT_ALGORITHM") {
            guard let algorithm = JWTAlgorithmName(name: v) else {
                throw ConfigurationError("--jwt-algorithm must be one of HS256, RS256, ES256, EdDSA; got '\(v)'")
            }
            config.jwtAlgorithm = algorithm
            config.jwtAlgorithmGiven = true
        }
        config.jwtSecret = value(jwtSecret, "JWT_SECRET")
        config.jwtPreviousSecret = value(jwtPreviousSecret, "JWT_PREVIOUS_SECRET")
        config.jwtPrivateKeyPath = value(jwtPrivateKey, "JWT_PRIVATE_KEY")
        if let v = try duration(keyPublishDelay, "KEY_PUBLISH_DELAY", "key-publish-delay") { config.keyPublishDelay = v }
        config.keyRotationInterval = try duration(keyRotationInterval, "KEY_ROTATION_INTERVAL", "key-rotation-interval")
        if let v = value(issuer, "ISSUER") { config.issuer = v }
        if let v = value(audience, "AUDIENCE") { config.audience = v }
        if let v = try duration(accessTokenTtl, "ACCESS_TOKEN_TTL", "access-token-ttl") { config.accessTokenTTL = v }
        if let v = try duration(refreshTokenTtl, "REFRESH_TOKEN_TTL", "refresh-token-ttl") { config.refreshTokenTTL = v }
        if let v = try duration(clockTolerance, "CLOCK_TOLERANCE", "clock-tolerance") { config.clockTolerance = v }
        if let v = try integer(bcryptCost, "BCRYPT_COST", "bcrypt-cost") { config.bcryptCost = v }
        config.seedFile = value(seed, "SEED")
        if let v = try duration(idleTimeout, "IDLE_TIMEOUT", "idle-timeout") { config.idleTimeout = v }
        if let v = try integer(maxConnections, "MAX_CONNECTIONS", "max-connections") { config.maxConnections = v }
        config.tlsCertificatePath = value(tlsCertificate, "TLS_CERTIFICATE")
        config.tlsKeyPath = value(tlsKey, "TLS_KEY")
        if let v = value(logLevel, "LOG_LEVEL") {
            guard let level = Logger.Level(rawValue: v.lowercased()) else {
                throw ConfigurationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(v)'")
            }
            config.logLevel = level
        }
        try config.validate()
        return config
    }

    public func run() async throws {
        _ = serverLogBootstrap
        let config: ServerConfiguration
        do {
            config = try resolve()
        } catch {
            Self.printError("notes-server: \(error.description)")
            throw ExitCode(78)  // EX_CONFIG
        }
        // Keys, the database and its WAL hold secrets and hashes: nothing the server creates is
        // readable by other users.
        umask(0o077)
        var logger = Logger(label: "notes-server")
        logger.logLevel = config.logLevel
        let drain = ListenerDrain(logger: logger)
        let hooks = ServerHooks(
            onListening: { host, port in
                let shown = host.contains(":") ? "[\(host)]" : host
                // stdout is block-buffered when redirected; FileHandle writes straight through.
                FileHandle.standardOutput.write(Data("listening on \(config.scheme)://\(shown):\(port)\n".utf8))
            },
            onServerRunning: { channel in drain.serverRunning(channel) },
            onMetricsListening: { host, port in
                let shown = host.contains(":") ? "[\(host)]" : host
                FileHandle.standardOutput.write(Data("metrics on http://\(shown):\(port)\n".utf8))
            }
        )
        do {
            let app = try await buildApplication(configuration: config, hooks: hooks)
            // SIGTERM/SIGINT: the drain (shut down first, being last) stops new connections and
            // lets the kernel's queue of accepted ones empty; then Hummingbird's graceful shutdown
            // closes the listener (new connections are refused) and lets every request in flight
            // finish.
            let group = ServiceGroup(
                configuration: .init(services: [app, drain], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            )
            try await group.run()
        } catch let error as ConfigurationError {
            Self.printError("notes-server: \(error.description)")
            throw ExitCode(78)
        } catch let error as MetricsPortInUse {
            Self.printError(
                "notes-server: the metrics port \(error.port) on \(error.hostname) is already in use; "
                    + "choose another with --metrics-port (or NOTES_METRICS_PORT), or --metrics-port 0 for any free port"
            )
            throw ExitCode(69)
        } catch  where Self.isAddressInUse(error) {
            Self.printError(
                "notes-server: port \(config.port) on \(config.hostname) is already in use (another notes-server, or make demo?); "
                    + "choose another with --port (or NOTES_PORT), or --port 0 for any free port"
            )
            throw ExitCode(69)  // EX_UNAVAILABLE
        }
    }

    /// Whether binding failed because the port is taken (NIO reports errno EADDRINUSE).
    static func isAddressInUse(_ error: any Error) -> Bool {
        if let error = error as? IOError { return error.errnoCode == EADDRINUSE }
        return String(describing: error).contains("Address already in use")
    }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Every logger the server makes writes through `StderrLogHandler` (swift-log allows one
/// bootstrap per process; this runs it at most once).
private let serverLogBootstrap: Void = LoggingSystem.bootstrap { label in StderrLogHandler(label: label) }
