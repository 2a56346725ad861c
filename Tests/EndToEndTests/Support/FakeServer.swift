import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import NotesModels
import Synchronization
import TestSupport

/// A small server on 127.0.0.1 and a free port whose routes a test writes: a hostile server,
/// a stand-in for endpoints that are not on this branch yet, or an HTTPS server with a test
/// certificate. Every `notes` run against it gets a private home under `root`.
final class FakeServer: Sendable {
    let url: String
    let port: Int
    let root: URL
    /// Every request, as "METHOD /path".
    let requests: RequestLog
    private let task: Task<Void, any Error>

    private init(url: String, port: Int, root: URL, requests: RequestLog, task: Task<Void, any Error>) {
        self.url = url
        self.port = port
        self.root = root
        self.requests = requests
        self.task = task
    }

    var sessionPath: String { root.appendingPathComponent("config/notes/session.json").path }

    /// Starts a server with the routes `build` adds; `tls` makes it HTTPS.
    static func start(
        tls: TLSConfiguration? = nil,
        _ build: (Router<BasicRequestContext>) -> Void
    ) async throws -> FakeServer {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-fake-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let log = RequestLog()
        let router = Router()
        router.middlewares.add(RecordingMiddleware(log: log))
        build(router)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let configuration = ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0))
        let onRunning: @Sendable (any Channel) async -> Void = { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
        }
        var logger = Logger(label: "fake-server")
        logger.logLevel = .critical
        let task: Task<Void, any Error>
        if let tls {
            let app = Application(
                router: router,
                server: try .tls(.http1(), tlsConfiguration: tls),
                configuration: configuration,
                onServerRunning: onRunning,
                logger: logger
            )
            task = Task { try await app.runService() }
        } else {
            let app = Application(router: router, configuration: configuration, onServerRunning: onRunning, logger: logger)
            task = Task { try await app.runService() }
        }
        let port: Int
        do {
            port = try await withDeadline(seconds: 20, "the fake server to listen") {
                for await port in ports { return port }
                throw TestFailure("the fake server did not start")
            }
        } catch {
            task.cancel()
            try? FileManager.default.removeItem(at: root)
            throw error
        }
        let scheme = tls == nil ? "http" : "https"
        return FakeServer(url: "\(scheme)://127.0.0.1:\(port)", port: port, root: root, requests: log, task: task)
    }

    func shutdown() async {
        task.cancel()
        _ = await task.result
        try? FileManager.default.removeItem(at: root)
    }

    /// Runs the built `notes` against this server (`NOTES_SERVER`), in this server's private home.
    func notes(_ arguments: [String], stdin: String? = nil, environment extra: [String: String] = [:]) async throws -> Run {
        try await runNotes(arguments, root: root, environment: clientEnvironment(root: root, server: url, extra), stdin: stdin)
    }

    func count(_ request: String) -> Int { requests.entries.withLock { $0.filter { $0 == request }.count } }
}

/// Runs `body` with a fake server and always shuts it down.
func withFakeServer(
    tls: TLSConfiguration? = nil,
    _ build: (Router<BasicRequestContext>) -> Void,
    _ body: (FakeServer) async throws -> Void
) async throws {
    let server = try await FakeServer.start(tls: tls, build)
    do {
        try await body(server)
    } catch {
        await server.shutdown()
        throw error
    }
    await server.shutdown()
}

/// Every request a fake server was sent, as "METHOD /path".
final class RequestLog: Sendable {
    let entries = Mutex<[String]>([])
}

struct RecordingMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let log: RequestLog

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        log.entries.withLock { $0.append("\(request.method.rawValue) \(request.uri.path)") }
        return try await next(request, context)
    }
}

/// Answers for fake routes.
enum Fake {
    /// `value` as the contract's JSON, with `status`.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try NotesJSON.encoder().encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// A raw JSON text (for numbers no Swift type would encode, or hostile strings).
    static func raw(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// The contract's error body.
    static func error(_ status: HTTPResponse.Status, _ name: ErrorName, _ message: String) throws -> Response {
        try json(ErrorBody(error: .init(name: name, message: message)), status: status)
    }

    /// An unsigned JWT-shaped access token (the client only decodes it for `notes token`).
    static func accessToken(sid: UUID, name: String = "alice", expiresIn: Int = 900) -> String {
        let now = Int(Date().timeIntervalSince1970)
        let header = #"{"alg":"HS256","typ":"JWT","kid":"fake"}"#
        // The name through a JSON encoder, so that any text (escapes included) stays valid JSON.
        let quotedName = (try? NotesJSON.encoder().encode(name)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        let payload =
            #"{"sub":"\#(UUID().uuidString)","name":\#(quotedName),"admin":false,"iat":\#(now),"exp":\#(now + expiresIn),"sid":"\#(sid.uuidString)"}"#
        return [header, payload, "c2lnbmF0dXJl"].map(base64URL).joined(separator: ".")
    }

    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// A login answer for a new session `sid`.
    static func tokenPair(sid: UUID, name: String = "alice") -> TokenPair {
        TokenPair(accessToken: accessToken(sid: sid, name: name), refreshToken: "refresh-\(sid.uuidString)", expiresIn: 900, refreshExpiresIn: 86_400)
    }

    /// The sid of the request's bearer token, if it is one of ours.
    static func sid(of request: Request) -> UUID? {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return nil }
        let parts = header.dropFirst("Bearer ".count).split(separator: ".")
        guard parts.count == 3 else { return nil }
        var text = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let sid = object["sid"] as? String
        else { return nil }
        return UUID(uuidString: sid)
    }

    /// Reads a request body as `T`.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer = try await request.body.collect(upTo: 1 << 20)
        return try NotesJSON.decoder().decode(T.self, from: Data(buffer.readableBytesView))
    }
}
