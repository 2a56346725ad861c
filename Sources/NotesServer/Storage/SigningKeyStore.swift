import Foundation
import Logging

/// Where a ring key is in its life (API.md "Signing keys").
enum KeyState: String, Sendable, CaseIterable, Codable {
    /// Published in the JWKS and verifying; signs from `activatesAt`.
    case next
    /// Signs (exactly one key in the ring).
    case current
    /// Verifies only, until `retiresAt`, when every token it signed has expired.
    case retiring
    /// Refused everywhere; the row stays so that its key file is never imported again.
    case retired
}

/// A ring key as the database keeps it. Times are milliseconds since 1970.
struct StoredSigningKey: Sendable, Equatable {
    /// RFC 7638 thumbprint.
    var kid: String
    /// The kid an imported key file had, answered to until `legacyUntilMs`.
    var legacyKid: String?
    var legacyUntilMs: Int64?
    var algorithm: String
    var privateKeyPEM: String
    var state: KeyState
    var createdAtMs: Int64
    /// When it starts (`next`) or started signing.
    var activatesAtMs: Int64
    /// When a `retiring` key retires itself.
    var retiresAtMs: Int64?
    var retiredAtMs: Int64?
}

/// What one change to the ring writes: rows to update (by kid) and rows to add.
struct RingChange: Sendable, Equatable {
    var updates: [StoredSigningKey] = []
    var inserts: [StoredSigningKey] = []

    var isEmpty: Bool { updates.isEmpty && inserts.isEmpty }
}

/// A refused change to the ring, said so that `notes-server keys` can print it.
struct KeyRingError: Error, Equatable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The ring's rules, one pure function per change, shared by both engines: each engine runs
/// them on the rows it read under the ring's lock and writes what they return.
enum KeyRingRule {
    /// The key that signs at `nowMs`: the newest (by activation) of the current key and every
    /// `next` key whose time has come. Every replica computes the same answer from the same
    /// rows, so they switch together even before the switch is written.
    static func signing(_ keys: [StoredSigningKey], nowMs: Int64) -> StoredSigningKey? {
        keys.filter { $0.state == .current || ($0.state == .next && $0.activatesAtMs <= nowMs) }
            .max { ($0.activatesAtMs, $0.createdAtMs, $0.kid) < ($1.activatesAtMs, $1.createdAtMs, $1.kid) }
    }

    /// Whether the key verifies at `nowMs`: every state but retired, and a retiring key only
    /// until its time.
    static func verifies(_ key: StoredSigningKey, nowMs: Int64) -> Bool {
        switch key.state {
        case .next, .current: true
        case .retiring: (key.retiresAtMs ?? Int64.max) > nowMs
        case .retired: false
        }
    }

    /// Writes down what time has done: a `next` key whose time has come becomes current (the
    /// one it replaces turns retiring, until `retireAfterMs` after the switch), and a retiring
    /// key past its time becomes retired.
    static func advance(_ keys: [StoredSigningKey], nowMs: Int64, retireAfterMs: Int64) -> RingChange {
        var change = RingChange()
        var byKid = Dictionary(keys.map { ($0.kid, $0) }, uniquingKeysWith: { first, _ in first })
        if let signer = signing(keys, nowMs: nowMs), signer.state == .next {
            for key in keys where key.kid != signer.kid && (key.state == .current || (key.state == .next && key.activatesAtMs <= nowMs)) {
                var old = key
                old.state = .retiring
                old.retiresAtMs = signer.activatesAtMs.addingClamped(retireAfterMs)
                byKid[old.kid] = old
            }
            var promoted = signer
            promoted.state = .current
            byKid[promoted.kid] = promoted
        }
        for (kid, key) in byKid where key.state == .retiring && (key.retiresAtMs ?? Int64.max) <= nowMs {
            var retired = key
            retired.state = .retired
            retired.retiredAtMs = nowMs
            byKid[kid] = retired
        }
        for key in keys where byKid[key.kid] != key {
            if let changed = byKid[key.kid] { change.updates.append(changed) }
        }
        return change
    }

