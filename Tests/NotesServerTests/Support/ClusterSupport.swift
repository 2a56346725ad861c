import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotesModels
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `scripts/cluster.sh` (or `make cluster`) as a child process in a process group of its own: a
/// PostgreSQL database, replicas of the built `notes-server` and nginx in front. Stopped with
/// SIGTERM to the script, or SIGINT to its process group as Ctrl-C would; the script stops
/// what it started.
final class ClusterProcess: Sendable {
    struct Replica: Sendable {
        let number: Int
        let url: String
        let pid: Int32
        let metrics: String
        var port: Int { Int(url.split(separator: ":").last ?? "") ?? 0 }
    }

    let process: Process
    /// The PostgreSQL database the replicas share (for `notes-server keys`).
    let databaseURL: String?
    private let out = OutputBuffer()
    private let err = OutputBuffer()

    var stdout: String { out.text }
    var stderr: String { err.text }

    /// Starts `command` (run from the repository root) with the built server and cheap bcrypt;
    /// `environment` adds to or overrides that.
    init(_ command: [String] = ["scripts/cluster.sh"], environment: [String: String] = [:]) throws {
        process = Process()
        databaseURL = environment["NOTES_CLUSTER_DATABASE_URL"]
        // In a process group of its own, under the same PID (setsid(1) would fork when the
        // child already leads a group), so SIGINT to the group is Ctrl-C in a terminal.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments =
            [
                "-c",
                "import os, sys\nif os.getpgrp() != os.getpid(): os.setpgid(0, 0)\nos.execvp(sys.argv[1], sys.argv[1:])",
            ] + command
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot())
        let base: [String: String] = [
            "NOTES_CLUSTER_BIN": Binaries.server.deletingLastPathComponent().path,
            "NOTES_CLUSTER_PORT": "0",
            "NOTES_CLUSTER_BCRYPT_COST": "4",
            "NOTES_CLUSTER_SEED": "none",
            // Never the repository's .cluster: clusters of tests run side by side.
            "NOTES_CLUSTER_STATE": (try? temporaryDirectory()) ?? "/nonexistent",
        ]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTES_") }.merging(base) { $1 }
            .merging(environment) { $1 }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        stdout.fileHandleForReading.readabilityHandler = { [out] handle in out.append(handle.availableData) }
        stderr.fileHandleForReading.readabilityHandler = { [err] handle in err.append(handle.availableData) }
        try runTracked(process)
    }

    /// A cluster on a fresh database of the test cluster.
    static func start(replicas: Int = 3, environment: [String: String] = [:]) async throws -> ClusterProcess {
        let database = try await PostgresTestCluster.shared.freshDatabase()
        return try ClusterProcess(
            environment: ["NOTES_CLUSTER_DATABASE_URL": database, "NOTES_CLUSTER_REPLICAS": String(replicas)].merging(environment) { $1 }
        )
    }

    /// The balancer's URL (the last stdout line) and the replicas, once everything answers.
    /// `notes-server ARGUMENTS` run to its end (in a folder of its own, so no `notes-data`
    /// of the repository is read): its exit status and what it printed.
    static func tool(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess(Binaries.server.path, arguments, directory: try temporaryDirectory(), timeout: 120)
    }

    func ready(seconds: Double = 180) async throws -> (url: String, replicas: [Replica]) {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !stdout.contains("listening on http://") {
            guard process.isRunning else { throw TestFailure("cluster.sh exited \(process.terminationStatus)\n\(stdout)\n\(stderr)") }
            guard ContinuousClock.now < deadline else { throw TestFailure("the cluster did not start in \(seconds)s\n\(stdout)\n\(stderr)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let lines = stdout.split(separator: "\n").map(String.init)
        guard let last = lines.first(where: { $0.hasPrefix("listening on http://") }) else { throw TestFailure(stdout) }
        // replica N: http://HOST:PORT pid PID metrics http://HOST:PORT
        let replicas = lines.filter { $0.hasPrefix("replica ") }.compactMap { line -> Replica? in
            let words = line.split(separator: " ").map(String.init)
            guard words.count == 7, let number = Int(words[1].dropLast()), let pid = Int32(words[4]) else { return nil }
            return Replica(number: number, url: words[2], pid: pid, metrics: words[6])
        }
        return (String(last.dropFirst("listening on ".count)), replicas)
    }

    /// SIGTERM to the script (or SIGINT to its whole process group, as Ctrl-C does); its exit status.
    func stop(signal: Int32 = SIGTERM, group: Bool = false, seconds: Double = 60) async throws -> Int32 {
        if process.isRunning { kill(group ? -process.processIdentifier : process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw TestFailure("cluster.sh did not stop in \(seconds)s\n\(stderr)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }
}

/// Whether a process is alive (a zombie is not).
func processAlive(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
    return !stat.contains(") Z ")
}

/// A small JSON-over-HTTP client for the cluster tests (AsyncHTTPClient, keep-alive pool).
struct ClusterHTTP: Sendable {
    let client: HTTPClient

    struct Answer: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: Data

        func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T { try NotesJSON.decoder().decode(T.self, from: body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static func with<T: Sendable>(_ body: (ClusterHTTP) async throws -> T) async throws -> T {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
        return try await withHTTPClient(configuration: configuration) { client in try await body(ClusterHTTP(client: client)) }
    }

    func send(_ method: HTTPMethod, _ url: String, token: String? = nil, json: (some Encodable)? = Optional<String>.none) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try NotesJSON.encoder().encode(json)))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 4 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }

    func get(_ url: String, token: String? = nil) async throws -> Answer { try await send(.GET, url, token: token) }
    func post(_ url: String, token: String? = nil, json: some Encodable) async throws -> Answer {
        try await send(.POST, url, token: token, json: json)
    }

    /// Registers and logs in `username` at `base`; the pair.
    func signUp(_ username: String, at base: String) async throws -> TokenPair {
        let credentials = Credentials(username: username, password: "correct-horse")
        let registered = try await post(base + "/auth/register", json: credentials)
        guard registered.status == 201 else { throw TestFailure("register: \(registered.status) \(registered.text)") }
        let login = try await post(base + "/auth/login", json: credentials)
        guard login.status == 200 else { throw TestFailure("login: \(login.status) \(login.text)") }
        return try login.decode()
    }
}

/// What a load generator saw: every status (0 for a transport error) and the notes it was told were created.
final class LoadRecord: Sendable {
    private let state = Mutex<(statuses: [Int], created: [UUID], errors: [String])>(([], [], []))
    private let stopped = Mutex(false)

    func record(_ status: Int, created: UUID? = nil, error: String? = nil) {
        state.withLock {
            $0.statuses.append(status)
            if let created { $0.created.append(created) }
            if let error { $0.errors.append(error) }
        }
    }

    var statuses: [Int] { state.withLock { $0.statuses } }
    var created: [UUID] { state.withLock { $0.created } }
    var errors: [String] { state.withLock { $0.errors } }
    var successes: Int { state.withLock { $0.statuses.filter { (200..<300).contains($0) }.count } }
    var isStopped: Bool { stopped.withLock { $0 } }
    func stop() { stopped.withLock { $0 = true } }

    /// Polls until `condition` holds, or fails after `seconds`.
    func wait(_ what: String, seconds: Double = 60, _ condition: (LoadRecord) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition(self) {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what); statuses: \(statuses.count)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
