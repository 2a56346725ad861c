import Foundation
import Logging
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

#if canImport(Glibc)
import Glibc
#endif

/// What a replica behind a load balancer needs: its metrics listener, request ids that follow
/// a request, and draining on SIGTERM.
@Suite("notes-server as a replica: metrics port, request ids, draining")
struct ReplicaProcessTests {
    @Test("--metrics-port (or NOTES_METRICS_PORT) serves Prometheus text on a second listener, announced after the listening line")
    func metricsPort() async throws {
        let server = try ServerProcess(
            ["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4"],
            environment: ["NOTES_METRICS_PORT": "0"]
        )
        let base = try await server.baseURL()
        try await server.waitUntil("the metrics line") { server.stdout.split(separator: "\n").count >= 2 }
        let lines = server.stdout.split(separator: "\n").map(String.init)
        #expect(lines[0].hasPrefix("listening on http://127.0.0.1:"))
        #expect(lines[1].hasPrefix("metrics on http://127.0.0.1:"), "\(lines)")
        let metricsBase = String(lines[1].dropFirst("metrics on ".count))
        #expect(metricsBase != base)
        _ = try await curl([base + "/health"])
        let text = try await curl([metricsBase + "/metrics"])
        #expect(text.contains(#"notes_http_requests_total{method="GET",route="/health",status="200"} 1"#), "\(text)")
        #expect(text.contains("# TYPE notes_http_request_duration_seconds histogram"))
        #expect(text.contains(#"notes_signing_keys{state="current"} 1"#))
        let onAPI = try await curl(["-o", "/dev/null", "-w", "%{http_code}", base + "/metrics"])
        #expect(onAPI == "404", "the API port does not serve metrics")
        server.process.terminate()
        #expect(try await server.exitStatus() == 0)
    }

    @Test("a metrics port already in use exits 69 with one line that names --metrics-port")
    func metricsPortInUse() async throws {
        let first = try ServerProcess(["--port", "0", "--metrics-port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4"])
        _ = try await first.baseURL()
        try await first.waitUntil("the metrics line") { first.stdout.contains("metrics on http://") }
        let taken = try #require(first.stdout.split(separator: "\n").last.flatMap { $0.split(separator: ":").last })
        let second = try ServerProcess(["--port", "0", "--metrics-port", String(taken), "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4"])
        #expect(try await second.exitStatus() == 69)
        let lines = second.stderr.split(separator: "\n").filter { $0.hasPrefix("notes-server: ") }
        #expect(lines.count == 1 && lines[0].contains("metrics port \(taken)") && lines[0].contains("--metrics-port"), "\(second.stderr)")
        first.process.terminate()
        _ = try await first.exitStatus()
    }