    /// The first key of an empty ring (or of one whose every key is retired), current at once;
    /// nothing when a signing key exists.
    static func bootstrap(_ keys: [StoredSigningKey], new: StoredSigningKey, nowMs: Int64) -> RingChange {
        guard signing(keys, nowMs: nowMs) == nil else { return RingChange() }
        var key = new
        key.state = .current
        key.activatesAtMs = nowMs
        return RingChange(inserts: [key])
    }

    /// The ring as it stands at `nowMs`: what ``advance(_:nowMs:retireAfterMs:)`` would write,
    /// applied. A replica that has not seen the switch written down still acts on it.
    static func effective(_ keys: [StoredSigningKey], nowMs: Int64, retireAfterMs: Int64) -> [StoredSigningKey] {
        let change = advance(keys, nowMs: nowMs, retireAfterMs: retireAfterMs)
        guard !change.isEmpty else { return keys }
        let updated = Dictionary(change.updates.map { ($0.kid, $0) }, uniquingKeysWith: { first, _ in first })
        return keys.map { updated[$0.kid] ?? $0 }
    }

    /// The first moment after `nowMs` at which the effective ring may change by time alone
    /// (a next key's switch, a retirement, an earlier kid's end); `Int64.max` if none.
    static func nextEvent(_ keys: [StoredSigningKey], after nowMs: Int64) -> Int64 {
        var times: [Int64] = []
        for key in keys {
            if key.state == .next { times.append(key.activatesAtMs) }
            if let retires = key.retiresAtMs { times.append(retires) }
            if let legacy = key.legacyUntilMs { times.append(legacy) }
        }
        return times.filter { $0 > nowMs }.min() ?? Int64.max
    }

    /// Adds `new` as the next key, signing `publishDelayMs` from now (0: at once, and the
    /// switch is written now) — and always strictly after every key that signs or will sign
    /// before it, so the newest rotation wins.
    static func rotate(_ keys: [StoredSigningKey], new: StoredSigningKey, nowMs: Int64, publishDelayMs: Int64, retireAfterMs: Int64) -> RingChange {
        var key = new
        key.state = .next
        let latest = keys.filter { $0.state == .current || ($0.state == .next && $0.activatesAtMs <= nowMs) }.map(\.activatesAtMs).max()
        key.activatesAtMs = max(nowMs.addingClamped(max(0, publishDelayMs)), (latest ?? Int64.min).addingClamped(1))
        var change = RingChange(inserts: [key])
        if publishDelayMs <= 0 {
            let advanced = advance(keys + [key], nowMs: key.activatesAtMs, retireAfterMs: retireAfterMs)
            change.updates = advanced.updates.filter { $0.kid != key.kid }
            if let promoted = advanced.updates.first(where: { $0.kid == key.kid }) { change.inserts = [promoted] }
        }
        return change
    }

    /// The automatic rotation: a next key when the signing key is older than `intervalMs` and
    /// no next key is waiting; nothing otherwise.
    static func scheduledRotation(
        _ keys: [StoredSigningKey],
        new: StoredSigningKey,
        nowMs: Int64,
        intervalMs: Int64,
        publishDelayMs: Int64,
        retireAfterMs: Int64
    ) -> RingChange {
        guard let signer = signing(keys, nowMs: nowMs), signer.activatesAtMs.addingClamped(intervalMs) <= nowMs,
            !keys.contains(where: { $0.state == .next && $0.activatesAtMs > nowMs })
        else { return RingChange() }
        return rotate(keys, new: new, nowMs: nowMs, publishDelayMs: publishDelayMs, retireAfterMs: retireAfterMs)
    }

