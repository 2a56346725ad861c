import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Where a PostgreSQL database is, from `--database-url postgres://user:pass@host:port/db?sslmode=…`.
public struct PostgresLocation: Sendable, Equatable {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: SSLMode

    /// Parses a `postgres://` or `postgresql://` URL; the message of a mistake never shows the
    /// password.
    public init(url: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw ConfigurationError(
                "--database-url: cannot read the PostgreSQL URL; it should look like postgres://user:password@host:5432/database"
            )
        }
        guard let host = components.host, !host.isEmpty else {
            throw ConfigurationError("--database-url: the PostgreSQL URL names no host, like postgres://user:password@127.0.0.1:5432/notes")
        }
        guard let user = components.user, !user.isEmpty else {
            throw ConfigurationError("--database-url: the PostgreSQL URL names no user, like postgres://notes:password@\(host)/notes")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else {
            throw ConfigurationError("--database-url: the PostgreSQL URL names no database, like postgres://\(user)@\(host):5432/notes")
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 5432
        guard (1...65_535).contains(port) else { throw ConfigurationError("--database-url: the port must be 1-65535") }
        self.username = components.user?.removingPercentEncoding ?? user
        self.password = components.password?.removingPercentEncoding ?? components.password
        self.database = path.removingPercentEncoding ?? path
        self.sslMode = .prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = SSLMode(rawValue: item.value ?? "") else {
                    throw ConfigurationError("--database-url: sslmode must be disable, prefer or require, got '\(item.value ?? "")'")
                }
                sslMode = mode
            default:
                throw ConfigurationError("--database-url: unknown parameter '\(item.name)'; only sslmode=disable|prefer|require is understood")
            }
        }
    }

    /// The URL with the password masked, for messages and logs.
    public var redacted: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)\(password == nil ? "" : ":***")@\(shownHost):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
    }
}

/// The PostgreSQL engine: PostgresNIO's `PostgresClient` (a connection pool, run as a service),
/// versioned migrations under an advisory lock, and every query with bound parameters and a
/// deadline, so a database that stops answering turns into 503s, not hung requests.
struct PostgresDatabase: Sendable {
    let location: PostgresLocation
    let client: PostgresClient
    /// How long one storage call may take before it is given up as unavailable.
    let deadline: Duration

    init(location: PostgresLocation, maximumConnections: Int = 20, deadline: Duration = .seconds(10), logger: Logger) throws {
        self.location = location
        self.deadline = deadline
        let tls: PostgresClient.Configuration.TLS
        switch location.sslMode {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: location.host,
            port: location.port,
            username: location.username,
            password: location.password,
            database: location.database,
            tls: tls
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    var storage: Storage {
        Storage(
            users: PostgresUserRepository(db: self),
            notes: PostgresNoteRepository(db: self),
            sessions: PostgresSessionRepository(db: self),
            loginAttempts: PostgresLoginAttemptRepository(db: self),
            signingKeys: PostgresSigningKeyRepository(db: self),
            ping: { _ = try await self.run(logger: nil) { client in try await client.execute(Ping()).first { _ in true } } },
            services: [client],
            prepare: { logger in try await self.prepare(logger: logger) }
        )
    }

    /// `/health`'s round trip, prepared once per connection.
    private struct Ping: PostgresPreparedStatement {
        static let name = "notes_ping"
        static let sql = "SELECT 1"
        typealias Row = Int
        func makeBindings() throws -> PostgresBindings { PostgresBindings() }
        func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
    }

    // MARK: Running queries

    /// Runs `work` with the deadline; a lost or silent database becomes ``StorageError/unavailable``.
    @discardableResult
    func run<T: Sendable>(logger: Logger?, _ work: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = self.client
        do {
            return try await Deadline.run(deadline) { try await work(client) }
        } catch {
            throw Self.classify(error, logger: logger)
        }
    }

    /// Runs `work` in a transaction, with the deadline.
    func transaction<T: Sendable>(logger: Logger, _ work: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await run(logger: logger) { client in
            try await client.withTransaction(logger: logger) { connection in try await work(connection) }
        }
    }

    /// SQLSTATE classes that mean the database cannot serve now: 08 connection exception,
    /// 53 insufficient resources, 57 operator intervention (shutdown, cannot connect now).
    static let unavailableClasses: Set<Substring> = ["08", "53", "57"]

    static func classify(_ error: any Error, logger: Logger?) -> any Error {
        switch error {
        case let error as StorageError:
            return error
        case let error as PSQLError:
            if let state = error.serverInfo?[.sqlState], !unavailableClasses.contains(state.prefix(2)) {
                // Only the code: a server message may quote the data (a duplicate key's value).
                logger?.debug("database error", metadata: ["sqlstate": .string(state), "code": .string("\(error.code)")])
                return error
            }
            if let underlying = error.underlying as? PostgresTransactionError, let closure = underlying.closureError {
                return classify(closure, logger: logger)
            }
            logger?.warning("database unavailable", metadata: ["error": .string(describe(error))])
            return StorageError.unavailable
        case let error as PostgresTransactionError:
            if let closure = error.closureError { return classify(closure, logger: logger) }
            logger?.warning("database unavailable", metadata: ["error": .string(String(describing: error))])
            return StorageError.unavailable
        case is Deadline.Exceeded, is CancellationError:
            logger?.warning("database unavailable", metadata: ["error": .string(String(describing: error))])
            return StorageError.unavailable
        default:
            // The pool's own errors (circuit breaker tripped, request cancelled, shut down)
            // are of a type PostgresNIO does not export.
            if String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError") {
                logger?.warning("database unavailable", metadata: ["error": .string(String(describing: error))])
                return StorageError.unavailable
            }
            return error
        }
    }

    /// What went wrong, in words that never include the password (PSQLError's own description
    /// is deliberately empty).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return message
            }
            if let underlying = error.underlying { return describe(underlying) }
            return "\(error.code)"
        }
        if let error = error as? NIOConnectionError {
            let reasons = error.connectionErrors.map { describe($0.error) }
            return Array(Set(reasons)).sorted().joined(separator: "; ")
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        return String(describing: error)
    }

    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }

    // MARK: Migrations

    /// Reaches the database (once, with its real error when it cannot), then migrates under an
    /// advisory lock, so replicas that start together migrate once.
    func prepare(logger: Logger) async throws {
        try await Self.probe(location, logger: logger)
        do {
            try await client.withConnection { connection in
                try await connection.perform("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: logger)
                do {
                    try await PostgresMigrations.migrate(connection, logger: logger)
                } catch {
                    _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger).collect()
                    throw error
                }
                try await connection.perform("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: logger)
            }
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw ConfigurationError("cannot migrate the PostgreSQL database \(location.redacted): \(Self.describe(error))")
        }
    }

    /// The advisory lock key migrations take ("notes" in ASCII).
    static let migrationLock: Int64 = 0x6e6f_7465_73

    /// One direct connection: an unreachable database, a wrong password or a missing database
    /// is said at start, in one line, instead of as a pool that retries for ever.
    static func probe(_ location: PostgresLocation, logger: Logger) async throws {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch location.sslMode {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw ConfigurationError("--database-url: cannot set up TLS for PostgreSQL: \(error)")
        }
        var configuration = location.connectionConfiguration(tls: tls)
        configuration.options.connectTimeout = .seconds(10)
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
        } catch {
            throw ConfigurationError(
                "cannot reach the PostgreSQL database \(location.redacted): \(Self.describe(error)); check that PostgreSQL is running there and that the user, password and database in --database-url are right"
            )
        }
    }
}

