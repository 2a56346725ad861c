import Crypto
import Foundation
import JWTKit
import Logging
import ServiceLifecycle
import Synchronization

/// The keys this server signs and verifies access tokens with (API.md "Signing keys").
///
/// HS256 (`--jwt-secret`, `--jwt-previous-secret`) and a pinned `--jwt-private-key` are fixed:
/// one signing key, maybe a verify-only one. Otherwise the keys are the ring kept in the
/// database: this type holds a snapshot of its rows with each key parsed once, reads it again
/// every ``refreshInterval`` (and at once, at most every ``unknownKidRefreshInterval``, when a
/// token names a kid it does not know), and writes down what time has done to the ring
/// (``KeyRingRule/advance(_:nowMs:retireAfterMs:)``). Which key signs and which verify are
/// computed from the rows and the clock, so every replica switches at the same moment.
final class KeyRing: Sendable {
    struct Settings: Sendable {
        var algorithm: JWTAlgorithmName
        /// How long a new key is published before it signs.
        var publishDelay: Int
        /// Rotate automatically when the signing key is older than this (seconds); nil: never.
        var rotationInterval: Int?
        /// How long a key that stopped signing still verifies: the access-token lifetime, the
        /// clock tolerance, and the time replicas may take to see the switch.
        var retireAfter: Int

        init(_ configuration: ServerConfiguration) {
            algorithm = configuration.jwtAlgorithm
            publishDelay = configuration.keyPublishDelay
            rotationInterval = configuration.keyRotationInterval
            retireAfter = configuration.accessTokenTTL + configuration.clockTolerance + Int(KeyRing.staleBound.components.seconds)
        }

        var retireAfterMs: Int64 { Int64(retireAfter).multipliedReportingOverflow(by: 1000).partialValue }
        var publishDelayMs: Int64 { Int64(publishDelay).multipliedReportingOverflow(by: 1000).partialValue }
    }

    /// How often the ring is read again; API.md promises every change is seen within 30 s.
    static let refreshInterval: Duration = .seconds(10)
    /// The most a replica's view of the ring may lag behind the database.
    static let staleBound: Duration = .seconds(30)
    /// An unknown kid reads the ring again at most this often.
    static let unknownKidRefreshInterval: Duration = .seconds(5)

    private enum Source: Sendable {
        case fixed(SigningKey)
        case ring(any SigningKeyRepository, Settings)
    }

    private struct Snapshot: Sendable {
        var rows: [StoredSigningKey] = []
        /// Parsed keys by thumbprint kid, kept across reads.
        var loaded: [String: SigningKey] = [:]
        /// The rows as they stand by the clock (``KeyRingRule/effective(_:nowMs:retireAfterMs:)``),
        /// valid from `computedAtMs` until `validUntilMs`, when time alone may change them.
        var effective: [StoredSigningKey] = []
        var computedAtMs: Int64 = .max
        var validUntilMs: Int64 = .min
        /// What a token may be checked against: the signing key and every kid that verifies.
        var accepted: [String] = []
        /// Changes whenever `accepted` does, for caches of verified tokens.
        var generation: UInt64 = 0
        /// The algorithms of the keys that verify, as `accepted` was computed.
        var algorithms: Set<String> = []

        mutating func view(at nowMs: Int64, retireAfterMs: Int64) -> [StoredSigningKey] {
            if nowMs < computedAtMs || nowMs >= validUntilMs {
                effective = KeyRingRule.effective(rows, nowMs: nowMs, retireAfterMs: retireAfterMs)
                computedAtMs = nowMs
                validUntilMs = min(KeyRingRule.nextEvent(rows, after: nowMs), KeyRingRule.nextEvent(effective, after: nowMs))
                var kids = ["signer:" + (KeyRingRule.signing(effective, nowMs: nowMs)?.kid ?? "")]
                for row in effective where KeyRingRule.verifies(row, nowMs: nowMs) && loaded[row.kid] != nil {
                    kids.append(row.kid)
                    if let legacy = row.legacyKid, (row.legacyUntilMs ?? 0) > nowMs { kids.append(legacy) }
                }
                kids.sort()
                algorithms = Set(effective.filter { KeyRingRule.verifies($0, nowMs: nowMs) }.map(\.algorithm))
                if kids != accepted {
                    accepted = kids
                    generation &+= 1
                }
            }
            return effective
        }
    }

    private struct Forced: Sendable {
        var last: ContinuousClock.Instant?
        var inFlight: Task<Void, Never>?
    }

    private let source: Source
    private let retireAfterMs: Int64
    private let snapshot = Mutex(Snapshot())
    private let forced = Mutex(Forced())
    let publishDelay: Int
    let metrics: ServerMetrics