    /// Retires `kid` at once (a leaked key). Retiring the signing key promotes the newest `next`
    /// key at once, or makes `replacement` the current key.
    static func retire(_ keys: [StoredSigningKey], kid: String, replacement: StoredSigningKey, nowMs: Int64) throws(KeyRingError) -> RingChange {
        guard let key = keys.first(where: { $0.kid == kid || $0.legacyKid == kid }) else {
            throw KeyRingError("no key \(kid) in the ring; notes-server keys list shows the kids")
        }
        guard key.state != .retired else { throw KeyRingError("key \(key.kid) is already retired") }
        var change = RingChange()
        var retired = key
        retired.state = .retired
        retired.retiredAtMs = nowMs
        change.updates.append(retired)
        let wasSigning = signing(keys, nowMs: nowMs)?.kid == key.kid || key.state == .current
        guard wasSigning else { return change }
        let rest = keys.filter { $0.kid != key.kid }
        if let successor = rest.filter({ $0.state == .next }).max(by: { ($0.activatesAtMs, $0.kid) < ($1.activatesAtMs, $1.kid) }) {
            var promoted = successor
            promoted.state = .current
            promoted.activatesAtMs = min(promoted.activatesAtMs, nowMs)
            change.updates.append(promoted)
            // Other due `next` keys stop signing too; they still verify what they signed.
            for other in rest where other.state == .next && other.kid != successor.kid && other.activatesAtMs <= nowMs {
                var old = other
                old.state = .retiring
                old.retiresAtMs = nowMs
                change.updates.append(old)
            }
        } else {
            var fresh = replacement
            fresh.state = .current
            fresh.activatesAtMs = max(nowMs, (rest.map(\.activatesAtMs).max() ?? Int64.min).addingClamped(1))
            change.inserts.append(fresh)
        }
        return change
    }

    /// Key files of earlier versions, imported once: the newest becomes current if nothing
    /// signs yet, the others (and all of them when something signs) verify until the tokens
    /// they signed have expired. A file whose key is in the ring already (in any state, so a
    /// retired one too) is skipped.
    static func importFiles(_ keys: [StoredSigningKey], files: [StoredSigningKey], nowMs: Int64, retireAfterMs: Int64) -> RingChange {
        let known = Set(keys.map(\.kid))
        var fresh = files.filter { !known.contains($0.kid) }
        guard !fresh.isEmpty else { return RingChange() }
        fresh.sort { $0.createdAtMs > $1.createdAtMs }
        let needsSigner = signing(keys, nowMs: nowMs) == nil
        var change = RingChange()
        for (index, file) in fresh.enumerated() {
            var key = file
            key.legacyUntilMs = nowMs.addingClamped(retireAfterMs)
            if index == 0 && needsSigner {
                key.state = .current
                key.activatesAtMs = nowMs
            } else {
                key.state = .retiring
                key.activatesAtMs = min(key.createdAtMs, nowMs)
                key.retiresAtMs = nowMs.addingClamped(retireAfterMs)
            }
            change.inserts.append(key)
        }
        return change
    }
}

extension Int64 {
    /// Addition that saturates instead of trapping.
    func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

/// The ring's keys and the server's other secrets, in the database, so that every replica
/// sharing it signs, verifies and checks cursors alike.
protocol SigningKeyRepository: Sendable {
    /// Every key, retired ones included.
    func all(logger: Logger) async throws -> [StoredSigningKey]
    /// Reads every key under the ring's lock (held until the change is written), asks `plan`
    /// what to change, writes it, and returns it. Changes of the ring never interleave.
    func change(logger: Logger, _ plan: @escaping @Sendable ([StoredSigningKey]) throws -> RingChange) async throws -> RingChange
    /// The secret called `name`, made by `make` and stored the first time it is asked for
    /// (whoever stores first wins; every caller gets that one).
    func secret(named name: String, make: @escaping @Sendable () -> Data, logger: Logger) async throws -> Data
}
