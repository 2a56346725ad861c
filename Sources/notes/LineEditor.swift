@preconcurrency import CReadline
import Foundation
import NotesClient

#if canImport(Glibc)
import Glibc
#endif

/// GNU readline, the only file that talks to it: line editing, history, completion, and
/// Ctrl-C clearing the line being edited.
///
/// Readline's globals are only touched through `shim.h`'s accessors. The blocking
/// `readline()` call runs on a thread of its own, never on the cooperative pool. Ctrl-C
/// reaches readline as a byte on a pipe it waits on next to the terminal (see
/// `notes_rl_getc`), so no signal handler ever calls into readline.
final class LineEditor: Sendable {
    let historyPath: String
    private let interruptWriteFD: Int32
    static let historyLimit: Int32 = 1000

    init(historyPath: String, commands: [String]) throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw UsageError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        interruptWriteFD = fds[1]
        self.historyPath = historyPath
        notes_rl_setup(fds[0])
        notes_rl_set_words(0, commands.joined(separator: "\n"))
        Self.prepareHistory(historyPath)
    }

    /// Makes the history file exist with mode 0600 in a 0700 folder, then loads it.
    private static func prepareHistory(_ path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        try? NotesPaths.ensurePrivateDirectory(directory)
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = fchmod(fd, 0o600)
            close(fd)
        }
        _ = read_history(path)
    }

    /// One line, or nil at end of input (Ctrl-D on an empty line).
    func readLine(prompt: String) async -> String? {
        let result: String?? = try? await Blocking.run {
            notes_rl_drain_interrupts()
            guard let line = readline(prompt) else { return nil }
            defer { free(line) }
            return String(cString: line)
        }
        return result ?? nil
    }

    /// Clears the line being edited; safe to call from any thread (it writes one byte).
    func interrupt() {
        var byte: UInt8 = 3
        _ = write(interruptWriteFD, &byte, 1)
    }

    /// Adds a line to the history and appends it to the history file.
    func remember(_ line: String) {
        add_history(line)
        _ = append_history(1, historyPath)
        _ = history_truncate_file(historyPath, Self.historyLimit)
    }

    /// The note ids Tab completes after the command name (every one the shell has seen).
    func setNoteIDs(_ ids: [String]) {
        notes_rl_set_words(1, ids.joined(separator: "\n"))
    }
}