    /// One fixed key (HS256, or a pinned `--jwt-private-key`).
    init(fixed key: SigningKey, publishDelay: Int = 300, metrics: ServerMetrics = .disabled) {
        source = .fixed(key)
        retireAfterMs = 0
        self.publishDelay = publishDelay
        self.metrics = metrics
        metrics.signingKeys(state: KeyState.current.rawValue, count: 1)
    }

    /// The ring in the database; ``prepare(importing:logger:)`` must run before first use.
    init(repository: any SigningKeyRepository, settings: Settings, metrics: ServerMetrics = .disabled) {
        source = .ring(repository, settings)
        retireAfterMs = settings.retireAfterMs
        publishDelay = settings.publishDelay
        self.metrics = metrics
    }

    var isRing: Bool {
        if case .ring = source { return true }
        return false
    }

    // MARK: Using the keys

    /// The key that signs at `date`; nil only for a ring without a key (before it is prepared).
    func signer(at date: Date) -> SigningKey? {
        switch source {
        case .fixed(let key):
            return key
        case .ring:
            let now = date.millisecondsSince1970
            return snapshot.withLock { snapshot in
                KeyRingRule.signing(snapshot.view(at: now, retireAfterMs: retireAfterMs), nowMs: now).flatMap { snapshot.loaded[$0.kid] }
            }
        }
    }

    /// A number that changes whenever the keys a token may be checked against change (a key
    /// published, switched to, retired, or an earlier kid's end): a verified-token cache drops
    /// what it verified under another one.
    func generation(at date: Date) -> UInt64 {
        guard case .ring = source else { return 0 }
        let now = date.millisecondsSince1970
        return snapshot.withLock { snapshot in
            _ = snapshot.view(at: now, retireAfterMs: retireAfterMs)
            return snapshot.generation
        }
    }

    /// The algorithms a token may name now (checked before its kid, as before the ring).
    func algorithms(at date: Date) -> Set<String> {
        switch source {
        case .fixed(let key):
            return [key.algorithm.rawValue]
        case .ring:
            let now = date.millisecondsSince1970
            return snapshot.withLock { snapshot in
                _ = snapshot.view(at: now, retireAfterMs: retireAfterMs)
                return snapshot.algorithms
            }
        }
    }

    /// The key a token's `kid` names, if it verifies at `date`; no kid: the signing key. An
    /// unknown kid reads the ring again first (another replica may have just added it).
    func verifier(kid: String?, at date: Date, logger: Logger?) async -> SigningKey? {
        guard let kid else { return signer(at: date) }
        switch source {
        case .fixed(let key):
            return key.acceptedKids.contains(kid) ? key : nil
        case .ring:
            switch lookup(kid, at: date) {
            case .found(let key): return key
            case .refused: return nil
            case .unknown:
                await refreshForUnknownKid(logger: logger)
                if case .found(let key) = lookup(kid, at: date) { return key }
                return nil
            }
        }
    }

    private enum Lookup {
        case found(SigningKey)
        case refused
        case unknown
    }

    private func lookup(_ kid: String, at date: Date) -> Lookup {
        let now = date.millisecondsSince1970
        return snapshot.withLock { snapshot in
            let rows = snapshot.view(at: now, retireAfterMs: retireAfterMs)
            if let row = rows.first(where: { $0.kid == kid }) {
                guard KeyRingRule.verifies(row, nowMs: now), let key = snapshot.loaded[row.kid] else { return .refused }
                return .found(key)
            }
            if let row = rows.first(where: { $0.legacyKid == kid }) {
                guard KeyRingRule.verifies(row, nowMs: now), (row.legacyUntilMs ?? 0) > now, let key = snapshot.loaded[row.kid] else {
                    return .refused
                }
                return .found(key)
            }
            return .unknown
        }
    }

    /// The public keys of every key that verifies at `date`, each under every kid it answers to.
    func publicJWKs(at date: Date) -> [JWK] {
        switch source {
        case .fixed(let key):
            return key.publicJWKs
        case .ring:
            let now = date.millisecondsSince1970
            return snapshot.withLock { snapshot in
                snapshot.view(at: now, retireAfterMs: retireAfterMs).filter { KeyRingRule.verifies($0, nowMs: now) }
                    .sorted { ($0.activatesAtMs, $0.kid) > ($1.activatesAtMs, $1.kid) }
                    .flatMap { row -> [JWK] in
                        guard let key = snapshot.loaded[row.kid] else { return [] }
                        let legacy = row.legacyKid.flatMap { (row.legacyUntilMs ?? 0) > now ? $0 : nil }
                        return key.publicJWKs.filter { jwk in
                            guard let kid = jwk.keyIdentifier?.string else { return false }
                            return kid == row.kid || kid == legacy
                        }
                    }
            }
        }
    }

