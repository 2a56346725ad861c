import Foundation
import TestSupport
import Testing

/// Raw-socket probes of the HTTP layer (issue 9, rows 1 and 11), with python3's socket module:
/// what a well-behaved HTTP client library would never send.
@Suite("Connection limits: slow and idle clients, the connection cap, requests that are not HTTP")
struct ConnectionLimitTests {
    /// Runs a python3 snippet with `PORT` set; its stdout.
    static func python(_ code: String, port: String) async throws -> String {
        let run = try await ReadmePostgresTests.bash(
            "PORT=\(port) python3 - <<'PY'\nimport os, socket, time\nport = int(os.environ['PORT'])\n\(code)\nPY"
        )
        guard run.status == 0 else { throw TestFailure("python failed: \(run.output)") }
        return run.output
    }

    static func server(_ extra: [String] = []) async throws -> (ServerProcess, String) {
        let server = try ServerProcess(["--port", "0", "--data-dir", try temporaryDirectory(), "--bcrypt-cost", "4", "--log-level", "error"] + extra)
        let base = try await server.baseURL()
        return (server, String(base.split(separator: ":").last ?? ""))
    }

    @Test("row 11: a request line that is not HTTP is 400, oversized headers or URL 431, both in the contract's JSON")
    func notHTTP() async throws {
        let (server, port) = try await Self.server()
        let output = try await Self.python(
            """
            def ask(data):
                s = socket.create_connection(('127.0.0.1', port), timeout=10)
                try:
                    s.sendall(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                answer = b''
                try:
                    while b'\\r\\n\\r\\n' not in answer or not answer.rstrip().endswith(b'}'):
                        chunk = s.recv(65536)
                        if not chunk: break
                        answer += chunk
                except ConnectionResetError:
                    pass
                s.close()
                return answer.decode('latin-1')
            for data in [b'GARBAGE\\r\\n\\r\\n', b'GET /health HTTP/1.1\\r\\nHost: x\\r\\nAuthorization: Bearer ' + b'a' * 1000000 + b'\\r\\n\\r\\n',
                         b'GET /' + b'x' * 100000 + b' HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n']:
                answer = ask(data)
                print(answer.split('\\r\\n')[0] + ' | ' + answer.split('\\r\\n\\r\\n', 1)[-1])
            """,
            port: port
        )
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(output)")
        #expect(lines.first?.hasPrefix("HTTP/1.1 400") == true, "\(output)")
        #expect(lines.dropFirst().allSatisfy { $0.hasPrefix("HTTP/1.1 431") }, "\(output)")
        #expect(lines.allSatisfy { $0.contains(#""name":"ValidationError""#) }, "\(output)")
        #expect(try await curl(["http://127.0.0.1:\(port)/health"]).contains("ok"), "the server lives on")
        server.process.terminate()
        _ = try await server.exitStatus()
    }

    @Test("row 1: a client trickling its headers, and an idle keep-alive connection, are closed after the idle timeout")
    func slowAndIdle() async throws {
        let (server, port) = try await Self.server(["--idle-timeout", "1s"])
        let output = try await Self.python(
            """
            def closed_after(s):
                start = time.monotonic()
                s.settimeout(15)
                while True:
                    try:
                        if not s.recv(65536): return time.monotonic() - start
                    except socket.timeout:
                        return 99
            slow = socket.create_connection(('127.0.0.1', port))
            slow.sendall(b'GET /health HTTP/1.1\\r\\nHost: x\\r\\n')
            print('slow %.1f' % closed_after(slow))
            idle = socket.create_connection(('127.0.0.1', port))
            idle.sendall(b'GET /health HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n')
            time.sleep(0.2)
            print('idle %.1f' % closed_after(idle))
            """,
            port: port
        )
        for line in output.split(separator: "\n") {
            let seconds = Double(line.split(separator: " ").last ?? "") ?? 99
            #expect(seconds < 5, "\(line): closed within a few seconds of a 1 s idle timeout")
        }
        #expect(output.contains("slow") && output.contains("idle"), "\(output)")
        server.process.terminate()
        _ = try await server.exitStatus()
    }

    @Test("row 1: past the connection cap a new connection is closed at once; once the others go, clients get in")
    func cap() async throws {
        let (server, port) = try await Self.server(["--max-connections", "3", "--idle-timeout", "2s"])
        let output = try await Self.python(
            """
            held = [socket.create_connection(('127.0.0.1', port)) for _ in range(3)]
            time.sleep(0.3)
            extra = socket.create_connection(('127.0.0.1', port))
            extra.settimeout(5)
            try:
                print('extra closed' if not extra.recv(1) else 'extra open')
            except socket.timeout:
                print('extra open')
            except ConnectionResetError:
                print('extra closed')
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    s = socket.create_connection(('127.0.0.1', port), timeout=5)
                    s.sendall(b'GET /health HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')
                    answer = s.recv(65536)
                    if answer.startswith(b'HTTP/1.1 200'):
                        print('later ok')
                        break
                except (ConnectionResetError, socket.timeout):
                    pass
                time.sleep(0.2)
            """,
            port: port
        )
        #expect(output.contains("extra closed"), "\(output)")
        #expect(output.contains("later ok"), "\(output)")
        server.process.terminate()
        _ = try await server.exitStatus()
    }
}
