import Logging
import PostgresNIO

extension PostgresDatabase {
    /// Runs `work` only if this process takes the session-level advisory lock `key` at once
    /// (`pg_try_advisory_lock`), holding it on one connection for the whole of `work`; returns
    /// whether it ran. Another replica holding the lock means it is doing the work now. A
    /// replica that dies mid-way loses its connection, and with it the lock.
    func whileHoldingLock(_ key: Int64, logger: Logger, _ work: @escaping @Sendable () async -> Void) async throws -> Bool {
        do {
            return try await client.withConnection { connection in
                let rows = try await connection.query("SELECT pg_try_advisory_lock(\(key))", logger: logger)
                var taken = false
                for try await (value) in rows.decode(Bool.self) { taken = value }
                guard taken else { return false }
                await work()
                _ = try await connection.query("SELECT pg_advisory_unlock(\(key))", logger: logger).collect()
                return true
            }
        } catch {
            throw Self.classify(error, logger: logger)
        }
    }
}
