import Foundation
import PostgresNIO
import TestSupport
import Testing

@testable import NotesServer

/// The README's PostgreSQL section, run as written.
@Suite("README: the PostgreSQL section runs as written")
struct ReadmePostgresTests {
    /// The fenced blocks of `language` between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
    static func blocks(_ name: String, language: String) throws -> [String] {
        let readme = try String(contentsOfFile: repositoryRoot() + "/README.md", encoding: .utf8)
        guard let start = readme.range(of: "<!-- \(name):start -->"), let end = readme.range(of: "<!-- \(name):end -->") else {
            throw TestFailure("README.md has no \(name) section")
        }
        var result: [String] = []
        var current: [Substring]?
        for line in readme[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```\(language)" {
                current = []
            } else if current != nil, line == "```" {
                result.append((current ?? []).joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return result
    }

    /// A port nothing listens on now.
    static func freePort() throws -> Int {
        let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) == 0 && getsockname(socket, $0, &length) == 0 }
        }
        guard bound else { throw TestFailure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("a throwaway PostgreSQL, the server on it with the demo seeds, a login through it, and everything stopped")
    func throwaway() async throws {
        let port = try Self.freePort()
        let script = try Self.blocks("postgres", language: "sh").joined(separator: "\n").replacingOccurrences(of: "8081", with: String(port))
        let run = try await Self.bash("set -euo pipefail\n" + script)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains(#"{"status":"ok"}"#), "\(run.output)")
        #expect(run.output.contains("Bearer"), "\(run.output)")
        #expect(try await !Self.answers("http://127.0.0.1:\(port)/health"), "the server was stopped")
    }

    @Test("the SQL for your own PostgreSQL makes a role and a database the server can start on")
    func ownDatabase() async throws {
        let superuser = try await PostgresTestCluster.shared.url()
        let cluster = try PostgresLocation(url: superuser)
        let sql = try #require(try Self.blocks("postgres-sql", language: "sql").first)
        let prepare = try await Self.bash(
            """
            set -euo pipefail
            psql -v ON_ERROR_STOP=1 -q "\(superuser)" -c 'DROP DATABASE IF EXISTS securenotes' -c 'DROP ROLE IF EXISTS securenotes'
            psql -v ON_ERROR_STOP=1 -q "\(superuser)" <<'SQL'
            \(sql)
            SQL
            """
        )
        #expect(prepare.status == 0, "\(prepare.output)")
        let readme = try String(contentsOfFile: repositoryRoot() + "/README.md", encoding: .utf8)
        let shown = "postgres://securenotes:choose-a-long-password@127.0.0.1:5432/securenotes"
        #expect(readme.contains(shown))
        let url = shown.replacingOccurrences(of: ":5432/", with: ":\(cluster.port)/") + "?sslmode=disable"
        let server = try ServerProcess(
            ["--port", "0", "--bcrypt-cost", "4", "--jwt-algorithm", "HS256", "--log-level", "error"],
            environment: ["NOTES_DATABASE_URL": url, "NOTES_JWT_SECRET": testSecret]
        )
        let base = try await server.baseURL()
        #expect(try await curl([base + "/health"]).contains(#""ok""#))
        server.process.terminate()
        #expect(try await server.exitStatus() == 0)
    }

    static func bash(_ script: String) async throws -> ProcessResult {
        try await TestSupport.bash(script)
    }

    static func answers(_ url: String) async throws -> Bool {
        try await bash("curl -s -o /dev/null --max-time 5 '\(url)'").status == 0
    }
}
