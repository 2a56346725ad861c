public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A finished child process: its status, and its standard output and error together.
public typealias ProcessResult = (status: Int32, output: String)

/// Runs `executable ARGS` (Foundation makes it lead a process group) and waits for it (at most `timeout`
/// seconds, then the group is killed and the run fails). Output and error go to one pipe, or
/// error to the test's own when `mergeErrors` is false; stdin is /dev/null. `NOTES_*`
/// variables of the test's own environment are not passed on.
///
/// Whatever the child left running in its group (a server a script started in the background
/// and did not stop, because a step failed) is killed when it ends, so that nothing holds the
/// output pipe open and no test waits for ever. Nothing here blocks a thread of the
/// cooperative pool: the exit is polled.
public func runProcess(
    _ executable: String,
    _ arguments: [String],
    environment extra: [String: String] = [:],
    directory: String? = nil,
    timeout: Double = 240,
    mergeErrors: Bool = true
) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") }.merging(extra) { $1 }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let pipe = Pipe()
    let output = OutputBuffer()
    let ended = Mutex(false)
    process.standardOutput = pipe
    process.standardError = mergeErrors ? pipe : FileHandle.standardError
    process.standardInput = FileHandle.nullDevice
    pipe.fileHandleForReading.readabilityHandler = { handle in
        let chunk = handle.availableData
        if chunk.isEmpty { ended.withLock { $0 = true } } else { output.append(chunk) }
    }
    try process.run()
    let pid = process.processIdentifier
    // Foundation starts a child as the leader of a process group of its own; only then is
    // the group the child's alone to kill.
    let group = getpgid(pid) == pid ? -pid : pid
    defer {
        kill(group, SIGKILL)
        pipe.fileHandleForReading.readabilityHandler = nil
    }
    let what = "\(executable) \(arguments.joined(separator: " "))"
    let deadline = ContinuousClock.now + .seconds(timeout)
    while process.isRunning && !isZombie(pid) {
        guard ContinuousClock.now < deadline else {
            kill(group, SIGKILL)
            throw TestFailure("timed out after \(timeout)s waiting for \(what)\n\(output.text)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    // Leftovers of the group would keep the pipe open: gone now, so its end comes soon.
    if group < 0 { kill(group, SIGKILL) }
    let drained = ContinuousClock.now + .seconds(10)
    while !ended.withLock({ $0 }) && ContinuousClock.now < drained { try await Task.sleep(for: .milliseconds(10)) }
    // Exited, perhaps not reaped by Foundation yet (asking for the status before traps).
    try await poll("the exit of \(what) to be seen", seconds: 10) { !process.isRunning }
    return (process.terminationStatus, output.text)
}

/// Whether `pid` has exited and waits to be reaped.
func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// `bash -c SCRIPT` in the repository's root folder (unless told otherwise).
public func bash(
    _ script: String,
    environment: [String: String] = [:],
    directory: String = repositoryRoot(),
    timeout: Double = 240
) async throws -> ProcessResult {
    try await runProcess("/bin/bash", ["-c", script], environment: environment, directory: directory, timeout: timeout)
}

/// One request with curl (installed by the test command); returns what it printed on stdout.
public func curl(_ arguments: [String]) async throws -> String {
    try await runProcess("/usr/bin/env", ["curl", "-s", "--max-time", "30"] + arguments, timeout: 60, mergeErrors: false).output
}

/// Child processes that outlive their test would outlive the test process too (a server a
/// failing test never stopped): every one still running when the tests end is killed then.
private let runningChildren = Mutex<Set<Int32>>([])
private let killChildrenAtExit: Void = {
    atexit {
        for pid in runningChildren.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}()

/// Starts `process` and keeps its PID until it ends, for the kill at exit.
public func runTracked(_ process: Process) throws {
    _ = killChildrenAtExit
    let previous = process.terminationHandler
    process.terminationHandler = { ended in
        _ = runningChildren.withLock { $0.remove(ended.processIdentifier) }
        previous?(ended)
    }
    try process.run()
    let pid = process.processIdentifier
    _ = runningChildren.withLock { $0.insert(pid) }
}

/// Bytes a pipe delivered so far.
public final class OutputBuffer: Sendable {
    private let data = Mutex(Data())
    public init() {}
    public func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }
    public var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}

/// A `notes-server` child process (or another executable) whose output is collected as it
/// comes, with a folder of its own under ``root`` that ``shutdown()`` removes.
public final class ServerProcess: Sendable {
    public let process: Process
    /// The test's folder for this server: its data, and whatever else the test keeps beside it.
    public let root: URL
    private let out = OutputBuffer()
    private let err = OutputBuffer()

    /// Starts `executable ARGS` at once; `environment` is added to the test's own, without its
    /// `NOTES_*` variables. `root` is a fresh temporary folder unless the caller made one.
    public init(_ arguments: [String], environment: [String: String] = [:], executable: URL = Binaries.server, root: URL? = nil) throws {
        self.root = try root ?? URL(fileURLWithPath: temporaryDirectory("notes-server"))
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") }.merging(environment) { $1 }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        stdout.fileHandleForReading.readabilityHandler = { [out] handle in out.append(handle.availableData) }
        stderr.fileHandleForReading.readabilityHandler = { [err] handle in err.append(handle.availableData) }
        try runTracked(process)
    }

    public var stdout: String { out.text }
    public var stderr: String { err.text }

    /// Polls until `condition` holds, or fails after `seconds` with the output so far.
    public func waitUntil(_ what: String, seconds: Double = 30, _ condition: () -> Bool) async throws {
        let output = { "stdout: \(self.stdout)\nstderr: \(self.stderr)" }
        try await poll(what, seconds: seconds, detail: output) { condition() }
    }

    /// The base URL from the first stdout line (`listening on http://127.0.0.1:PORT`).
    public func baseURL(seconds: Double = 60) async throws -> String {
        try await waitUntil("the listening line", seconds: seconds) { stdout.contains("\n") || !process.isRunning }
        let first = String(stdout.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        guard first.hasPrefix("listening on http") else { throw TestFailure("first stdout line: \(first)\nstderr: \(stderr)") }
        return String(first.dropFirst("listening on ".count))
    }

    public func exitStatus(seconds: Double = 30) async throws -> Int32 {
        try await waitUntil("exit", seconds: seconds) { !process.isRunning }
        return process.terminationStatus
    }

    /// SIGTERM, then waits for the exit.
    public func stop(seconds: Double = 20) async throws {
        guard process.isRunning else { return }
        process.terminate()
        _ = try await exitStatus(seconds: seconds)
    }

    /// Stops the process (SIGKILL if SIGTERM is not enough) and removes ``root``.
    public func shutdown() async {
        if (try? await stop()) == nil, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            try? await waitUntil("exit after SIGKILL", seconds: 10) { !process.isRunning }
        }
        try? FileManager.default.removeItem(at: root)
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
