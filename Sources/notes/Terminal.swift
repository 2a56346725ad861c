import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Blocking terminal and stdin work, run on a thread of its own so that it never holds a
/// thread of the cooperative pool.
enum Blocking {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.start()
        }
    }
}

/// Prompts on the terminal, and stdin as a text source.
enum Terminal {
    /// Whether stdin is piped or redirected (not a terminal).
    static var stdinIsPiped: Bool { isatty(STDIN_FILENO) == 0 }

    /// All of stdin, minus one trailing newline.
    static func readStdin() async throws -> String {
        try await Blocking.run {
            var text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            if text.hasSuffix("\r\n") {
                text.removeLast(2)
            } else if text.hasSuffix("\n") {
                text.removeLast()
            }
            return text
        }
    }

    /// Reads one line from the terminal. With `echo: false` nothing typed is shown; Ctrl-C
    /// or Ctrl-D on an empty line cancel. Uses stdin when it is a terminal, else /dev/tty.
    static func prompt(_ prompt: String, echo: Bool) async throws -> String {
        try await Blocking.run { try promptBlocking(prompt, echo: echo) }
    }

    private static func promptBlocking(_ prompt: String, echo: Bool) throws -> String {
        var fd = STDIN_FILENO
        var opened = false
        if isatty(STDIN_FILENO) == 0 {
            fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
            guard fd >= 0 else {
                throw UsageError("no terminal to ask for it on; pass it on stdin with --password-stdin (and --username)")
            }
            opened = true
        }
        defer { if opened { close(fd) } }
        let outFD = opened ? fd : STDERR_FILENO

        var original = termios()
        guard tcgetattr(fd, &original) == 0 else { throw UsageError("cannot read the terminal's settings") }
        var raw = original
        // Byte at a time, no echo, and Ctrl-C as a byte (so the terminal is always restored).
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { throw UsageError("cannot change the terminal's settings") }
        defer { _ = tcsetattr(fd, TCSANOW, &original) }
        writeAll(outFD, prompt)

        var bytes: [UInt8] = []
        while true {
            var byte: UInt8 = 0
            let count = read(fd, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { throw Cancelled() }
            switch byte {
            case 0x0A, 0x0D:
                writeAll(outFD, "\n")
                return String(decoding: bytes, as: UTF8.self)
            case 0x03:
                writeAll(outFD, "^C\n")
                throw Cancelled()
            case 0x04:
                if bytes.isEmpty {
                    writeAll(outFD, "\n")
                    throw Cancelled()
                }
            case 0x7F, 0x08:
                // Drop one whole UTF-8 character.
                while let last = bytes.popLast(), last & 0xC0 == 0x80 {}
                if echo { writeAll(outFD, "\u{8} \u{8}") }
            case 0x15:
                if echo { writeAll(outFD, String(repeating: "\u{8} \u{8}", count: String(decoding: bytes, as: UTF8.self).count)) }
                bytes.removeAll()
            default:
                bytes.append(byte)
                if echo { _ = withUnsafePointer(to: byte) { write(outFD, $0, 1) } }
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ text: String) {
        let data = Array(text.utf8)
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return write(fd, base + offset, buffer.count - offset)
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