extension PostgresLocation {
    /// One connection's configuration (a probe, or a tool), outside the pool.
    func connectionConfiguration(tls: PostgresConnection.Configuration.TLS) -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }
}

/// Versioned migrations, each a list of statements run in one transaction. Shipped ones are
/// never edited; a change is a new version.
enum PostgresMigrations {
    static let all: [(version: Int, name: String, statements: [String])] = [
        (
            1, "users-notes-sessions-login-attempts",
            [
                """
                CREATE TABLE users (
                    id uuid PRIMARY KEY,
                    username text NOT NULL UNIQUE,
                    password_hash text NOT NULL,
                    admin boolean NOT NULL DEFAULT false,
                    created_at_ms bigint NOT NULL,
                    last_note_created_at_ms bigint NOT NULL DEFAULT 0
                )
                """,
                """
                CREATE TABLE notes (
                    id uuid PRIMARY KEY,
                    owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    title text NOT NULL,
                    body text NOT NULL,
                    tags text[] NOT NULL,
                    created_at_ms bigint NOT NULL,
                    updated_at_ms bigint NOT NULL,
                    version integer NOT NULL,
                    search tsvector NOT NULL
                )
                """,
                "CREATE INDEX notes_by_owner_newest ON notes (owner_id, created_at_ms DESC, id DESC)",
                "CREATE INDEX notes_search ON notes USING gin (search)",
                "CREATE INDEX notes_tags ON notes USING gin (tags)",
                """
                CREATE TABLE session_families (
                    id uuid PRIMARY KEY,
                    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    created_at_ms bigint NOT NULL,
                    expires_at_ms bigint NOT NULL,
                    revoked_at_ms bigint
                )
                """,
                "CREATE INDEX session_families_by_user ON session_families (user_id)",
                """
                CREATE TABLE refresh_tokens (
                    token_hash text PRIMARY KEY,
                    family_id uuid NOT NULL REFERENCES session_families(id) ON DELETE CASCADE,
                    issued_at_ms bigint NOT NULL,
                    spent_at_ms bigint
                )
                """,
                "CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id)",
                """
                CREATE TABLE login_attempts (
                    key text PRIMARY KEY,
                    window_start_ms bigint NOT NULL,
                    failures integer NOT NULL,
                    pending integer NOT NULL,
                    pending_until_ms bigint NOT NULL
                )
                """,
            ]
        ),
        (
            2, "session-last-used",
            [
                "ALTER TABLE session_families ADD COLUMN last_used_at_ms bigint NOT NULL DEFAULT 0",
                "UPDATE session_families SET last_used_at_ms = created_at_ms",
                "ALTER TABLE refresh_tokens ADD COLUMN generation integer NOT NULL DEFAULT 0",
                "CREATE INDEX refresh_tokens_by_family_generation ON refresh_tokens (family_id, generation)",
            ]
        ),
        (
            3, "signing-key-ring",
            [
                """
                CREATE TABLE notes_signing_keys (
                    kid text PRIMARY KEY,
                    legacy_kid text,
                    legacy_until_ms bigint,
                    algorithm text NOT NULL,
                    private_key_pem text NOT NULL,
                    state text NOT NULL,
                    created_at_ms bigint NOT NULL,
                    activates_at_ms bigint NOT NULL,
                    retires_at_ms bigint,
                    retired_at_ms bigint
                )
                """,
                "CREATE UNIQUE INDEX notes_signing_keys_one_current ON notes_signing_keys (state) WHERE state = 'current'",
                "CREATE TABLE notes_server_secrets (name text PRIMARY KEY, value bytea NOT NULL)",
            ]
        ),
    ]

