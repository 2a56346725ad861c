import Foundation
import TestSupport
import Testing

/// Issue 9 row 8, in a network namespace of the test's own (`unshare -n`): only its loopback
/// and a dummy interface (or a veth pair, both ends inside) with 10.200.0.1 exist there, so nothing can leave the machine. A
/// listener on 10.200.0.1 inside the namespace records whatever reaches it.
@Suite("plain http only to loopback", .serialized)
struct PlainHTTPTests {
    /// Runs `notes ARGS` inside a fresh network namespace with a recording listener on
    /// 10.200.0.1:8080; returns the run and what the listener received.
    static func runIsolated(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (Run, String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("notes-netns-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let received = root.appendingPathComponent("received").path
        let ready = root.appendingPathComponent("ready").path
        let listener = """
            import socket, sys
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("10.200.0.1", 8080)); s.listen(1); open(sys.argv[2], "w").close()
            s.settimeout(30)
            try:
                c, _ = s.accept(); c.settimeout(5); data = b""
                try:
                    while b"\\r\\n\\r\\n" not in data:
                        chunk = c.recv(65536)
                        if not chunk: break
                        data += chunk
                except OSError: pass
                open(sys.argv[1], "wb").write(data); c.close()
            except OSError: pass
            """
        let script = """
            set -e
            ip link set lo up
            # A dummy interface where the kernel has the module; else a veth pair whose both
            # ends stay in this namespace. Either way 10.200.0.1 leads nowhere outside.
            if ip link add d0 type dummy 2>/dev/null; then
                ip addr add 10.200.0.1/24 dev d0
                ip link set d0 up
            else
                ip link add v0 type veth peer name v1
                ip addr add 10.200.0.1/24 dev v0
                ip link set v1 up
                ip link set v0 up
            fi
            python3 -c "$LISTENER" "\(received)" "\(ready)" &
            listener=$!
            i=0; while [ ! -e "\(ready)" ]; do i=$((i+1)); [ $i -lt 400 ] || exit 90; sleep 0.05; done
            set +e
            "$NOTES" "$@"
            status=$?
            kill $listener 2>/dev/null || true
            wait $listener 2>/dev/null || true
            exit $status
            """
        var environment = clientEnvironment(root: root, server: "http://10.200.0.1:8080", extra)
        environment["LISTENER"] = listener
        environment["NOTES"] = Binaries.notes.path
        let run = try await runNotes(
            ["-n", "--", "/bin/sh", "-c", script, "sh"] + arguments,
            root: root,
            environment: environment,
            stdin: "correct-horse-1\n",
            executable: URL(fileURLWithPath: "/usr/bin/unshare")
        )
        let data = (try? String(contentsOfFile: received, encoding: .utf8)) ?? ""
        return (run, data)
    }

    @Test("a login over plain http to a non-loopback address is refused before anything is sent (exit 64)")
    func refused() async throws {
        let (run, received) = try await Self.runIsolated(["login", "--username", "alice", "--password-stdin"])
        #expect(run.status == 64, "\(run)")
        #expect(run.stderr.contains("refusing to send a password or token over plain http to 10.200.0.1"), "\(run)")
        #expect(run.stderr.contains("--insecure-http"), "\(run)")
        #expect(received.isEmpty, "the client sent: \(received)")
    }

    @Test("--insecure-http and NOTES_INSECURE_HTTP=1 send it anyway")
    func allowed() async throws {
        let (flag, receivedWithFlag) = try await Self.runIsolated(["login", "--insecure-http", "--username", "alice", "--password-stdin"])
        #expect(receivedWithFlag.hasPrefix("POST /auth/login "), "\(flag)\nreceived: \(receivedWithFlag)")
        #expect(flag.status == 69, "the listener hangs up without answering: \(flag)")

        let (variable, receivedWithVariable) = try await Self.runIsolated(
            ["login", "--username", "alice", "--password-stdin"],
            environment: ["NOTES_INSECURE_HTTP": "1"]
        )
        #expect(receivedWithVariable.hasPrefix("POST /auth/login "), "\(variable)\nreceived: \(receivedWithVariable)")
    }
}
