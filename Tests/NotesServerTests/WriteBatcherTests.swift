import Dispatch
import Foundation
import GRDB
import Synchronization
import TestSupport
import Testing

@testable import NotesServer

/// Group commit on SQLite: writes queued while the writer is busy share one transaction, each
/// with exactly the outcome it would have had alone.
@Suite("SQLite group commit")
struct WriteBatcherTests {
    struct Failure: Error, Equatable { let index: Int }

    /// A database with one table `t(k TEXT PRIMARY KEY)`, and a batcher over it.
    static func database(_ directory: String) throws -> (DatabasePool, SQLiteWriteBatcher) {
        let pool = try DatabasePool(path: directory + "/batch.sqlite")
        try pool.write { db in try db.execute(sql: "CREATE TABLE t (k TEXT PRIMARY KEY)") }
        return (pool, SQLiteWriteBatcher(writer: pool))
    }

    static func keys(_ pool: DatabasePool) throws -> Set<String> {
        Set(try pool.read { db in try String.fetchAll(db, sql: "SELECT k FROM t") })
    }

    /// Runs `writes` as concurrent callers, queued in their order while the writer is held
    /// busy, so that they run as one batch; returns each caller's outcome, in the same order.
    static func oneBatch(
        _ pool: DatabasePool,
        _ batcher: SQLiteWriteBatcher,
        _ writes: [@Sendable (Database) throws -> String]
    ) async throws -> [Result<String, any Error>] {
        let release = DispatchSemaphore(value: 0)
        let holding = DispatchSemaphore(value: 0)
        pool.asyncWriteWithoutTransaction { _ in
            holding.signal()
            release.wait()
        }
        holding.wait()
        return try await withThrowingTaskGroup(of: (Int, Result<String, any Error>).self) { group in
            // Queued one after another, in the order given.
            let deadline = ContinuousClock.now + .seconds(10)
            for (index, work) in writes.enumerated() {
                group.addTask {
                    do { return (index, .success(try await batcher.write(work))) } catch { return (index, .failure(error)) }
                }
                while batcher.waiting <= index {
                    guard ContinuousClock.now < deadline else { throw Failure(index: -1) }
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            release.signal()
            var outcomes = [Result<String, any Error>?](repeating: nil, count: writes.count)
            for try await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes.compactMap { $0 }
        }
    }

    @Test("one batch: a write that throws rolls back only its own changes; the others commit and get their results")
    func failingWriteIsAlone() async throws {
        try await withTemporaryDirectory { directory in
            let (pool, batcher) = try Self.database(directory)
            let outcomes = try await Self.oneBatch(
                pool,
                batcher,
                (0..<9).map { index in
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES (?)", arguments: ["k\(index)"])
                        // Every third write fails after its insert, and once on a constraint.
                        if index % 3 == 1 { throw Failure(index: index) }
                        if index == 5 { try db.execute(sql: "INSERT INTO t (k) VALUES ('k0')") }
                        // Each write sees every write committed or kept before it.
                        return "\(index):\(try Int.fetchOne(db, sql: "SELECT count(*) FROM t") ?? -1)"
                    }
                }
            )
            #expect(outcomes.count == 9)
            var kept = Set<String>()
            for (index, outcome) in outcomes.enumerated() {
                switch outcome {
                case .success(let value):
                    kept.insert("k\(index)")
                    #expect(index % 3 != 1 && index != 5, "write \(index) succeeded")
                    #expect(value.hasPrefix("\(index):"))
                case .failure(let error):
                    #expect(index % 3 == 1 || index == 5, "write \(index) failed: \(error)")
                    if index == 5 {
                        #expect((error as? DatabaseError)?.resultCode == .SQLITE_CONSTRAINT)
                    } else {
                        #expect(error as? Failure == Failure(index: index))
                    }
                }
            }
            #expect(try Self.keys(pool) == kept)
            #expect(kept == ["k0", "k2", "k3", "k6", "k8"])
            try pool.close()
        }
    }

    @Test("one batch: a one-statement write (no savepoint) that fails changes nothing; the others commit")
    func failingStatementIsAlone() async throws {
        try await withTemporaryDirectory { directory in
            let (pool, batcher) = try Self.database(directory)
            let release = DispatchSemaphore(value: 0)
            let holding = DispatchSemaphore(value: 0)
            pool.asyncWriteWithoutTransaction { _ in
                holding.signal()
                release.wait()
            }
            holding.wait()
            // One statement inserting two rows, the second of which collides: SQLite undoes the
            // whole statement, so 'a2' is not stored either.
            async let first = batcher.writeWithoutSavepoint { db in try db.execute(sql: "INSERT INTO t (k) VALUES ('a1')") }
            async let failing: Void = batcher.writeWithoutSavepoint { db in try db.execute(sql: "INSERT INTO t (k) VALUES ('a2'), ('a1')") }
            async let last = batcher.write { db in try db.execute(sql: "INSERT INTO t (k) VALUES ('a3')") }
            let deadline = ContinuousClock.now + .seconds(10)
            while batcher.waiting < 3 {
                guard ContinuousClock.now < deadline else { throw Failure(index: -1) }
                try await Task.sleep(for: .milliseconds(1))
            }
            release.signal()
            var outcomes: [Result<Void, any Error>] = []
            do { outcomes.append(.success(try await first)) } catch { outcomes.append(.failure(error)) }
            do { outcomes.append(.success(try await failing)) } catch { outcomes.append(.failure(error)) }
            do { outcomes.append(.success(try await last)) } catch { outcomes.append(.failure(error)) }
            // The order the three queued in decides which insert of 'a1' wins; exactly one does.
            #expect(outcomes.filter { (try? $0.get()) != nil }.count == 2)
            let keys = try Self.keys(pool)
            #expect(keys == ["a1", "a3"] || keys == ["a1", "a2", "a3"])
            if keys.contains("a2") {
                #expect(throws: (any Error).self) { try outcomes[0].get() }
            } else {
                #expect(throws: (any Error).self) { try outcomes[1].get() }
            }
            try pool.close()
        }
    }

    @Test("a write that ends the whole transaction (INSERT OR ROLLBACK) fails the batch: nothing of it is stored")
    func abortedTransactionFailsAll() async throws {
        try await withTemporaryDirectory { directory in
            let (pool, batcher) = try Self.database(directory)
            try await pool.write { db in try db.execute(sql: "INSERT INTO t (k) VALUES ('taken')") }
            let outcomes = try await Self.oneBatch(
                pool,
                batcher,
                [
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES ('before')")
                        return "before"
                    },
                    { db in
                        try db.execute(sql: "INSERT OR ROLLBACK INTO t (k) VALUES ('taken')")
                        return "rollback"
                    },
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES ('after')")
                        return "after"
                    },
                ]
            )
            for outcome in outcomes {
                #expect(throws: (any Error).self) { try outcome.get() }
            }
            // Without the check, 'after' would have run outside the transaction and committed.
            #expect(try Self.keys(pool) == ["taken"])
            // The batcher goes on working.
            #expect(try await batcher.write { db in try db.execute(sql: "INSERT INTO t (k) VALUES ('later')") } == ())
            #expect(try Self.keys(pool) == ["taken", "later"])
            try pool.close()
        }
    }

    final class FailingCommit: TransactionObserver {
        let armed = Atomic<Bool>(true)
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseWillCommit() throws {
            if armed.exchange(false, ordering: .relaxed) { throw Failure(index: 99) }
        }
        func databaseDidCommit(_ db: Database) {}
        func databaseDidRollback(_ db: Database) {}
    }

    @Test("a commit that fails fails every write of the batch, and none of them is stored")
    func failedCommitFailsAll() async throws {
        try await withTemporaryDirectory { directory in
            let (pool, batcher) = try Self.database(directory)
            let observer = FailingCommit()
            pool.add(transactionObserver: observer, extent: .observerLifetime)
            let outcomes = try await Self.oneBatch(
                pool,
                batcher,
                (0..<5).map { index in
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES (?)", arguments: ["k\(index)"])
                        return "k\(index)"
                    }
                }
            )
            #expect(outcomes.count == 5)
            for outcome in outcomes {
                #expect(throws: Failure(index: 99)) { try outcome.get() }
            }
            #expect(try Self.keys(pool).isEmpty)
            withExtendedLifetime(observer) {}
            try pool.close()
        }
    }

    @Test("300 concurrent writes, unheld: every one runs exactly once, in fewer transactions than writes")
    func manyWrites() async throws {
        try await withTemporaryDirectory { directory in
            let (pool, batcher) = try Self.database(directory)
            final class Counter: TransactionObserver {
                let commits = Atomic<Int>(0)
                func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
                func databaseDidChange(with event: DatabaseEvent) {}
                func databaseDidCommit(_ db: Database) { commits.add(1, ordering: .relaxed) }
                func databaseDidRollback(_ db: Database) {}
            }
            let counter = Counter()
            pool.add(transactionObserver: counter, extent: .observerLifetime)
            let results = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        try await batcher.write { db in
                            try db.execute(sql: "INSERT INTO t (k) VALUES (?)", arguments: ["k\(index)"])
                            return "k\(index)"
                        }
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(results.count == 300)
            #expect(try Self.keys(pool) == results)
            let transactions = counter.commits.load(ordering: .relaxed)
            #expect(transactions >= 1 && transactions < 300, "\(transactions) transactions")
            withExtendedLifetime(counter) {}
            try pool.close()
        }
    }
}
