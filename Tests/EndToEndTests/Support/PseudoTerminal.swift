import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A child process on a pseudo-terminal of its own (its controlling terminal, so Ctrl-C is
/// a real SIGINT), driven like a person at the keyboard: send keys, expect text.
final class PseudoTerminal: Sendable {
    let master: Int32
    let pid: pid_t
    /// Everything read so far, and how far `expect` has consumed it.
    private let state = Mutex<(output: [UInt8], consumed: Int)>(([], 0))

    /// glibc's `POSIX_SPAWN_SETSID` (0x80): the child starts a new session, so the terminal
    /// it opens first becomes its controlling terminal.
    private static let spawnSetSID: Int32 = 0x80

    init(executable: String, arguments: [String], environment: [String: String], columns: UInt16 = 120, rows: UInt16 = 40) throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        var name = [CChar](repeating: 0, count: 256)
        var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
        guard openpty(&master, &slave, &name, nil, &size) == 0 else { throw TestFailure("cannot open a pseudo-terminal") }
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        // The child opens the terminal by name after setsid(), which makes it its controlling
        // terminal; the parent's descriptor for that side is not needed.
        Glibc.close(slave)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, name, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(Self.spawnSetSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            Glibc.close(master)
            throw TestFailure("posix_spawn failed: \(String(cString: strerror(result)))")
        }
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        self.master = master
        self.pid = pid
    }

    /// Types `text` (use "\r" for Enter, "\u{03}" for Ctrl-C, "\u{04}" for Ctrl-D).
    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return write(master, base + offset, buffer.count - offset)
            }
            if written < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// Waits until `text` appears in output not yet consumed; returns the output up to and
    /// including it, and consumes that much.
    @discardableResult
    func expect(_ text: String, timeout: Double = 20) async throws -> String {
        try await onThread { try self.expectBlocking(text, timeout: timeout) }
    }

    private func expectBlocking(_ text: String, timeout: Double) throws -> String {
        let needle = Array(text.utf8)
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let found: String? = state.withLock { state in
                let haystack = state.output[state.consumed...]
                guard let range = Self.firstRange(of: needle, in: Array(haystack)) else { return nil }
                let end = state.consumed + range.upperBound
                let chunk = String(decoding: state.output[state.consumed..<end], as: UTF8.self)
                state.consumed = end
                return chunk
            }
            if let found { return found }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                let seen = state.withLock { String(decoding: $0.output[$0.consumed...], as: UTF8.self) }
                throw TestFailure("expected \(text.debugDescription) within \(timeout)s; got: \(seen.debugDescription)")
            }
            var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining, 0.2) * 1000))
            if ready > 0 {
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = read(master, &buffer, buffer.count)
                if count > 0 {
                    state.withLock { $0.output.append(contentsOf: buffer[0..<count]) }
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    // EIO: the child closed the terminal; nothing more will come.
                    let seen = state.withLock { String(decoding: $0.output[$0.consumed...], as: UTF8.self) }
                    throw TestFailure("the terminal closed while expecting \(text.debugDescription); got: \(seen.debugDescription)")
                }
            }
        }
    }

    private static func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }

    /// Everything the child wrote so far.
    var transcript: String { state.withLock { String(decoding: $0.output, as: UTF8.self) } }

    /// Waits for the child to exit (draining its output) and returns its exit status.
    func waitForExit(timeout: Double = 20) async throws -> Int32 {
        try await onThread {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                var status: Int32 = 0
                let result = waitpid(self.pid, &status, WNOHANG)
                if result == self.pid {
                    // Exited normally: the low 7 bits are 0 and the code is in the next byte.
                    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
                }
                guard Date() < deadline else { throw TestFailure("the REPL did not exit within \(timeout)s") }
                var poller = pollfd(fd: self.master, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 50) > 0 {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    let count = read(self.master, &buffer, buffer.count)
                    if count > 0 { self.state.withLock { $0.output.append(contentsOf: buffer[0..<count]) } }
                }
            }
        }
    }

    /// Kills the child if it is still running and closes the terminal.
    func close() {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        Glibc.close(master)
    }
}
