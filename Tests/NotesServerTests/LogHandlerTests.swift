import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import NotesServer

#if canImport(Glibc)
import Glibc
#endif

struct Probe: Error, CustomStringConvertible {
    var description: String { "probe" }
}

@Suite("The server's log handler: StreamLogHandler's lines, written with fewer system calls")
struct LogHandlerTests {
    /// A connected pair of sockets whose read end is drained on a thread of its own into `text`.
    final class Capture: @unchecked Sendable {
        let readEnd: Int32
        let writeEnd: Int32
        private let lock = NSLock()
        private var bytes: [UInt8] = []
        private let done = DispatchSemaphore(value: 0)
        private let reading = DispatchSemaphore(value: 0)

        /// paused: nothing is read until `resume()`, as with a pipe nobody reads.
        init(paused: Bool = false) throws {
            var ends: [Int32] = [0, 0]
            // Made close-on-exec atomically: a child process that another test starts meanwhile
            // must not inherit the write end, or closing ours would never end the reader. A
            // socket pair, as pipe2 is not in Swift's Glibc; its send buffer is kept small, as
            // a pipe's would be.
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            guard socketpair(AF_UNIX, type, 0, &ends) == 0 else { throw CocoaError(.fileWriteUnknown) }
            var size: Int32 = 16_384
            setsockopt(ends[1], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            readEnd = ends[0]
            writeEnd = ends[1]
            if !paused { reading.signal() }
            Thread { [self] in
                reading.wait()
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    lock.withLock { bytes += buffer[0..<n] }
                }
                done.signal()
            }.start()
        }

        func resume() { reading.signal() }

        /// Closes the write end and returns everything that was written.
        func finish() -> String {
            close(writeEnd)
            done.wait()
            close(readEnd)
            return lock.withLock { String(decoding: bytes, as: UTF8.self) }
        }
    }

    @Test("a line is StreamLogHandler's: local timestamp, level, label, metadata sorted by key, source, message")
    func format() throws {
        let capture = try Capture()
        let output = LogOutput(descriptor: capture.writeEnd)
        var logger = Logger(label: "notes-server") { label in StderrLogHandler(label: label, output: output) }
        logger[metadataKey: "hb.request.id"] = "abc"
        logger.info("request", metadata: ["status": "200", "method": "GET", "path": "/me"])
        logger.debug("not at info")
        logger.error("failed", error: Probe())
        let lines = capture.finish().split(separator: "\n", omittingEmptySubsequences: false)
        try #require(lines.count == 3, "\(lines)")
        let stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}/
        let first = try #require(lines[0].prefixMatch(of: stamp))
        let expected = " info notes-server: hb.request.id=abc method=GET path=/me status=200 [NotesServerTests] request"
        #expect(lines[0].dropFirst(first.output.count) == expected)
        let error = " error notes-server: error.message=probe error.type=NotesServerTests.Probe hb.request.id=abc [NotesServerTests] failed"
        #expect(lines[1].hasSuffix(error))
        #expect(lines[2].isEmpty)
    }

    @Test("lines logged from many threads at once all arrive, each whole")
    func concurrent() async throws {
        let capture = try Capture()
        let output = LogOutput(descriptor: capture.writeEnd)
        let logger = Logger(label: "load") { label in StderrLogHandler(label: label, output: output) }
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for number in 0..<500 { logger.info("line", metadata: ["task": "\(task)", "n": "\(number)"]) }
                }
            }
        }
        let lines = capture.finish().split(separator: "\n")
        #expect(lines.count == 4_000)
        var seen = Set<String>()
        for line in lines {
            guard let match = line.firstMatch(of: /\ info load: n=(\d+) task=(\d) \[NotesServerTests\] line$/) else {
                Issue.record("a line was cut or mixed with another: \(line)")
                return
            }
            seen.insert("\(match.output.2)/\(match.output.1)")
        }
        #expect(seen.count == 4_000)
    }

    @Test("when the output stops draining, lines past the limit are dropped and counted, never held without bound")
    func bounded() async throws {
        let capture = try Capture(paused: true)
        let output = LogOutput(descriptor: capture.writeEnd, pendingLimit: 4_096)
        let logger = Logger(label: "full") { label in StderrLogHandler(label: label, output: output) }
        let padding = String(repeating: "x", count: 1_000)
        let finishedThreads = Atomic<Int>(0)
        // Nobody reads: the writer blocks once the socket's buffers are full, in a call that cannot
        // return. Every call on another thread only appends to what is pending, up to the
        // limit, and returns: three of the four threads finish.
        // Threads of their own, not tasks: a blocked writer must not hold a thread of the
        // test's cooperative pool.
        let finished = DispatchGroup()
        for task in 0..<4 {
            finished.enter()
            Thread {
                for number in 0..<200 {
                    logger.info("\(padding)", metadata: ["task": "\(task)", "n": "\(number)"])
                }
                finishedThreads.add(1, ordering: .relaxed)
                finished.leave()
            }.start()
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while finishedThreads.load(ordering: .relaxed) < 3 {
            guard ContinuousClock.now < deadline else {
                capture.resume()
                throw TestFailure("\(finishedThreads.load(ordering: .relaxed)) of 4 threads finished while the output was blocked")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        capture.resume()
        finished.wait()
        let text = capture.finish()
        let written = text.split(separator: "\n").filter { $0.hasSuffix(padding) }.count
        let dropped = text.matches(of: /log: (\d+) lines dropped/).reduce(0) { $0 + (Int($1.output.1) ?? 0) }
        // While blocked, at most the socket's buffers and 4 KiB pending (a few dozen lines of the
        // 600 of the threads that finished) could be kept.
        #expect(dropped >= 500, "\(dropped) dropped")
        #expect(written + dropped == 800, "every line is either written or counted as dropped")
    }
}

@Suite("UUIDs to and from text without Foundation's sscanf and sprintf")
struct UUIDTextTests {
    @Test("parse and string agree with Foundation for random UUIDs, in either case, and on malformed text")
    func agreesWithFoundation() {
        for _ in 0..<2_000 {
            let uuid = UUID()
            #expect(UUIDText.string(uuid) == uuid.uuidString)
            #expect(UUIDText.parse(uuid.uuidString) == uuid)
            #expect(UUIDText.parse(uuid.uuidString.lowercased()) == uuid)
            var bytes: [UInt8] = []
            UUIDText.append(uuid, to: &bytes)
            #expect(bytes == Array(uuid.uuidString.utf8))
        }
        let sample = UUID().uuidString
        let malformed = [
            "", "not-a-uuid", String(sample.dropLast()), sample + "0", sample.replacingOccurrences(of: "-", with: "_"),
            "G" + sample.dropFirst(), sample.replacingOccurrences(of: "-", with: ""), "{\(sample)}", " " + sample.dropFirst(),
            String(sample.prefix(8)) + "-" + String(sample.dropFirst(8)).replacingOccurrences(of: "-", with: ""),
        ]
        for text in malformed {
            #expect(UUIDText.parse(text) == UUID(uuidString: text), "\(text)")
        }
    }
}
