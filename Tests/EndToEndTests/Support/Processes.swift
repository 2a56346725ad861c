import Foundation
import NotesModels
import Synchronization
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The demo seeds, read rather than hard-coded.
struct DemoSeeds: Decodable {
    struct SeedUser: Decodable {
        let username: String
        let password: String
        let admin: Bool
    }
    let users: [SeedUser]

    static var path: String { repositoryRoot() + "/Seeds/demo.json" }

    static func load() throws -> DemoSeeds {
        try JSONDecoder().decode(DemoSeeds.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    func user(_ name: String) throws -> SeedUser {
        guard let user = users.first(where: { $0.username == name }) else { throw TestFailure("no seed user \(name)") }
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

/// A `notes-server` child process (a ``ServerProcess``) on 127.0.0.1 and a free port, with
/// its own data folder, and a private home for the `notes` processes the test runs against it.
final class LiveServer: Sendable {
    let process: ServerProcess
    let url: String
    let port: Int
    /// The test's folder: the server's data, the client's config and state, the runs' output.
    var root: URL { process.root }

    var configDirectory: String { root.appendingPathComponent("config/notes").path }
    var sessionPath: String { configDirectory + "/session.json" }
    var stateHome: String { root.appendingPathComponent("state").path }
    var historyPath: String { stateHome + "/notes/history" }
    /// What the server wrote to stderr so far.
    var log: String { process.stderr }

    private init(process: ServerProcess, url: String, port: Int) {
        self.process = process
        self.url = url
        self.port = port
    }

    static func start(accessTokenTTL: String = "15m", seed: Bool = false) async throws -> LiveServer {
        let root = URL(fileURLWithPath: try temporaryDirectory("notes-e2e"))
        var arguments = [
            "--hostname", "127.0.0.1", "--port", "0", "--data-dir", root.appendingPathComponent("data").path,
            "--bcrypt-cost", "4", "--access-token-ttl", accessTokenTTL,
        ]
        if seed { arguments += ["--seed", DemoSeeds.path] }
        let process = try ServerProcess(arguments, root: root)
        do {
            let url = try await process.baseURL()
            guard let port = URLComponents(string: url)?.port else { throw TestFailure("no port in \(url)") }
            return LiveServer(process: process, url: url, port: port)
        } catch {
            await process.shutdown()
            throw error
        }
    }

    /// Stops the server (SIGTERM) and waits for it to exit.
    func stop() async throws {
        try await process.stop()
    }

    /// Stops the server and removes the test's folder.
    func shutdown() async {
        await process.shutdown()
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
            throw TestFailure("no access token in the session cache")
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
            guard let url = URL(string: server + "/me") else { throw TestFailure("bad URL") }
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
        throw TestFailure("no exit status")
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return Run(status: status, stdout: out, stderr: err, crashed: reason == .uncaughtSignal)
}
