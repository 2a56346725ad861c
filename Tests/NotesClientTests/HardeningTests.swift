import Foundation
import Hummingbird
import Logging
import NIOCore
import NotesClient
import NotesModels
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A Hummingbird app on 127.0.0.1 and a free port with the routes a test gives it.
private func withFakeServer(
    _ build: (Router<BasicRequestContext>) -> Void,
    _ body: (String) async throws -> Void
) async throws {
    let router = Router()
    build(router)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var logger = Logger(label: "fake-server")
    logger.logLevel = .critical
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger
    )
    let task = Task { try await app.runService() }
    do {
        let port = try await withDeadline(seconds: 20, "the fake server to listen") {
            for await port in ports { return port }
            throw TestFailure("the fake server never said it was listening")
        }
        try await body("http://127.0.0.1:\(port)")
    } catch {
        task.cancel()
        _ = await task.result
        throw error
    }
    task.cancel()
    _ = await task.result
}

@Suite("Client hardening (issue 9)")
struct ClientHardeningTests {
    @Test("row 6: a server that sends its headers, then a body byte every second, meets one deadline for the whole answer")
    func tricklingBody() async throws {
        try await withFakeServer { router in
            router.get("/health") { _, _ in
                Response(
                    status: .ok,
                    headers: [.contentType: "application/json"],
                    body: ResponseBody { writer in
                        for byte in Array(#"{"status":"ok"}"#.utf8) + Array(repeating: UInt8(ascii: " "), count: 600) {
                            try await writer.write(ByteBuffer(bytes: [byte]))
                            try await Task.sleep(for: .seconds(1))
                        }
                        try await writer.finish(nil)
                    }
                )
            }
        } _: { url in
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-trickle-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: root) }
            try await withAPI(server: url, store: SessionStore(directory: root.path), timeout: .seconds(2)) { api in
                let started = ContinuousClock.now
                let error = await #expect(throws: NotesClientError.self) {
                    _ = try await withDeadline(seconds: 20, "the client to give up") { try await api.health() }
                }
                #expect(error?.code == .unreachable)
                #expect(error?.message.contains("no complete answer within 2s") == true, "\(String(describing: error))")
                #expect(ContinuousClock.now - started < .seconds(10))
            }
        }
    }

    @Test("row 13: a session.json that others may read is made 0600 when loaded, with a warning; a private one is left alone")
    func looseCacheTightened() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-mode-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let warnings = EventBox()
        let store = SessionStore(directory: root.path) { warnings.add($0) }
        let session = NotesClient.Session(
            server: "http://127.0.0.1:1",
            username: "alice",
            accessToken: "a",
            refreshToken: "r",
            accessTokenExpiresAt: Date(timeIntervalSince1970: 1_700_000_000),
            refreshTokenExpiresAt: Date(timeIntervalSince1970: 1_800_000_000)
        )
        try await store.save(session)
        #expect(warnings.all.isEmpty)
        #expect(chmod(store.path, 0o644) == 0)
        #expect(try await store.load() == session)
        #expect(try mode(of: store.path) == 0o600)
        #expect(warnings.all.count == 1)
        #expect(warnings.all.first?.contains("644") == true)
        _ = try await store.load()
        #expect(warnings.all.count == 1)
    }

    @Test("row 8: loopback hosts are recognised; everything else is not")
    func loopback() {
        for host in ["127.0.0.1", "127.9.8.7", "localhost", "LOCALHOST", "api.localhost", "::1", "[::1]", "localhost."] {
            #expect(ServerURL.isLoopback(host: host), "\(host)")
        }
        for host in ["10.200.0.1", "128.0.0.1", "example.com", "localhost.example.com", "::2", "0.0.0.0", "127.0.0.1.nip.io"] {
            #expect(!ServerURL.isLoopback(host: host), "\(host)")
        }
    }

    @Test("row 8: a token or password to a plain-http host that is not loopback is refused before any connection")
    func refusedBeforeSending() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-plain-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        // 192.0.2.1 is TEST-NET-1: nothing answers there, and nothing is ever sent.
        try await withAPI(server: "http://192.0.2.1:8080", store: SessionStore(directory: root.path)) { api in
            let error = await #expect(throws: NotesClientError.self) { try await api.login(username: "alice", password: "correct-horse-1") }
            #expect(error?.code == .insecureTransport)
        }
    }

    @Test("row 13: userinfo in a server URL is masked in what is printed")
    func redaction() {
        #expect(ServerURL.redacted("http://bob:pw@127.0.0.1:8080/x") == "http://***@127.0.0.1:8080/x")
        #expect(ServerURL.redacted("https://bob@host") == "https://***@host")
        #expect(ServerURL.redacted("http://127.0.0.1:8080/a@b") == "http://127.0.0.1:8080/a@b")
        #expect(ServerURL.redacted("bob:pw@host") == "***@host")
    }
}

/// Collects strings from any thread.
final class EventBox: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
}
