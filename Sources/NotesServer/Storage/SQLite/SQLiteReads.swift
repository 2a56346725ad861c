import GRDB

extension DatabaseWriter {
    /// Runs a read that is one SELECT on the calling thread, outside an explicit transaction
    /// (one statement sees one snapshot anyway, in WAL mode).
    ///
    /// GRDB's async `read` hops to a queue that waits for a free reader, then to the reader's
    /// own queue, and wraps the statement in `BEGIN`/`COMMIT`: for a lookup by key those
    /// thread switches and two extra statements cost more than the lookup. Here the reader's
    /// queue runs the block on this thread (DispatchQueue.sync), so a request's read costs
    /// what SQLite costs. Readers never wait for the writer in WAL mode, and the pool has more
    /// readers than the cooperative pool has threads, so this waits on nothing else. Writes
    /// keep GRDB's async path: they may wait for the single writer.
    func readStatement<T>(_ value: (Database) throws -> T) throws -> T {
        try unsafeRead(value)
    }
}
