import GRDB
import Synchronization

/// Group commit for SQLite's single writer: writes that arrive while the writer is busy wait in
/// a queue, and the next turn of the writer runs all of them (up to `maximumBatch`) in one
/// transaction, each inside its own savepoint (or, for a write made of one statement, inside
/// that statement, which SQLite makes atomic: ``writeWithoutSavepoint(_:)``).
///
/// A write's outcome is exactly what it would be alone: SQLite runs them one after another on
/// the one writer connection, each sees every write before it, and a write that throws undoes
/// its own changes only (its caller gets the error, the others go on). A caller hears of
/// success only once the transaction has committed; if the commit (or its start) fails, every
/// write of the batch gets that error and none of them happened.
///
/// What it saves is per transaction, not per statement: the hop onto the writer's queue, BEGIN
/// and COMMIT, and above all the pages written to the WAL at commit (a note touches the notes
/// table, two indexes and the search index, whose pending terms FTS5 flushes as a new segment
/// at every commit). Under load many creates share one commit; alone, a write is a batch of one.
final class SQLiteWriteBatcher: Sendable {
    /// One write: `run` does its work in the batch's transaction and returns what to tell the
    /// caller once the transaction has committed (and the error it met, if any); `fail` tells
    /// it the batch failed.
    private struct Job: Sendable {
        let run: @Sendable (Database) -> (answer: @Sendable () -> Void, error: (any Error)?)
        let fail: @Sendable (any Error) -> Void
    }

    private struct State {
        var pending: [Job] = []
        var draining = false
    }

    /// The most writes one transaction holds, so that one turn of the writer stays short for
    /// the other writes (sessions, logins) queued behind it.
    static let maximumBatch = 64

    private let writer: any DatabaseWriter
    private let state = Mutex(State())

    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// How many writes wait for the writer's next turn.
    var waiting: Int { state.withLock { $0.pending.count } }

    /// Runs `work` in the next batch, in a savepoint of its own, and returns its result once
    /// that batch has committed.
    func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await enqueue(savepoint: true, work)
    }

    /// Runs `work` in the next batch without a savepoint, and returns its result once that
    /// batch has committed; saves the savepoint's two statements per write (about a tenth of
    /// `POST /notes`). Only for work that leaves nothing that matters when it throws: SQLite
    /// undoes a failed statement's own changes, so work whose changes are made by one
    /// statement qualifies (reads around it are fine), and so does work whose earlier
    /// statements change only what is harmless to keep (a note's create claims a time on its
    /// owner's row before inserting: a high-water mark that may stay). Whatever throws after
    /// the statement that changed something (decoding what it returned, say) does not undo it.
    func writeWithoutSavepoint<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await enqueue(savepoint: false, work)
    }

    private func enqueue<T: Sendable>(savepoint: Bool, _ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job(
                run: { db in
                    do {
                        let value = try savepoint ? Self.inSavepoint(db) { try work(db) } : work(db)
                        return ({ continuation.resume(returning: value) }, nil)
                    } catch {
                        return ({ continuation.resume(throwing: error) }, error)
                    }
                },
                fail: { continuation.resume(throwing: $0) }
            )
            let start = state.withLock { state in
                state.pending.append(job)
                if state.draining { return false }
                state.draining = true
                return true
            }
            if start { drain() }
        }
    }

    /// Runs `work` in a savepoint of the batch's transaction: if it throws, what it changed is
    /// rolled back and the error rethrown. GRDB's `inSavepoint` prepares its three statements
    /// on every call; these are prepared once per connection.
    private static func inSavepoint<T>(_ db: Database, _ work: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "SAVEPOINT batched_write").execute()
        let value: T
        do {
            value = try work()
        } catch {
            // A statement that failed may have ended the whole transaction (a full disk):
            // then there is no savepoint left to roll back to, and the batch fails as a whole.
            if db.isInsideTransaction {
                do {
                    try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT batched_write").execute()
                    try db.cachedStatement(sql: "RELEASE SAVEPOINT batched_write").execute()
                } catch {
                    abandonTransaction(db)
                }
            }
            throw error
        }
        do {
            try db.cachedStatement(sql: "RELEASE SAVEPOINT batched_write").execute()
        } catch {
            abandonTransaction(db)
            throw error
        }
        return value
    }

    /// When a savepoint cannot be rolled back or released, the write's changes would stay in
    /// the transaction and commit with the batch, though its caller is told it failed: the
    /// whole transaction is rolled back instead, so the batch fails (GRDB refuses every later
    /// statement in the block, and the commit).
    private static func abandonTransaction(_ db: Database) {
        try? db.execute(sql: "ROLLBACK")
    }

    /// One turn of the writer: takes the queued writes, runs them in one transaction, answers
    /// their callers, and queues another turn if more arrived meanwhile (behind any other write
    /// already waiting for the writer, which GRDB serves in order).
    private func drain() {
        writer.asyncWriteWithoutTransaction { db in
            let batch = self.state.withLock { state in
                let count = min(state.pending.count, Self.maximumBatch)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return batch
            }
            var completions: [@Sendable () -> Void] = []
            // The error of the write that ended the transaction, if one did: what every write
            // of the batch is told, rather than GRDB's "transaction was aborted".
            var ended: (any Error)?
            do {
                try db.inTransaction(.immediate) {
                    // A statement that makes SQLite roll the whole transaction back (a full
                    // disk, `OR ROLLBACK`) fails the batch: GRDB refuses every later statement
                    // inside this block (SQLITE_ABORT), so no later write can run outside the
                    // transaction and commit on its own, and the commit throws.
                    for job in batch {
                        let outcome = job.run(db)
                        completions.append(outcome.answer)
                        if ended == nil, !db.isInsideTransaction { ended = outcome.error }
                    }
                    return .commit
                }
            } catch {
                completions = []
                for job in batch { job.fail(ended ?? error) }
            }
            for completion in completions { completion() }
            let more = self.state.withLock { state in
                if state.pending.isEmpty {
                    state.draining = false
                    return false
                }
                return true
            }
            if more { self.drain() }
        }
    }
}
