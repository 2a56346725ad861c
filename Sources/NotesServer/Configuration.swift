import Foundation
public import Logging

/// The signing algorithms the server can be configured with. Only the configured one is
/// ever accepted on incoming tokens.
public enum JWTAlgorithmName: String, Sendable, CaseIterable {
    case hs256 = "HS256"
    case rs256 = "RS256"
    case es256 = "ES256"
    case edDSA = "EdDSA"

    /// Parses the names API.md lists, case-insensitively (`rs256` works too).
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else { return nil }
        self = match
    }
}

/// Where the data lives.
public enum DatabaseLocation: Sendable, Equatable {
    /// A SQLite file, at an absolute path.
    case sqlite(path: String)
    /// A PostgreSQL database, shared by any number of replicas.
    case postgres(PostgresLocation)
}

/// Every option of API.md with its default. Tests build one as a plain value; the command line
/// and `NOTES_*` variables fill one in ``ServerOptions``.
public struct ServerConfiguration: Sendable {
    public var hostname: String = "127.0.0.1"
    public var port: Int = 8080
    /// A second listener at `hostname` serving Prometheus `GET /metrics`; nil: none.
    public var metricsPort: Int?
    public var dataDirectory: String = "./notes-data"
    public var databaseURL: String?
    public var jwtAlgorithm: JWTAlgorithmName = .rs256
    public var jwtSecret: String?
    public var jwtPrivateKeyPath: String?
    /// HS256: a secret that still verifies but no longer signs.
    public var jwtPreviousSecret: String?
    /// Whether `--jwt-algorithm` was given (a rotation then switches the ring to it).
    public var jwtAlgorithmGiven = false
    /// Seconds a new ring key is published before it signs.
    public var keyPublishDelay: Int = 300
    /// Rotate the ring when the signing key is older than this many seconds; nil: never.
    public var keyRotationInterval: Int?
    public var issuer: String = "notes-server"
    public var audience: String = "notes-client"
    /// Seconds.
    public var accessTokenTTL: Int = 15 * 60
    /// Seconds; the fixed lifetime of a session family from its login.
    public var refreshTokenTTL: Int = 30 * 86_400
    /// Seconds of leeway for `exp` and `nbf`.
    public var clockTolerance: Int = 0
    public var bcryptCost: Int = 12
    public var seedFile: String?
    /// Seconds a connection may stay open with no request in progress: between requests, and
    /// while a request's headers are still arriving (a slow-header client is closed too).
    public var idleTimeout: Int = 30
    /// Connections open at once; past it new ones are closed at once.
    public var maxConnections: Int = 512
    /// PEM files: serve HTTPS instead of HTTP.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var logLevel: Logger.Level = .info
    /// How long one database call may take before it is answered 503 (PostgreSQL).
    var databaseDeadline: Duration = .seconds(10)

    public init() {}

    /// The longest token lifetime: ten years.
    public static let maxTTL = 3_650 * 86_400

    /// The most leeway `--clock-tolerance` may give.
    public static let maxClockTolerance = 5 * 60

