import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The server's log handler: the lines of swift-log's `StreamLogHandler.standardError`, byte for
/// byte (`2026-11-30T00:50:31+0000 info notes-server: key=value … [NotesServer] message`), made
/// cheaper per line, since every request writes one at `info`:
/// - the timestamp is formatted once per second, not per line;
/// - a line is built as bytes, without the sorted copy of the metadata that `prettify` makes;
/// - lines from concurrent requests share one `write(2)`: whoever finds no write in progress
///   writes what is pending, and goes on until nothing is; others only append. Every line is
///   written before the call that logged it could observe otherwise (no background thread, so
///   nothing is lost at exit). If stderr stops draining (a full pipe nobody reads), at most
///   `pendingLimit` bytes wait; lines beyond that are dropped and counted, and the count is
///   written as a line of its own when writing resumes.
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    private let output: LogOutput

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil, output: LogOutput = .standardError) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.output = output
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let explicit = event.metadata, !explicit.isEmpty { merged.merge(explicit) { $1 } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var text = output.timestamp()
        text += " \(event.level) \(label):"
        for key in merged.keys.sorted() {
            // The same text as "\(key)=\(value)" in StreamLogHandler.
            if let value = merged[key] { text += " \(key)=\(value)" }
        }
        text += " [\(event.source)] \(event.message)\n"
        output.write(text)
    }
}

/// Where `StderrLogHandler` lines go: a file descriptor written with coalesced `write(2)` calls.
final class LogOutput: Sendable {
    static let standardError = LogOutput(descriptor: STDERR_FILENO)

    private struct State {
        var pending: [UInt8] = []
        var writing = false
        var dropped = 0
        var second = Int.min
        var stamp = ""
    }

    private let descriptor: Int32
    private let state = Mutex(State())
    let pendingLimit: Int

    init(descriptor: Int32, pendingLimit: Int = 1 << 20) {
        self.descriptor = descriptor
        self.pendingLimit = pendingLimit
    }

    /// `2026-11-30T00:50:31+0000` in local time, as `strftime("%Y-%m-%dT%H:%M:%S%z")` gives it.
    func timestamp() -> String {
        var now = time(nil)
        if let cached = state.withLock({ $0.second == now ? $0.stamp : nil }) { return cached }
        var parts = tm()
        guard localtime_r(&now, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let stamp = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        state.withLock {
            $0.second = now
            $0.stamp = stamp
        }
        return stamp
    }

    func write(_ line: String) {
        var batch: [UInt8]? = state.withLock { state in
            guard state.pending.count + line.utf8.count <= pendingLimit else {
                state.dropped += 1
                return nil
            }
            state.pending.append(contentsOf: line.utf8)
            guard !state.writing else { return nil }
            state.writing = true
            defer { state.pending = [] }
            return state.pending
        }
        while let bytes = batch {
            writeAll(bytes)
            batch = state.withLock { state in
                if state.dropped > 0 {
                    let stamp = state.stamp.isEmpty ? "<unknown>" : state.stamp
                    state.pending.append(contentsOf: "\(stamp) warning log: \(state.dropped) lines dropped (stderr was not being read)\n".utf8)
                    state.dropped = 0
                }
                guard !state.pending.isEmpty else {
                    state.writing = false
                    return nil
                }
                defer { state.pending = [] }
                return state.pending
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count, let base = buffer.baseAddress {
                let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0, errno == EINTR {
                    continue
                } else {
                    return  // stderr closed or failing: the log is lost, the server goes on
                }
            }
        }
    }
}
