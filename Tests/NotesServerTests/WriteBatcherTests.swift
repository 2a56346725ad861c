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

    final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

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
        withoutSavepoint: Set<Int> = [],
        _ writes: [@Sendable (Database) throws -> String]
    ) async throws -> [Result<String, any Error>] {
        // The writer's thread is held on a semaphore; the test's own tasks never block a thread
        // (they poll), so many such tests at once cannot starve Swift's few threads.
        let release = DispatchSemaphore(value: 0)
        let held = Flag()
        pool.asyncWriteWithoutTransaction { _ in
            held.value.store(true, ordering: .releasing)
            release.wait()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        do {
            while !held.value.load(ordering: .acquiring) {
                guard ContinuousClock.now < deadline else { throw Failure(index: -1) }
                try await Task.sleep(for: .milliseconds(1))
            }
        } catch {
            release.signal()
            throw error
        }
        return try await withThrowingTaskGroup(of: (Int, Result<String, any Error>).self) { group in
            // Queued one after another, in the order given. However this ends, the writer is
            // let go before the group waits for its tasks, which wait for the writer.
            do {
                for (index, work) in writes.enumerated() {
                    let savepoint = !withoutSavepoint.contains(index)
                    group.addTask {
                        do {
                            let value = try await savepoint ? batcher.write(work) : batcher.writeWithoutSavepoint(work)
                            return (index, .success(value))
                        } catch {
                            return (index, .failure(error))
                        }
                    }
                    while batcher.waiting <= index {
                        guard ContinuousClock.now < deadline else { throw Failure(index: -1) }
                        try await Task.sleep(for: .milliseconds(1))
                    }
                }
            } catch {
                release.signal()
                throw error
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
            // The second is one statement inserting two rows, the second of which collides with
            // the first write's: SQLite undoes the whole statement, so 'a2' is not stored either.
            let outcomes = try await Self.oneBatch(
                pool,
                batcher,
                withoutSavepoint: [0, 1],
                [
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES ('a1')")
                        return "a1"
                    },
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES ('a2'), ('a1')")
                        return "a2"
                    },
                    { db in
                        try db.execute(sql: "INSERT INTO t (k) VALUES ('a3')")
                        return "a3"
                    },
                ]
            )
            #expect(try outcomes[0].get() == "a1")
            #expect((outcomes[1].failure as? DatabaseError)?.resultCode == .SQLITE_CONSTRAINT)
            #expect(try outcomes[2].get() == "a3")
            #expect(try Self.keys(pool) == ["a1", "a3"])
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
            // Every write is told what ended the transaction: the collision, not "aborted".
            for outcome in outcomes {
                #expect((outcome.failure as? DatabaseError)?.resultCode == .SQLITE_CONSTRAINT, "\(outcome)")
            }
            // Had 'after' run outside the transaction, it would have committed on its own.
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

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

@Suite("Note ids")
struct NoteIDTests {
    @Test("version 8: 74 random bits first, the creation time in the last group; the key grows with time; SQL's key is Swift's")
    func layout() async throws {
        var previousKey = ""
        var seen = Set<UUID>()
        var prefixes = Set<Substring>()
        for step in Int64(0)..<2_000 {
            let milliseconds = 1_800_000_000_123 + step
            let id = NoteID.make(at: Date(millisecondsSince1970: milliseconds))
            let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
            #expect(bytes[10..<16].reduce(Int64(0)) { $0 << 8 | Int64($1) } == milliseconds)
            #expect(bytes[6] >> 4 == 8)
            #expect(bytes[8] >> 6 == 0b10)
            let key = SQLiteNoteRepository.key(id)
            #expect(key > previousKey, "keys of later milliseconds sort after earlier ones")
            previousKey = key
            #expect(seen.insert(id).inserted)
            prefixes.insert(UUIDText.string(id).prefix(4))
        }
        // The first characters stay random: 2,000 ids made within two seconds share few.
        #expect(prefixes.count > 1_900, "\(prefixes.count) distinct four-character starts")
        for date in [Date(timeIntervalSince1970: -1), Date.distantFuture, Date(timeIntervalSince1970: .nan)] {
            let bytes = withUnsafeBytes(of: NoteID.make(at: date).uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 8 && bytes[8] >> 6 == 0b10)
        }
        // The key SQLite computes for a stored id is the one Swift computes for it.
        let queue = try DatabaseQueue()
        for id in [NoteID.make(at: Date()), UUID()] {
            let sqlKey = try await queue.read { db in
                try String.fetchOne(
                    db,
                    sql: "SELECT \(SQLiteNoteRepository.keyExpression) FROM (SELECT ? AS id)",
                    arguments: [UUIDText.string(id)]
                )
            }
            #expect(sqlKey == SQLiteNoteRepository.key(id))
        }
    }
}
