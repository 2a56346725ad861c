import Foundation
import NotesModels
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

struct E2EFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking work on a thread of its own (never on the cooperative pool, which the
/// in-process servers of other suites need).
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `body`, or a failure after `seconds`.
func withDeadline<T: Sendable>(seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw E2EFailure("timed out after \(seconds)s waiting for \(what)")
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw E2EFailure("no result for \(what)") }
        return first
    }
}

/// The built executables, next to the running test bundle (e.g. `.build/debug/`).
enum Binaries {
    static var directory: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    }
    static var notes: URL { directory.appendingPathComponent("notes") }
    static var server: URL { directory.appendingPathComponent("notes-server") }

    /// The package's root folder (for Seeds/).
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }
}

/// The demo seeds, read rather than hard-coded.
struct DemoSeeds: Decodable {
    struct SeedUser: Decodable {
        let username: String
        let password: String
        let admin: Bool
    }
    let users: [SeedUser]

    static var path: String { Binaries.packageRoot.appendingPathComponent("Seeds/demo.json").path }

    static func load() throws -> DemoSeeds {
        try JSONDecoder().decode(DemoSeeds.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func user(_ name: String) throws -> SeedUser {
        guard let user = users.first(where: { $0.username == name }) else { throw E2EFailure("no seed user \(name)") }
        return user
    }
}

/// A finished `notes` run.
struct Run: Sendable, CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    /// Killed by a signal (a trap, a crash) rather than exiting.
    var crashed = false
    var description: String { "\(crashed ? "signal" : "exit") \(status)\n--- stdout\n\(stdout)\n--- stderr\n\(stderr)" }
}

/// A `notes-server` child process on 127.0.0.1 and a free port, with its own data folder,
/// and a private home for the `notes` processes the test runs against it.
final class ServerProcess: Sendable {
    let url: String
    let port: Int
    let root: URL
    let logPath: String
    private let process: Process

    var configDirectory: String { root.appendingPathComponent("config/notes").path }
    var sessionPath: String { configDirectory + "/session.json" }
    var stateHome: String { root.appendingPathComponent("state").path }
    var historyPath: String { stateHome + "/notes/history" }

    private init(url: String, port: Int, root: URL, logPath: String, process: Process) {
        self.url = url
        self.port = port
        self.root = root
        self.logPath = logPath
        self.process = process
    }

    static func start(accessTokenTTL: String = "15m", seed: Bool = false) async throws -> ServerProcess {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let logPath = root.appendingPathComponent("server.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = Binaries.server
        var arguments = [
            "--hostname", "127.0.0.1", "--port", "0", "--data-dir", root.appendingPathComponent("data").path,
            "--bcrypt-cost", "4", "--access-token-ttl", accessTokenTTL,
        ]
        if seed { arguments += ["--seed", DemoSeeds.path] }
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("NOTES_") { environment.removeValue(forKey: key) }
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let reader = stdout.fileHandleForReading
        let firstLine: String
        do {
            firstLine = try await withDeadline(seconds: 60, "notes-server to print its address") {
                try await onThread {
                    var bytes: [UInt8] = []
                    while true {
                        let chunk = reader.readData(ofLength: 1)
                        guard let byte = chunk.first else { throw E2EFailure("notes-server exited before listening") }
                        if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
                        bytes.append(byte)
                    }
                }
            }
        } catch {
            process.terminate()
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw E2EFailure("\(error); server log:\n\(log)")
        }
        // Keep draining stdout so the server can never block on a full pipe.
        Thread { _ = reader.readDataToEndOfFile() }.start()
        let prefix = "listening on "
        let address = String(firstLine.dropFirst(prefix.count))
        guard firstLine.hasPrefix(prefix), let port = URLComponents(string: address)?.port else {
            process.terminate()
            throw E2EFailure("unexpected first line: \(firstLine)")
        }
        return ServerProcess(url: address, port: port, root: root, logPath: logPath, process: process)
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    func stop() async throws {
        guard process.isRunning else { return }
        process.terminate()
        let process = self.process
        try await withDeadline(seconds: 20, "notes-server to stop") {
            try await onThread { process.waitUntilExit() }
        }
    }

    func shutdown() async {
        try? await stop()
        try? FileManager.default.removeItem(at: root)
    }

    /// The environment a `notes` process gets: this test's config and state folders, no
    /// colour, and the server's URL.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        clientEnvironment(root: root, server: url, extra)
    }

    /// Runs `notes ARGS` with `stdin` piped in (or /dev/null) and waits for it.
    func notes(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:]) async throws -> Run {
        try await runNotes(arguments, root: root, environment: environment(extra), stdin: stdin)
    }

