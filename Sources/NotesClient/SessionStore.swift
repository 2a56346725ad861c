public import Foundation
import NIOPosix
import NotesModels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the client keeps its files, from API.md.
public enum NotesPaths {
    /// `$NOTES_CONFIG_DIR`, else `$XDG_CONFIG_HOME/notes`, else `~/.config/notes`.
    public static func configDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["NOTES_CONFIG_DIR"], !dir.isEmpty { return dir }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/notes" }
        return home(environment) + "/.config/notes"
    }

    /// `$XDG_STATE_HOME/notes/history`, else `~/.local/state/notes/history`.
    public static func historyFile(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_STATE_HOME"], !xdg.isEmpty { return xdg + "/notes/history" }
        return home(environment) + "/.local/state/notes/history"
    }

    static func home(_ environment: [String: String]) -> String {
        if let home = environment["HOME"], !home.isEmpty { return home }
        return FileManager.default.homeDirectoryForCurrentUser.path
    }

    /// Creates `path` (and its parents) 0700 when it does not exist. A folder that already
    /// exists keeps its mode (it may be one the user chose, like `$HOME`); the files in it are
    /// 0600 either way.
    public static func ensurePrivateDirectory(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw SessionStoreError("\(path) exists and is not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw SessionStoreError("cannot create \(path): \(error.localizedDescription)")
        }
        // createDirectory's mode goes through the umask; say 0700 exactly.
        guard chmod(path, 0o700) == 0 else {
            throw SessionStoreError("cannot make \(path) private: \(String(cString: strerror(errno)))")
        }
    }
}

/// A failure reading or writing the session cache.
public struct SessionStoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The session cache, `session.json`: directory 0700, file 0600, replaced atomically
/// (temporary file + `rename`), and an exclusive `flock` for read-modify-write cycles that
/// several `notes` processes may run at once.
///
/// The lock is taken on a sibling file, `session.lock`, not on `session.json`: `rename`
/// swaps the inode behind the name, so a lock on the old inode would not exclude a process
/// that opens the new one. Blocking calls run off the cooperative pool: file reads and
/// writes on NIO's blocking thread pool, and the wait for the lock (which may be long) on a
/// thread of its own so it can never starve that pool.
public struct SessionStore: Sendable {
    /// The folder holding `session.json`.
    public let directory: String
    /// How long a process waits for another one's lock before giving up.
    public let lockTimeout: TimeInterval

    /// Told when the cache was found readable or writable by others (and was made 0600).
    public let warn: @Sendable (String) -> Void

    public init(directory: String, lockTimeout: TimeInterval = 30, warn: @escaping @Sendable (String) -> Void = SessionStore.warnOnStandardError) {
        self.directory = directory
        self.lockTimeout = lockTimeout
        self.warn = warn
    }

    /// The default ``warn``: a `warning:` line on stderr.
    public static func warnOnStandardError(_ message: String) {
        try? FileHandle.standardError.write(contentsOf: Data("warning: \(message)\n".utf8))
    }

    /// The store at the default place (see ``NotesPaths/configDirectory(environment:)``).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(directory: NotesPaths.configDirectory(environment: environment))
    }

    /// The path of `session.json`.
    public var path: String { directory + "/session.json" }
    var lockPath: String { directory + "/session.lock" }

    /// The cached session, or nil when there is none (or it cannot be read as one).
    public func load() async throws -> Session? {
        let path = self.path
        let (data, looseMode): (Data?, mode_t?) = try await NIOThreadPool.singleton.runIfActive {
            try Self.readPrivately(path)
        }
        if let looseMode {
            warn("\(path) was readable or writable by others (mode \(String(looseMode, radix: 8))); it holds your tokens, so it is 0600 now")
        }
        guard let data else { return nil }
        return try? NotesJSON.decoder().decode(Session.self, from: data)
    }

    /// The file's bytes (nil when there is none); a file that group or others may read or
    /// write is made 0600 first, through the descriptor that is read, and its old mode returned.
    static func readPrivately(_ path: String) throws -> (Data?, mode_t?) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return (nil, nil) }
            throw SessionStoreError("cannot read \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SessionStoreError("cannot read \(path): \(String(cString: strerror(errno)))") }
        var looseMode: mode_t?
        let permissions = info.st_mode & 0o7777
        if permissions & 0o077 != 0 {
            guard fchmod(fd, 0o600) == 0 else {
                throw SessionStoreError(
                    "\(path) is readable by others (mode \(String(permissions, radix: 8))) and cannot be made 0600: \(String(cString: strerror(errno)))"
                )
            }
            looseMode = permissions
        }
        do {
            return (try handle.readToEnd() ?? Data(), looseMode)
        } catch {
            throw SessionStoreError("cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// Replaces the cached session atomically.
    public func save(_ session: Session) async throws {
        let data = try NotesJSON.encoder(pretty: true).encode(session)
        let directory = self.directory
        let path = self.path
        try await NIOThreadPool.singleton.runIfActive {
            try Self.writeAtomically(data, to: path, in: directory)
        }
    }

    /// Deletes the cached session; no error if there is none.
    public func delete() async throws {
        let path = self.path
        try await NIOThreadPool.singleton.runIfActive {
            if unlink(path) != 0 && errno != ENOENT {
                throw SessionStoreError("cannot delete \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Runs `body` while holding the exclusive lock on the cache, across processes.
    public func withExclusiveLock<T>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        let fd = try await acquireLock()
        // Closing the descriptor releases the lock, also if this process dies.
        defer { close(fd) }
        return try await body()
    }

    private func acquireLock() async throws -> Int32 {
        let directory = self.directory
        let lockPath = self.lockPath
        let timeout = self.lockTimeout
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try Self.lock(lockPath, in: directory, timeout: timeout) })
            }
            thread.name = "notes-session-lock"
            thread.start()
        }
    }

    private static func lock(_ lockPath: String, in directory: String, timeout lockTimeout: TimeInterval) throws -> Int32 {
        try NotesPaths.ensurePrivateDirectory(directory)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SessionStoreError("cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        // Polled with a deadline rather than waited for without end: a `notes` process that
        // was suspended (Ctrl-Z) while holding the lock must not hang every other one.
        let deadline = Date().addingTimeInterval(lockTimeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK, Date() < deadline else {
                close(fd)
                if code == EWOULDBLOCK {
                    throw SessionStoreError(
                        "another notes process has held \(lockPath) for over \(Int(lockTimeout))s; is one stopped (Ctrl-Z)?"
                    )
                }
                throw SessionStoreError("cannot lock \(lockPath): \(String(cString: strerror(code)))")
            }
            usleep(20_000)
        }
        return fd
    }

    static func writeAtomically(_ data: Data, to path: String, in directory: String) throws {
        try NotesPaths.ensurePrivateDirectory(directory)
        let temporary = "\(directory)/.session.json.\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SessionStoreError("cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        var failure: String?
        if fchmod(fd, 0o600) != 0 { failure = "chmod" }
        if failure == nil {
            data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < buffer.count, let base = buffer.baseAddress {
                    let written = write(fd, base + offset, buffer.count - offset)
                    if written < 0 {
                        if errno == EINTR { continue }
                        failure = "write"
                        return
                    }
                    offset += written
                }
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync" }
        let reason = String(cString: strerror(errno))
        close(fd)
        if let failure {
            unlink(temporary)
            throw SessionStoreError("cannot write \(path) (\(failure)): \(reason)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw SessionStoreError("cannot replace \(path): \(reason)")
        }
    }
}
