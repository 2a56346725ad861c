import Foundation
import Hummingbird
import Logging
import NotesClient
import NotesServer
import Synchronization
import TestSupport

/// Every request the server answered, as "METHOD /path STATUS".
final class RequestLog: Sendable {
    private let entries = Mutex<[String]>([])
    func record(_ method: String, _ path: String, _ status: Int) {
        entries.withLock { $0.append("\(method) \(path) \(status)") }
    }
    func count(_ method: String, _ path: String) -> Int {
        entries.withLock { $0.filter { $0.hasPrefix("\(method) \(path) ") }.count }
    }
}

/// Records API events.
final class EventLog: Sendable {
    private let events = Mutex<[NotesAPIEvent]>([])
    func record(_ event: NotesAPIEvent) { events.withLock { $0.append(event) } }
    var all: [NotesAPIEvent] { events.withLock { $0 } }
}

/// The real server app on 127.0.0.1 and a free port, with a private data folder and a
/// private session cache folder.
final class TestServer: Sendable {
    let url: String
    let port: Int
    let requests: RequestLog
    let clock: TestClock
    let root: URL
    let store: SessionStore
    private let task: Task<Void, any Error>

    private init(url: String, port: Int, requests: RequestLog, clock: TestClock, root: URL, task: Task<Void, any Error>) {
        self.url = url
        self.port = port
        self.requests = requests
        self.clock = clock
        self.root = root
        self.store = SessionStore(directory: root.appendingPathComponent("config/notes").path)
        self.task = task
    }

    static func start(accessTokenTTL: Int = 900) async throws -> TestServer {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-client-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var configuration = ServerConfiguration()
        configuration.hostname = "127.0.0.1"
        configuration.port = 0
        configuration.dataDirectory = root.appendingPathComponent("data").path
        configuration.jwtAlgorithm = .es256
        configuration.bcryptCost = 4
        configuration.accessTokenTTL = accessTokenTTL
        configuration.logLevel = .critical
        let requests = RequestLog()
        let clock = TestClock.running()
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let hooks = ServerHooks(
            onListening: { _, port in continuation.yield(port) },
            onRequest: { method, path, status in requests.record(method, path, status) },
            now: { clock.now() }
        )
        let app = try await buildApplication(configuration: configuration, hooks: hooks)
        let task = Task { try await app.runService() }
        let port = try await withDeadline(seconds: 90, "the server to listen") {
            for await port in ports { return port }
            throw TestFailure("the server never said it was listening")
        }
        return TestServer(url: "http://127.0.0.1:\(port)", port: port, requests: requests, clock: clock, root: root, task: task)
    }

    /// Stops the server and waits until it has.
    func stop() async {
        task.cancel()
        _ = await task.result
    }

    /// Stops the server and removes its folders.
    func shutdown() async {
        await stop()
        try? FileManager.default.removeItem(at: root)
    }

    func makeAPI(events: EventLog? = nil) throws -> NotesAPI {
        try NotesAPI(server: url, store: store) { event in events?.record(event) }
    }

    /// A registered user, logged in through `api`.
    @discardableResult
    func registerAndLogin(_ api: NotesAPI, username: String = "alice", password: String = "correct-horse-1") async throws -> Session {
        _ = try await api.register(username: username, password: password)
        return try await api.login(username: username, password: password)
    }
}

/// Runs `server`'s test body and always stops the server and the API afterwards.
func withServer(
    accessTokenTTL: Int = 900,
    events: EventLog? = nil,
    _ body: (TestServer, NotesAPI) async throws -> Void
) async throws {
    let start = { try await TestServer.start(accessTokenTTL: accessTokenTTL) }
    try await using(
        start,
        release: { await $0.shutdown() },
        { server in try await server.withAPI(events: events) { api in try await body(server, api) } }
    )
}

extension TestServer {
    /// A further client of this server (as another process would be), shut down afterwards
    /// however `body` ends.
    func withAPI<T>(events: EventLog? = nil, _ body: (NotesAPI) async throws -> T) async throws -> T {
        try await using({ try makeAPI(events: events) }, release: { try await $0.shutdown() }, body)
    }
}

/// A client of `server` for `body`, shut down afterwards however `body` ends.
func withAPI<T>(
    server: String,
    store: SessionStore,
    timeout: Duration = .seconds(30),
    _ body: (NotesAPI) async throws -> T
) async throws -> T {
    try await using({ try NotesAPI(server: server, store: store, timeout: timeout) }, release: { try await $0.shutdown() }, body)
}

/// The permission bits of a file.
func mode(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