    static var latest: Int { all.last?.version ?? 0 }

    /// Applies what is missing, on a connection that holds the migration lock.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.perform(
            """
            CREATE TABLE IF NOT EXISTS notes_schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            logger: logger
        )
        var applied: Int = 0
        for try await version in try await connection.query("SELECT COALESCE(MAX(version), 0) FROM notes_schema_migrations", logger: logger)
            .decode(Int.self)
        {
            applied = version
        }
        guard applied <= latest else {
            throw ConfigurationError(
                "the PostgreSQL database is at schema version \(applied), newer than this notes-server knows (\(latest)); run a newer notes-server, or point --database-url at another database"
            )
        }
        for migration in all where migration.version > applied {
            try await connection.withTransaction(logger: logger) { connection in
                for statement in migration.statements {
                    try await connection.perform(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.perform(
                    "INSERT INTO notes_schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
            }
            logger.info("database migrated", metadata: ["version": .stringConvertible(migration.version), "name": .string(migration.name)])
        }
    }
}

extension PostgresConnection {
    /// Runs a statement whose rows nobody reads.
    func perform(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }
}

extension PostgresClient {
    /// Runs a statement whose rows nobody reads.
    func perform(_ query: PostgresQuery, logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }
}

/// Runs work with a time limit, without waiting for work that ignores cancellation: a query
/// stuck on a connection the database dropped must not hold its request for ever.
enum Deadline {
    struct Exceeded: Error {}

    /// Whichever ends first answers; the other is cancelled and not awaited.
    ///
    /// The timer is a task scheduled on an event loop of `timers` (the calling thread's own loop
    /// when it is one of them, as it is for a request, since `notes-server` runs Swift
    /// concurrency on those loops; otherwise the group's next), and it is removed from that loop's queue
    /// when the work ends first. A `Task.sleep` timer, cancelled, leaves its entry in the queue
    /// until the time is up: at thousands of queries a second and a 10 s deadline, that was
    /// tens of thousands of dead entries, a third of the server's memory and a slower loop.
    static func run<T: Sendable>(
        _ limit: Duration,
        timers: any EventLoopGroup = PostgresClient.defaultEventLoopGroup,
        _ work: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let once = ResumeOnce<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                once.set(continuation)
                let worker = Task {
                    do { once.resume(.success(try await work())) } catch { once.resume(.failure(error)) }
                }
                let timer = timers.any().scheduleTask(in: TimeAmount(limit)) {
                    if once.resume(.failure(Exceeded())) { worker.cancel() }
                }
                once.onFinish { timer.cancel() }
            }
        } onCancel: {
            once.resume(.failure(CancellationError()))
        }
    }

    /// Resumes a continuation exactly once, whoever comes first.
    final class ResumeOnce<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var early: Result<T, any Error>?
            var finished = false
            var onFinish: (@Sendable () -> Void)?
        }
        private let state = Mutex(State())

        private struct Taken {
            var continuation: CheckedContinuation<T, any Error>?
            var action: (@Sendable () -> Void)?
        }

        func set(_ continuation: CheckedContinuation<T, any Error>) {
            let early: Result<T, any Error>? = state.withLock { state in
                if let early = state.early { return early }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func onFinish(_ action: @escaping @Sendable () -> Void) {
            let finished = state.withLock { state in
                state.onFinish = action
                return state.finished
            }
            if finished { action() }
        }

        /// True when this call was the one that resumed.
        @discardableResult
        func resume(_ result: Result<T, any Error>) -> Bool {
            let taken: Taken? = state.withLock { state in
                guard !state.finished else { return nil }
                state.finished = true
                let continuation = state.continuation
                state.continuation = nil
                if continuation == nil { state.early = result }
                return Taken(continuation: continuation, action: state.onFinish)
            }
            guard let taken else { return false }
            taken.continuation?.resume(with: result)
            taken.action?()
            return true
        }
    }
}