    // MARK: Keeping the snapshot fresh

    /// Reads the ring and parses keys it has not seen.
    func refresh(logger: Logger) async throws {
        guard case .ring(let repository, _) = source else { return }
        let rows = try await repository.all(logger: logger)
        let known = snapshot.withLock { $0.loaded }
        var loaded: [String: SigningKey] = [:]
        for row in rows where row.state != .retired {
            if let key = known[row.kid] {
                loaded[row.kid] = key
                continue
            }
            guard let algorithm = JWTAlgorithmName(name: row.algorithm), let key = try? await SigningKey.asymmetric(algorithm, pem: row.privateKeyPEM)
            else {
                logger.error("a key of the ring cannot be read; it neither signs nor verifies", metadata: ["kid": .string(row.kid)])
                continue
            }
            loaded[row.kid] = key
        }
        snapshot.withLock { snapshot in
            snapshot.rows = rows
            snapshot.loaded = loaded
            snapshot.computedAtMs = .max
            snapshot.validUntilMs = .min
        }
        for state in KeyState.allCases {
            metrics.signingKeys(state: state.rawValue, count: rows.filter { $0.state == state }.count)
        }
    }

    private func refreshForUnknownKid(logger: Logger?) async {
        let task: Task<Void, Never>? = forced.withLock { forced in
            if let running = forced.inFlight { return running }
            let now = ContinuousClock.now
            if let last = forced.last, now - last < Self.unknownKidRefreshInterval { return nil }
            forced.last = now
            let log = logger ?? Logger(label: "notes-server")
            let task = Task {
                do { try await self.refresh(logger: log) } catch { log.warning("could not read the key ring", metadata: ["error": "\(error)"]) }
                self.forced.withLock { $0.inFlight = nil }
            }
            forced.inFlight = task
            return task
        }
        await task?.value
    }

    // MARK: Changing the ring

    /// Before the server binds: imports key files of earlier versions (once), makes the first
    /// key if the ring has none that signs, and reads the ring.
    func prepare(importing files: [StoredSigningKey], now: Date, logger: Logger) async throws {
        guard case .ring(let repository, let settings) = source else { return }
        let nowMs = now.millisecondsSince1970
        if !files.isEmpty {
            let change = try await repository.change(logger: logger) { rows in
                KeyRingRule.importFiles(rows, files: files, nowMs: nowMs, retireAfterMs: settings.retireAfterMs)
            }
            for key in change.inserts {
                logger.notice(
                    "imported a signing key file of an earlier version into the key ring",
                    metadata: ["kid": .string(key.kid), "earlier_kid": .string(key.legacyKid ?? ""), "state": .string(key.state.rawValue)]
                )
            }
        }
        if try await KeyRingRule.signing(repository.all(logger: logger), nowMs: nowMs) == nil {
            let new = try await Self.newKey(settings.algorithm, now: now)
            let change = try await repository.change(logger: logger) { rows in KeyRingRule.bootstrap(rows, new: new, nowMs: nowMs) }
            if let key = change.inserts.first {
                logger.notice(
                    "generated the first signing key of the ring",
                    metadata: ["kid": .string(key.kid), "algorithm": .string(key.algorithm)]
                )
            }
        }
        try await maintain(now: now, logger: logger)
    }

    /// Reads the ring, writes down a switch or retirement whose time has come, rotates when
    /// the rotation interval says so, and reads it again after any change.
    func maintain(now: Date, logger: Logger) async throws {
        guard case .ring(let repository, let settings) = source else { return }
        try await refresh(logger: logger)
        let nowMs = now.millisecondsSince1970
        let rows = snapshot.withLock { $0.rows }
        var changed = false
        if !KeyRingRule.advance(rows, nowMs: nowMs, retireAfterMs: settings.retireAfterMs).isEmpty {
            let change = try await repository.change(logger: logger) { rows in
                KeyRingRule.advance(rows, nowMs: nowMs, retireAfterMs: settings.retireAfterMs)
            }
            for key in change.updates {
                logger.notice("signing key changed state", metadata: ["kid": .string(key.kid), "state": .string(key.state.rawValue)])
            }
            changed = changed || !change.isEmpty
        }
        if let interval = settings.rotationInterval {
            let intervalMs = Int64(interval).multipliedReportingOverflow(by: 1000).partialValue
            let probe = StoredSigningKey.placeholder
            let due = !KeyRingRule.scheduledRotation(
                rows,
                new: probe,
                nowMs: nowMs,
                intervalMs: intervalMs,
                publishDelayMs: settings.publishDelayMs,
                retireAfterMs: settings.retireAfterMs
            ).isEmpty
            if due {
                let algorithm = KeyRingRule.signing(rows, nowMs: nowMs).flatMap { JWTAlgorithmName(name: $0.algorithm) } ?? settings.algorithm
                let new = try await Self.newKey(algorithm, now: now)
                let change = try await repository.change(logger: logger) { rows in
                    KeyRingRule.scheduledRotation(
                        rows,
                        new: new,
                        nowMs: nowMs,
                        intervalMs: intervalMs,
                        publishDelayMs: settings.publishDelayMs,
                        retireAfterMs: settings.retireAfterMs
                    )
                }
                if let key = change.inserts.first {
                    logger.notice(
                        "rotation interval passed: added the next signing key",
                        metadata: ["kid": .string(key.kid), "signs_from": .string(Date(millisecondsSince1970: key.activatesAtMs).iso8601)]
                    )
                }
                changed = changed || !change.isEmpty
            }
        }
        if changed { try await refresh(logger: logger) }
    }