    /// Logs `username` in through `notes login --password-stdin`.
    @discardableResult
    func login(_ username: String, _ password: String) async throws -> Run {
        try await notes(["login", "--username", username, "--password-stdin"], stdin: password + "\n")
    }

    /// Registers (and so logs in) `username` through `notes register --password-stdin`.
    @discardableResult
    func register(_ username: String, _ password: String) async throws -> Run {
        try await notes(["register", "--username", username, "--password-stdin"], stdin: password + "\n")
    }

    /// Polls the server with the cached access token until it answers `TokenExpiredError`.
    func waitForAccessTokenExpiry(deadline seconds: Double = 30) async throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: sessionPath))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any], let token = object["accessToken"] as? String else {
            throw E2EFailure("no access token in the session cache")
        }
        let url = self.url
        try await withDeadline(seconds: seconds, "the access token to expire") {
            while true {
                if try await Self.isExpired(token: token, server: url) { return }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private static func isExpired(token: String, server: String) async throws -> Bool {
        try await onThread {
            guard let url = URL(string: server + "/me") else { throw E2EFailure("bad URL") }
            var request = URLRequest(url: url)
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            let result = Mutex<Data?>(nil)
            let done = DispatchSemaphore(value: 0)
            URLSession.shared.dataTask(with: request) { data, _, _ in
                result.withLock { $0 = data }
                done.signal()
            }.resume()
            done.wait()
            guard let body = result.withLock({ $0 }), let error = try? NotesJSON.decoder().decode(ErrorBody.self, from: body) else {
                return false
            }
            return error.error.knownName == .tokenExpired
        }
    }
}

/// The environment a `notes` process gets: config and state folders under `root`, no colour,
/// and `server` as `NOTES_SERVER`.
func clientEnvironment(root: URL, server: String, _ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment
    for key in environment.keys where key.hasPrefix("NOTES_") || key.hasPrefix("XDG_") || key == "NO_COLOR" {
        environment.removeValue(forKey: key)
    }
    environment["HOME"] = root.path
    environment["NOTES_CONFIG_DIR"] = root.appendingPathComponent("config/notes").path
    environment["XDG_STATE_HOME"] = root.appendingPathComponent("state").path
    environment["NOTES_SERVER"] = server
    environment["NO_COLOR"] = "1"
    for (key, value) in extra { environment[key] = value }
    return environment
}

/// Runs `executable ARGS` (the built `notes` by default) with `stdin` piped in (or
/// /dev/null), its output captured in files under `root`, and waits for it.
func runNotes(
    _ arguments: [String],
    root: URL,
    environment: [String: String],
    stdin: String? = nil,
    executable: URL = Binaries.notes
) async throws -> Run {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    let outPath = root.appendingPathComponent("out-\(UUID().uuidString)").path
    let errPath = root.appendingPathComponent("err-\(UUID().uuidString)").path
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    process.standardOutput = FileHandle(forWritingAtPath: outPath)
    process.standardError = FileHandle(forWritingAtPath: errPath)
    let input = Pipe()
    process.standardInput = stdin == nil ? FileHandle.nullDevice : input
    let (exited, continuation) = AsyncStream<(Int32, Process.TerminationReason)>.makeStream()
    process.terminationHandler = { finished in
        continuation.yield((finished.terminationStatus, finished.terminationReason))
        continuation.finish()
    }
    try process.run()
    if let stdin {
        try input.fileHandleForWriting.write(contentsOf: Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    let (status, reason) = try await withDeadline(seconds: 60, "notes \(arguments.joined(separator: " "))") {
        for await result in exited { return result }
        throw E2EFailure("no exit status")
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return Run(status: status, stdout: out, stderr: err, crashed: reason == .uncaughtSignal)
}