    /// Checks everything that can be checked without touching the disk; one message per mistake.
    public func validate() throws(ConfigurationError) {
        guard (0...65_535).contains(port) else {
            throw ConfigurationError("--port must be between 0 and 65535 (0 picks a free port), got \(port)")
        }
        if let metricsPort, !(0...65_535).contains(metricsPort) {
            throw ConfigurationError("--metrics-port must be between 0 and 65535 (0 picks a free port), got \(metricsPort)")
        }
        guard !hostname.isEmpty else { throw ConfigurationError("--hostname must not be empty") }
        guard (1...Self.maxTTL).contains(accessTokenTTL) else {
            throw ConfigurationError("--access-token-ttl must be between 1s and 3650d, like 15m")
        }
        guard (1...Self.maxTTL).contains(refreshTokenTTL) else {
            throw ConfigurationError("--refresh-token-ttl must be between 1s and 3650d, like 30d")
        }
        guard (0...Self.maxClockTolerance).contains(clockTolerance) else {
            throw ConfigurationError("--clock-tolerance must be between 0s and 5m, got \(clockTolerance)s")
        }
        guard (4...31).contains(bcryptCost) else {
            throw ConfigurationError("--bcrypt-cost must be between 4 and 31, got \(bcryptCost)")
        }
        guard !issuer.isEmpty, !audience.isEmpty else { throw ConfigurationError("--issuer and --audience must not be empty") }
        switch jwtAlgorithm {
        case .hs256:
            guard let secret = jwtSecret else {
                throw ConfigurationError(
                    "HS256 needs a shared secret: pass --jwt-secret (or set NOTES_JWT_SECRET) to at least 32 random bytes, e.g. $(openssl rand -base64 48)"
                )
            }
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError(
                    "--jwt-secret is \(secret.utf8.count) bytes; HS256 needs at least 32 (try $(openssl rand -base64 48))"
                )
            }
            if jwtPrivateKeyPath != nil {
                throw ConfigurationError("--jwt-private-key is for RS256, ES256 and EdDSA; HS256 uses --jwt-secret")
            }
            if let previous = jwtPreviousSecret, previous.utf8.count < 32 {
                throw ConfigurationError("--jwt-previous-secret is \(previous.utf8.count) bytes; an HS256 secret has at least 32")
            }
        case .rs256, .es256, .edDSA:
            if jwtPreviousSecret != nil {
                throw ConfigurationError("--jwt-previous-secret is only for HS256")
            }
            if jwtSecret != nil {
                throw ConfigurationError(
                    "--jwt-secret is only for HS256; \(jwtAlgorithm.rawValue) signs with --jwt-private-key (or a generated key)"
                )
            }
        }
        guard (0...90 * 86_400).contains(keyPublishDelay) else {
            throw ConfigurationError("--key-publish-delay must be between 0s and 90d, got \(keyPublishDelay)s")
        }
        if let interval = keyRotationInterval, interval <= keyPublishDelay || interval > 3_650 * 86_400 {
            throw ConfigurationError(
                "--key-rotation-interval must be longer than --key-publish-delay (\(keyPublishDelay)s) and at most 3650d, got \(interval)s"
            )
        }
        guard (1...3_600).contains(idleTimeout) else { throw ConfigurationError("--idle-timeout must be between 1s and 1h, got \(idleTimeout)s") }
        guard (1...1_000_000).contains(maxConnections) else {
            throw ConfigurationError("--max-connections must be between 1 and 1000000, got \(maxConnections)")
        }
        guard (tlsCertificatePath == nil) == (tlsKeyPath == nil) else {
            throw ConfigurationError("HTTPS needs both --tls-certificate and --tls-key (PEM files), or neither for plain HTTP")
        }
        _ = try databaseLocation()
    }

    /// `https` when a certificate is configured, else `http`.
    public var scheme: String { tlsCertificatePath == nil ? "http" : "https" }

    /// The database the configuration names: `--database-url`, else `DATA_DIR/notes.sqlite`.
    public func databaseLocation() throws(ConfigurationError) -> DatabaseLocation {
        guard let url = databaseURL, !url.isEmpty else {
            return .sqlite(path: absolutePath(dataDirectory + "/notes.sqlite"))
        }
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            guard path.hasPrefix("/"), path.count > 1 else {
                throw ConfigurationError("--database-url: a SQLite URL needs an absolute path, like sqlite:///var/lib/notes/notes.sqlite")
            }
            return .sqlite(path: path)
        }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return .postgres(try PostgresLocation(url: url))
        }
        throw ConfigurationError(
            "--database-url must look like sqlite:///abs/path.sqlite or postgres://user:password@host:5432/database, got a URL with another scheme"
        )
    }

    func absolutePath(_ path: String) -> String {
        URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
            .standardizedFileURL.path
    }

    var keysDirectory: String { absolutePath(dataDirectory + "/keys") }
}

/// A configuration mistake, said in one line with how to fix it.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Parses API.md's durations: `45s`, `15m`, `2h`, `30d`, or plain seconds.
public enum DurationParser {
    public static func seconds(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let multiplier: Int
        var digits = Substring(trimmed)
        switch last {
        case "s": multiplier = 1
        case "m": multiplier = 60
        case "h": multiplier = 3_600
        case "d": multiplier = 86_400
        case "0"..."9": multiplier = 1
        default: return nil
        }
        if !last.isNumber { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let value = Int(digits) else { return nil }
        let (result, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : result
    }
}