    /// A new ring key (not yet stored): generated, with its thumbprint kid.
    static func newKey(_ algorithm: JWTAlgorithmName, now: Date) async throws -> StoredSigningKey {
        let pem = try SigningKey.generatePEM(algorithm)
        let key = try await SigningKey.asymmetric(algorithm, pem: pem)
        return StoredSigningKey(
            kid: key.kid,
            legacyKid: nil,
            legacyUntilMs: nil,
            algorithm: algorithm.rawValue,
            privateKeyPEM: pem,
            state: .next,
            createdAtMs: now.millisecondsSince1970,
            activatesAtMs: now.millisecondsSince1970,
            retiresAtMs: nil,
            retiredAtMs: nil
        )
    }
}

extension StoredSigningKey {
    /// Stands in for a key not generated yet, when asking the rules whether one is needed.
    static let placeholder = StoredSigningKey(
        kid: "",
        legacyKid: nil,
        legacyUntilMs: nil,
        algorithm: "",
        privateKeyPEM: "",
        state: .next,
        createdAtMs: 0,
        activatesAtMs: 0,
        retiresAtMs: nil,
        retiredAtMs: nil
    )
}

extension Date {
    /// ISO 8601 in UTC with seconds, as the API writes dates.
    var iso8601: String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: self)
    }
}

/// Keeps the ring fresh while the server runs: reads it every ``KeyRing/refreshInterval`` and
/// writes down what time has done. A database that does not answer leaves the last snapshot
/// in use (tokens keep verifying) and is said in the log.
struct KeyRingService: Service {
    let ring: KeyRing
    let now: @Sendable () -> Date
    let logger: Logger

    func run() async throws {
        guard ring.isRing else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: KeyRing.refreshInterval)
                if Task.isCancelled { return }
                do {
                    try await ring.maintain(now: now(), logger: logger)
                } catch {
                    if !Task.isCancelled {
                        logger.warning("could not read the key ring; keeping the keys read before", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}

/// Key files that earlier versions generated in `DATA_DIR/keys`, read (and checked: no links,
/// private modes) when the server is built, imported into the ring when it starts.
enum LegacyKeyFiles {
    static func read(_ configuration: ServerConfiguration) async throws -> [StoredSigningKey] {
        let directory = configuration.keysDirectory
        let fileManager = FileManager.default
        guard (try? fileManager.attributesOfItem(atPath: directory)) != nil else { return [] }
        try PrivateFiles.restrict(directory, mode: 0o700, what: "key folder")
        var keys: [StoredSigningKey] = []
        for name in ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? []).sorted() where name.hasSuffix(".pem") {
            guard let algorithm = [JWTAlgorithmName.rs256, .es256, .edDSA].first(where: { name.hasPrefix($0.rawValue.lowercased() + "-") }) else {
                continue
            }
            let path = directory + "/" + name
            try PrivateFiles.restrict(path, mode: 0o600, what: "key file")
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8), let key = try? await SigningKey.asymmetric(algorithm, pem: pem)
            else {
                throw ConfigurationError(
                    "the kept signing key \(path) cannot be read; restore it, or move it away (tokens signed with it stop working)"
                )
            }
            let modified = (try? fileManager.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date(timeIntervalSince1970: 0)
            keys.append(
                StoredSigningKey(
                    kid: key.kid,
                    legacyKid: key.legacyKid,
                    legacyUntilMs: nil,
                    algorithm: algorithm.rawValue,
                    privateKeyPEM: pem,
                    state: .retiring,
                    createdAtMs: modified.millisecondsSince1970,
                    activatesAtMs: modified.millisecondsSince1970,
                    retiresAtMs: nil,
                    retiredAtMs: nil
                )
            )
        }
        return keys
    }
}
