public import ArgumentParser
import Foundation
import JWTKit
import Logging
import NotesModels
import ServiceLifecycle

/// `notes-server keys list | rotate | retire KID`: the key ring in the database the server
/// options name (`--database-url`, `--data-dir`), changed under the ring's lock, so running
/// servers see the change within 30 s.
public struct KeysCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "List, rotate or retire the signing keys of the key ring.",
        discussion:
            "The ring lives in the database that --database-url (or --data-dir) names; every server sharing it sees a change within 30 s. Not used with HS256 or --jwt-private-key.",
        subcommands: [List.self, Rotate.self, Retire.self]
    )

    public init() {}

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print every key: kid, algorithm, state and dates.")
        @Flag(help: "An array of JSON objects instead of a table.") var json = false
        @OptionGroup(title: "Server options") var server: ServeCommand

        func run() async throws {
            let json = self.json
            try await KeysCommand.withRing(server, changes: false) { context in
                let now = Date()
                let rows = try await context.repository.all(logger: context.logger)
                // As the servers see it now: a switch whose time has come shows as made.
                let advanced = KeyRingRule.advance(rows, nowMs: now.millisecondsSince1970, retireAfterMs: context.settings.retireAfterMs)
                let shown = rows.map { row in advanced.updates.first { $0.kid == row.kid } ?? row }
                    .sorted { ($0.activatesAtMs, $0.kid) > ($1.activatesAtMs, $1.kid) }
                if json {
                    let data = try NotesJSON.encoder(pretty: true).encode(shown.map(ListedKey.init))
                    print(String(decoding: data, as: UTF8.self))
                } else if shown.isEmpty {
                    print("the key ring is empty: the first notes-server to start makes its first key")
                } else {
                    KeysCommand.printTable(shown)
                }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a next key, published now and signing --key-publish-delay later; the current key then verifies until its tokens expire."
        )
        @Flag(help: "Sign with the new key at once (servers switch within 30 s).") var now = false
        @OptionGroup(title: "Server options") var server: ServeCommand

        func run() async throws {
            let now = self.now
            try await KeysCommand.withRing(server) { context in
                let date = Date()
                let nowMs = date.millisecondsSince1970
                let rows = try await context.repository.all(logger: context.logger)
                let signer = KeyRingRule.signing(rows, nowMs: nowMs)
                let algorithm =
                    context.configuration.jwtAlgorithmGiven
                    ? context.configuration.jwtAlgorithm
                    : signer.flatMap { JWTAlgorithmName(name: $0.algorithm) } ?? context.configuration.jwtAlgorithm
                let new = try await KeyRing.newKey(algorithm, now: date)
                let delay = now ? 0 : context.settings.publishDelayMs
                let change = try await context.repository.change(logger: context.logger) { rows in
                    KeyRingRule.rotate(rows, new: new, nowMs: nowMs, publishDelayMs: delay, retireAfterMs: context.settings.retireAfterMs)
                }
                guard let added = change.inserts.first else { return }
                if added.state == .current {
                    print("\(added.kid) (\(added.algorithm)) signs now; running servers switch within 30 s")
                } else {
                    print(
                        "added the next key \(added.kid) (\(added.algorithm)): in the JWKS within 30 s, signing from \(Date(millisecondsSince1970: added.activatesAtMs).iso8601)"
                    )
                }
                for old in change.updates where old.state == .retiring {
                    print("\(old.kid) verifies until \(Date(millisecondsSince1970: old.retiresAtMs ?? nowMs).iso8601), then retires")
                }
            }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retire a key at once (a leaked key): every server refuses its tokens within 30 s."
        )
        @Argument(help: "The kid, as keys list shows it.") var kid: String
        @OptionGroup(title: "Server options") var server: ServeCommand

        func run() async throws {
            let kid = self.kid
            try await KeysCommand.withRing(server) { context in
                let date = Date()
                let rows = try await context.repository.all(logger: context.logger)
                let algorithm =
                    KeyRingRule.signing(rows, nowMs: date.millisecondsSince1970).flatMap { JWTAlgorithmName(name: $0.algorithm) }
                    ?? context.configuration.jwtAlgorithm
                let replacement = try await KeyRing.newKey(algorithm, now: date)
                let change: RingChange
                do {
                    change = try await context.repository.change(logger: context.logger) { rows in
                        try KeyRingRule.retire(rows, kid: kid, replacement: replacement, nowMs: date.millisecondsSince1970)
                    }
                } catch let error as KeyRingError {
                    FileHandle.standardError.write(Data("notes-server: \(error.description)\n".utf8))
                    throw ExitCode(65)  // EX_DATAERR
                }
                for key in change.updates where key.state == .retired {
                    print("retired \(key.kid); every server refuses its tokens within 30 s")
                }
                for key in change.updates + change.inserts where key.state == .current {
                    print("\(key.kid) (\(key.algorithm)) signs now")
                }
            }
        }
    }

    /// What `keys list --json` prints for one key.
    struct ListedKey: Encodable {
        var kid: String
        var alg: String
        var state: String
        var createdAt: Date
        var signsFrom: Date
        var retiresAt: Date?
        var retiredAt: Date?
        var earlierKid: String?

        init(_ key: StoredSigningKey) {
            kid = key.kid
            alg = key.algorithm
            state = key.state.rawValue
            createdAt = Date(millisecondsSince1970: key.createdAtMs)
            signsFrom = Date(millisecondsSince1970: key.activatesAtMs)
            retiresAt = key.retiresAtMs.map(Date.init(millisecondsSince1970:))
            retiredAt = key.retiredAtMs.map(Date.init(millisecondsSince1970:))
            earlierKid = key.legacyKid
        }
    }

    static func printTable(_ keys: [StoredSigningKey]) {
        let width = max(3, keys.map(\.kid.count).max() ?? 3)
        func pad(_ text: String, _ count: Int) -> String { text + String(repeating: " ", count: max(0, count - text.count)) }
        print(pad("KID", width) + "  " + pad("ALG", 6) + "  " + pad("STATE", 9) + "  " + pad("SIGNS FROM", 20) + "  " + "RETIRES")
        for key in keys {
            let retires: String
            switch key.state {
            case .retiring: retires = key.retiresAtMs.map { Date(millisecondsSince1970: $0).iso8601 } ?? "-"
            case .retired: retires = "retired " + (key.retiredAtMs.map { Date(millisecondsSince1970: $0).iso8601 } ?? "")
            case .next, .current: retires = "-"
            }
            print(
                pad(key.kid, width) + "  " + pad(key.algorithm, 6) + "  " + pad(key.state.rawValue, 9) + "  "
                    + pad(Date(millisecondsSince1970: key.activatesAtMs).iso8601, 20) + "  " + retires
            )
        }
    }

    struct Context: Sendable {
        let configuration: ServerConfiguration
        let repository: any SigningKeyRepository
        let settings: KeyRing.Settings
        let logger: Logger
    }

    /// Opens the database the options name (migrating it, as `serve` would), makes sure a
    /// ring that `body` `changes` has a signing key, runs `body`, closes. Key files of earlier
    /// versions are left to `serve` to import.
    static func withRing(
        _ server: ServeCommand,
        changes: Bool = true,
        _ body: @escaping @Sendable (Context) async throws -> Void
    ) async throws {
        var logger = Logger(label: "notes-server")
        let configuration: ServerConfiguration
        do {
            configuration = try server.resolve()
            logger.logLevel = configuration.logLevel < .warning ? .warning : configuration.logLevel
            if configuration.jwtAlgorithm == .hs256 {
                throw ConfigurationError("HS256 signs with --jwt-secret, not the key ring; replace a secret with --jwt-previous-secret")
            }
            if configuration.jwtPrivateKeyPath != nil {
                throw ConfigurationError("--jwt-private-key pins one key and the key ring is not used; leave it out to manage the ring")
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("notes-server: \(error.description)\n".utf8))
            throw ExitCode(78)
        }
        umask(0o077)
        do {
            let location = try configuration.databaseLocation()
            if case .postgres(let postgres) = location { try await PostgresDatabase.probe(postgres, logger: logger) }
            let storage = try openStorage(location, deadline: configuration.databaseDeadline, logger: logger)
            let settings = KeyRing.Settings(configuration)
            let group = ServiceGroup(services: storage.services, gracefulShutdownSignals: [], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                do {
                    try await storage.prepare(logger)
                    if changes {
                        try await KeyRing(repository: storage.signingKeys, settings: settings).prepare(importing: [], now: Date(), logger: logger)
                    }
                    try await body(Context(configuration: configuration, repository: storage.signingKeys, settings: settings, logger: logger))
                } catch {
                    await group.triggerGracefulShutdown()
                    throw error
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("notes-server: \(error.description)\n".utf8))
            throw ExitCode(78)
        } catch StorageError.unavailable {
            FileHandle.standardError.write(Data("notes-server: the database does not answer; try again when it does\n".utf8))
            throw ExitCode(69)
        }
    }
}
