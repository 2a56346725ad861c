import Foundation
import Synchronization

/// Access tokens that verified, with whom they named, so that a client presenting the same
/// token again (every request of its token's lifetime) skips the RS256 check and the claim
/// parsing. A token never changes, so the answer for it cannot either, except through time
/// and through the keys:
/// - time: each entry keeps the token's `exp` and `nbf`, and a hit re-checks both against the
///   caller's clock with the same tolerance as ``AccessTokens/verify(_:logger:)``; an entry
///   past its `exp` is a miss (and the full check then answers `TokenExpiredError`);
/// - keys: each entry keeps the key ring's generation it was verified under
///   (``KeyRing/generation(at:)``), and a hit must name the ring's generation now: once a key
///   is published, switched to or retired, every token is checked afresh.
/// Only tokens that passed every check are stored, so the cache can never accept a token the
/// full check would refuse. Its size is bounded; when full, expired entries are dropped first,
/// then the oldest.
final class VerifiedTokenCache: Sendable {
    struct Entry {
        var user: AuthenticatedUser
        /// `exp` and `nbf` in seconds since 1970, as the token says them.
        var expiresAt: Double
        var notBefore: Double?
        var generation: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Insertion order, for dropping the oldest when full (may name removed entries).
        var order: [String] = []
        var orderStart = 0
    }

    let capacity: Int
    /// The clock tolerance of ``AccessTokens``, in seconds.
    let clockTolerance: Double
    private let state = Mutex(State())

    init(capacity: Int = 4_096, clockTolerance: Int) {
        self.capacity = max(1, capacity)
        self.clockTolerance = Double(clockTolerance)
    }

    /// The user of a token stored earlier, if it is still within its `nbf`…`exp` at `now`.
    func user(for token: String, at now: Date, generation: UInt64 = 0) -> AuthenticatedUser? {
        let current = now.timeIntervalSince1970
        guard let entry = state.withLock({ $0.entries[token] }), entry.generation == generation else { return nil }
        // The same comparisons as AccessTokens.verify: expired at exp + tolerance, active
        // from nbf - tolerance.
        guard current < entry.expiresAt + clockTolerance else { return nil }
        if let notBefore = entry.notBefore, notBefore > current + clockTolerance { return nil }
        return entry.user
    }

    /// Stores a token that has just passed every check, as `user`. Its `exp` and `nbf` are read
    /// from its payload; a token whose times cannot be read is not stored.
    func insert(_ token: String, user: AuthenticatedUser, at now: Date, generation: UInt64 = 0) {
        guard let times = Self.times(of: token) else { return }
        let entry = Entry(user: user, expiresAt: times.exp, notBefore: times.nbf, generation: generation)
        let current = now.timeIntervalSince1970
        state.withLock { state in
            if state.entries[token] != nil {
                state.entries[token] = entry
                return
            }
            if state.entries.count >= capacity { Self.makeRoom(&state, capacity: capacity, now: current, tolerance: clockTolerance) }
            state.entries[token] = entry
            state.order.append(token)
        }
    }

    /// Forgets every token: call it whenever the set of keys that verify changes.
    func removeAll() {
        state.withLock { $0 = State() }
    }

    var count: Int { state.withLock { $0.entries.count } }

    private static func makeRoom(_ state: inout State, capacity: Int, now: Double, tolerance: Double) {
        state.entries = state.entries.filter { now < $0.value.expiresAt + tolerance }
        // Oldest first, until a quarter of the room is free (so this runs rarely).
        let target = capacity - max(1, capacity / 4)
        while state.entries.count > target, state.orderStart < state.order.count {
            state.entries[state.order[state.orderStart]] = nil
            state.orderStart += 1
        }
        // Compact the order list: drop what was consumed and names no longer present.
        let remaining = state.order[state.orderStart...].filter { state.entries[$0] != nil }
        state.order = Array(remaining)
        state.orderStart = 0
    }

    private struct Times: Decodable {
        var exp: Double
        var nbf: Double?
    }

    /// `exp` and `nbf` of a token's payload (its second part).
    static func times(of token: String) -> (exp: Double, nbf: Double?)? {
        let parts = token.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Data(base64URLEncoded: parts[1]),
            let times = try? JSONDecoder().decode(Times.self, from: payload)
        else { return nil }
        return (times.exp, times.nbf)
    }
}