    @Test("a well-formed X-Request-Id is kept in the response and every log line; anything else is replaced")
    func requestIDs() async throws {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4", "--log-level", "info"])
        let base = try await server.baseURL()
        func idAnswered(_ sent: String?) async throws -> String {
            let headers = try await curl(
                ["-o", "/dev/null", "-D", "-"] + (sent.map { ["-H", "X-Request-Id: \($0)"] } ?? []) + [base + "/health"]
            )
            let line = headers.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("x-request-id:") }
            return line.map { String($0.dropFirst("x-request-id:".count)).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        let good = "lb-7f3a.b:c_D-" + String(repeating: "x", count: 100)
        #expect(try await idAnswered(good) == good)
        let longest = String(repeating: "a", count: 128)
        #expect(try await idAnswered(longest) == longest)
        for bad in [String(repeating: "a", count: 129), "has space", "semi;colon", "quote\"d"] {
            let answered = try await idAnswered(bad)
            #expect(!answered.isEmpty && answered != bad, "\(bad) must be replaced, got \(answered)")
        }
        let made = try await idAnswered(nil)
        #expect(!made.isEmpty)
        try await server.waitUntil("the log line") { server.stderr.contains(good) }
        let lines = server.stderr.split(separator: "\n").filter { $0.contains(good) }
        #expect(lines.contains { $0.contains("request") && $0.contains("status=200") }, "\(server.stderr)")
        server.process.terminate()
        _ = try await server.exitStatus()
    }

    @Test("SIGTERM drains: new connections are refused at once, while a request in flight still gets its answer")
    func drain() async throws {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4", "--log-level", "trace"])
        let base = try await server.baseURL()
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        let socket = try RawConnection(port: port)
        defer { socket.close() }
        // A request whose body has not all arrived: it stays in flight until the test sends the rest.
        let body = #"{"username":"draining","password":"correct-horse"}"#
        let half = body.utf8.count / 2
        try socket.send(
            "POST /auth/register HTTP/1.1\r\nHost: x\r\nX-Request-Id: drain-probe-1\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n" + String(body.prefix(half))
        )
        try await server.waitUntil("the request to arrive") { server.stderr.contains("drain-probe-1") && server.stderr.contains("request received") }
        kill(server.process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while RawConnection.canConnect(port: port) {
            guard ContinuousClock.now < deadline else { throw TestFailure("the listener stayed open after SIGTERM") }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(server.process.isRunning, "still running: the request in flight holds it")
        try socket.send(String(body.dropFirst(half)))
        let answer = try await socket.receiveHead(seconds: 20)
        #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer)")
        #expect(try await server.exitStatus() == 0, "\(server.stderr.suffix(2_000))")
    }

    @Test("SIGTERM drains: a connection whose request is still on its way when the signal comes gets its answer, not a reset")
    func drainWaitsForARequestOnItsWay() async throws {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4"])
        let base = try await server.baseURL()
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        let socket = try RawConnection(port: port)
        defer { socket.close() }
        // One answered request proves the server accepted this connection; then half a request
        // head, as a balancer's request may be half-way over the wire when the signal comes.
        try socket.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await socket.receiveHead(seconds: 20).hasPrefix("HTTP/1.1 200"))
        let body = #"{"username":"on-its-way","password":"correct-horse"}"#
        try socket.send("POST /auth/register HTTP/1.1\r\nHost: x\r\n")
        kill(server.process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while RawConnection.canConnect(port: port) {
            guard ContinuousClock.now < deadline else { throw TestFailure("the listener stayed open after SIGTERM") }
            try await Task.sleep(for: .milliseconds(5))
        }
        try socket.send("Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
        let answer = try await socket.receiveHead(seconds: 20)
        #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer)")
        #expect(try await server.exitStatus() == 0, "\(server.stderr.suffix(2_000))")
    }

    @Test("SIGTERM drains: connections the kernel accepted while the server was not taking them are all answered, not reset")
    func drainTakesTheKernelsQueue() async throws {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4"])
        let base = try await server.baseURL()
        let port = try #require(Int(base.split(separator: ":").last ?? ""))
        let pid = server.process.processIdentifier
        // Stopped, the server takes nothing from the listener's queue, but the kernel still
        // completes handshakes: these connections are where a balancer's requests sit at the
        // moment of a SIGTERM. Closing the listener then would reset every one of them.
        kill(pid, SIGSTOP)
        var sockets: [RawConnection] = []
        defer {
            kill(pid, SIGCONT)
            for socket in sockets { socket.close() }
        }
        for number in 0..<16 {
            let socket = try RawConnection(port: port)
            sockets.append(socket)
            try socket.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: queued-\(number)\r\nConnection: close\r\n\r\n")
        }
        kill(pid, SIGTERM)
        kill(pid, SIGCONT)
        for (number, socket) in sockets.enumerated() {
            let answer = try await socket.receiveHead(seconds: 20)
            #expect(answer.hasPrefix("HTTP/1.1 200"), "connection \(number): \(answer.isEmpty ? "reset or closed without an answer" : answer)")
        }
        #expect(try await server.exitStatus() == 0, "\(server.stderr.suffix(2_000))")
        #expect(!RawConnection.canConnect(port: port))
    }

    @Test("the session sweep runs only while holding the database lock, so one replica sweeps at a time", arguments: Engine.allCases)
    func sweepLock(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let sweeper = SessionSweeper(storage: storage, now: { Date() }, logger: testLogger)
            let inner = try await storage.whileHoldingLock(SessionSweeper.lockKey, testLogger) {
                // Another replica (another connection) tries while this one holds the lock.
                let other = await sweeper.sweep()
                #expect(other == (engine == .sqlite), "on PostgreSQL the second sweeper must skip")
            }
            #expect(inner)
            #expect(await sweeper.sweep(), "with the lock free again, it sweeps")
        }
    }
}

/// A plain TCP connection to 127.0.0.1, for requests curl cannot leave half-sent.
final class RawConnection: Sendable {
    let descriptor: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(port: Int) throws {
        guard let descriptor = Self.connect(port: port) else { throw Failure(description: "cannot connect to port \(port)") }
        self.descriptor = descriptor
    }

    private static func connect(port: Int) -> Int32? {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            return nil
        }
        return fd
    }

    /// Whether something accepts connections on the port now.
    static func canConnect(port: Int) -> Bool {
        guard let fd = connect(port: port) else { return false }
        Glibc.close(fd)
        return true
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            sent += n
        }
    }

    /// What arrives until the end of the response head (or the connection closes).
    func receiveHead(seconds: Double) async throws -> String {
        let descriptor = self.descriptor
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                var timeout = timeval(tv_sec: Int(seconds), tv_usec: 0)
                setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var received = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !String(decoding: received, as: UTF8.self).contains("\r\n\r\n") {
                    let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    received += buffer[0..<n]
                }
                continuation.resume(returning: String(decoding: received, as: UTF8.self))
            }.start()
        }
    }

    func close() { Glibc.close(descriptor) }
}
