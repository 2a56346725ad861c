import HummingbirdBcrypt
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// bcrypt at the configured cost, always on a thread pool of its own (one thread per core),
/// never on an event loop or the cooperative pool. The pool's queue is bounded here: past
/// `maxQueued` hashes waiting or running, a request is refused with 429 at once instead of
/// making every later login wait behind a flood. Its threads run at a lower scheduling
/// priority (nice 10): on an idle machine logins get every core, and when requests are
/// waiting for the CPU, they are served first — so a burst of logins no longer multiplies
/// the latency of every authenticated read beside it. Known and unknown usernames still cost
/// the same: both take one hash on the same threads.
struct PasswordHasher: Sendable {
    let cost: Int
    /// A hash of a random password at the same cost: verifying an unknown username against
    /// it costs what a real check costs, so timing does not tell which usernames exist.
    let decoyHash: String
    let maxQueued: Int
    private let pool: NIOThreadPool
    private let queued: QueueCounter

    /// The pool every hasher uses unless given another: started once, never shut down (like
    /// NIO's singleton pool, which it replaces here so that its threads can be reniced).
    static let sharedPool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: System.coreCount)
        pool.start()
        return pool
    }()

    /// The nice value of the hashing threads (0 is normal, 19 the lowest priority).
    static let niceness: Int32 = 10

    init(cost: Int, maxQueued: Int = 64, pool: NIOThreadPool = PasswordHasher.sharedPool) async throws {
        self.cost = cost
        self.pool = pool
        self.maxQueued = maxQueued
        self.queued = QueueCounter()
        let random = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 36) }.joined()
        self.decoyHash = try await pool.runIfActive { Bcrypt.hash(random, cost: UInt8(cost)) }
    }

    func hash(_ password: String) async throws -> String {
        let cost = UInt8(self.cost)
        return try await bounded { Bcrypt.hash(password, cost: cost) }
    }

    func verify(_ password: String, hash: String) async throws -> Bool {
        try await bounded { Bcrypt.verify(password, hash: hash) }
    }

    /// Whether `hash` was made at another cost than the configured one (`$2b$12$…`), and so
    /// should be made again, the next time the password is known.
    func needsRehash(_ hash: String) -> Bool {
        let fields = hash.split(separator: "$", omittingEmptySubsequences: true)
        guard fields.count >= 2, let stored = Int(fields[1]) else { return false }
        return stored != cost
    }

    private func bounded<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws -> T {
        guard queued.enter(limit: maxQueued) else { throw APIError.busy(retryAfter: 1) }
        defer { queued.leave() }
        return try await pool.runIfActive {
            Self.lowerThreadPriority()
            return work()
        }
    }

    /// Lowers the calling thread's priority to ``niceness`` (Linux keeps a nice value per
    /// thread; `who` 0 names the calling thread). Raising a nice value needs no privilege, and
    /// setting it again is harmless; a failure leaves the priority as it was.
    static func lowerThreadPriority() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }
}

/// How many of something are taken (hashes waiting or running, connections open), bounded by
/// a limit checked atomically.
final class QueueCounter: Sendable {
    private let count = Atomic<Int>(0)

    /// Takes a place when fewer than `limit` are taken.
    func enter(limit: Int) -> Bool {
        var current = count.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = count.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func leave() {
        count.subtract(1, ordering: .acquiringAndReleasing)
    }
}
