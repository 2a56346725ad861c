import Foundation
import HummingbirdTesting
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

@testable import NotesServer

/// The storage engines every conformance and HTTP test runs on.
enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

/// One throwaway PostgreSQL cluster for the whole test process: the one the test command
/// started (`NOTES_TEST_POSTGRES_URL`), or else one this process starts with
/// `scripts/pg-throwaway.sh` and stops when it exits. Each test gets a database of its own.
/// A cluster that cannot start fails the test; it is never skipped.
actor PostgresTestCluster {
    static let shared = PostgresTestCluster()

    private var superuserURL: String?
    /// The folder of a cluster this process started, for the stop at exit.
    nonisolated static let startedFolder = Mutex<String?>(nil)

    struct StartFailed: Error, CustomStringConvertible {
        let description: String
    }

    func url() throws -> String {
        if let superuserURL { return superuserURL }
        if let given = ProcessInfo.processInfo.environment["NOTES_TEST_POSTGRES_URL"], !given.isEmpty {
            superuserURL = given
            return given
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("notes-pg-\(UUID().uuidString)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [repositoryRoot() + "/scripts/pg-throwaway.sh", "start", folder]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        Self.startedFolder.withLock { $0 = folder }
        atexit {
            guard let folder = PostgresTestCluster.startedFolder.withLock({ $0 }) else { return }
            let stop = Process()
            stop.executableURL = URL(fileURLWithPath: "/bin/bash")
            stop.arguments = [repositoryRoot() + "/scripts/pg-throwaway.sh", "stop", folder]
            try? stop.run()
            stop.waitUntilExit()
        }
        let url = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0, url.hasPrefix("postgres://") else {
            throw StartFailed(
                description: "could not start a throwaway PostgreSQL (scripts/pg-throwaway.sh start): exit \(process.terminationStatus)"
            )
        }
        superuserURL = url
        return url
    }

    /// A new, empty database on the cluster; its URL.
    func freshDatabase() async throws -> String {
        let url = try url()
        let location = try PostgresLocation(url: url)
        let name = "notes_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        var configuration = location.connectionConfiguration(tls: .disable)
        configuration.options.connectTimeout = .seconds(30)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: Logger(label: "tests"))
        do {
            try await connection.perform(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "tests"))
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return url.replacingOccurrences(of: "/\(location.database)?", with: "/\(name)?")
    }
}

/// A configuration on `engine`: a fresh SQLite data dir, or a fresh PostgreSQL database.
func testConfiguration(_ algorithm: JWTAlgorithmName = .hs256, engine: Engine) async throws -> ServerConfiguration {
    var config = try testConfiguration(algorithm)
    if engine == .postgres { config.databaseURL = try await PostgresTestCluster.shared.freshDatabase() }
    // Correctness tests must not fail because a loaded machine is slow: the 503 deadline is
    // tested on its own (PostgresEngineTests).
    config.databaseDeadline = .seconds(120)
    return config
}

/// Runs `body` with fresh, prepared storage on `engine`, its services running, and stops them.
func withStorage<T: Sendable>(_ engine: Engine, _ body: @Sendable (Storage) async throws -> T) async throws -> T {
    try await withStorage(config: try await testConfiguration(engine: engine), body)
}

/// Runs `body` with the storage `config` names, prepared, its services running.
func withStorage<T: Sendable>(config: ServerConfiguration, _ body: @Sendable (Storage) async throws -> T) async throws -> T {
    let logger = Logger(label: "tests")
    let storage = try openStorage(config.databaseLocation(), deadline: config.databaseDeadline, logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        let services = ServiceGroup(services: storage.services, logger: logger)
        group.addTask { try await services.run() }
        defer { group.cancelAll() }
        do {
            try await storage.prepare(logger)
            let result = try await body(storage)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            await services.triggerGracefulShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

let testLogger = Logger(label: "tests")

/// Runs `body` against the real application on a fresh database of `engine`.
func withApp<T: Sendable>(
    engine: Engine,
    hooks: ServerHooks = ServerHooks(),
    _ body: @Sendable (any TestClientProtocol) async throws -> T
) async throws -> T {
    try await withApp(try await testConfiguration(engine: engine), hooks: hooks, body)
}

/// Runs `body` against the application on `config`'s storage with a given password hasher.
func withApp<T: Sendable>(
    _ config: ServerConfiguration,
    hasher: PasswordHasher,
    _ body: @Sendable (any TestClientProtocol) async throws -> T
) async throws -> T {
    let storage = try openStorage(config.databaseLocation(), deadline: config.databaseDeadline, logger: testLogger)
    let app = try await buildApplication(configuration: config, storage: storage, hooks: ServerHooks(), hasher: hasher)
    return try await app.test(.router) { client in try await body(client) }
}
