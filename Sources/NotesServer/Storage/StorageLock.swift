import Logging

extension Storage {
    /// Runs `work` only while holding the database lock `key`; returns whether it ran.
    typealias LockRunner = @Sendable (_ key: Int64, _ logger: Logger, _ work: @escaping @Sendable () async -> Void) async throws -> Bool

    /// One SQLite file has one server: nothing to coordinate, the work always runs.
    static let runWithoutLock: LockRunner = { _, _, work in
        await work()
        return true
    }
}
