import Foundation
import NotesModels
import TestSupport
import Testing

/// Runs `body` against a fresh `notes-server` process and always stops it.
func withServerProcess(accessTokenTTL: String = "15m", seed: Bool = false, _ body: (LiveServer) async throws -> Void) async throws {
    try await using({ try await LiveServer.start(accessTokenTTL: accessTokenTTL, seed: seed) }, release: { await $0.shutdown() }, body)
}

@Suite("notes on the command line", .serialized)
struct CommandLineTests {
    @Test("two notes processes started together after expiry both succeed, with one refresh, and the family survives")
    func twoProcessesShareOneRefresh() async throws {
        try await withServerProcess(accessTokenTTL: "3s") { server in
            let registered = try await server.register("alice", "correct-horse-1")
            #expect(registered.status == 0, "\(registered)")
            try await server.waitForAccessTokenExpiry()
            async let first = server.notes(["--verbose", "whoami"])
            async let second = server.notes(["--verbose", "whoami"])
            let runs = try await [first, second]
            for run in runs {
                #expect(run.status == 0, "\(run)")
                #expect(run.stdout.contains("alice"))
            }
            let refreshes = runs.map { $0.stderr.components(separatedBy: "refreshing access token").count - 1 }.reduce(0, +)
            #expect(refreshes == 1, "\(runs)")
            // Had the second process presented the rotated refresh token, the server would
            // have revoked the whole family and this would fail.
            try await server.waitForAccessTokenExpiry()
            let after = try await server.notes(["whoami"])
            #expect(after.status == 0, "\(after)")
        }
    }

    @Test("a revoked session exits 77 and says to run notes login")
    func revokedSession() async throws {
        try await withServerProcess(accessTokenTTL: "2s") { server in
            try await server.register("alice", "correct-horse-1")
            let saved = try Data(contentsOf: URL(fileURLWithPath: server.sessionPath))
            let logout = try await server.notes(["logout"])
            #expect(logout.status == 0, "\(logout)")
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
            try saved.write(to: URL(fileURLWithPath: server.sessionPath))
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: server.sessionPath)
            try await server.waitForAccessTokenExpiry()
            let run = try await server.notes(["whoami"])
            #expect(run.status == 77, "\(run)")
            #expect(run.stderr.contains("notes login"), "\(run)")
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
        }
    }

    @Test("a stopped server exits 69 and leaves the session as it was")
    func stoppedServer() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let before = try Data(contentsOf: URL(fileURLWithPath: server.sessionPath))
            try await server.stop()
            let run = try await server.notes(["list"])
            #expect(run.status == 69, "\(run)")
            #expect(run.stderr.contains("cannot reach"), "\(run)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: server.sessionPath)) == before)
        }
    }

    @Test("a wrong password exits 77; not being logged in exits 77")
    func wrongPassword() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            _ = try await server.notes(["logout"])
            let wrong = try await server.login("alice", "not-the-password")
            #expect(wrong.status == 77, "\(wrong)")
            #expect(!FileManager.default.fileExists(atPath: server.sessionPath))
            let anonymous = try await server.notes(["list"])
            #expect(anonymous.status == 77, "\(anonymous)")
            #expect(anonymous.stderr.contains("notes login"))
        }
    }

    @Test(
        "usage errors exit 64",
        arguments: [
            [], ["list", "--limit", "0"], ["frobnicate"], ["show", "not-a-uuid"], ["add"], ["edit", "00000000-0000-0000-0000-000000000000"],
        ]
    )
    func usageErrors(arguments: [String]) async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let run = try await server.notes(arguments)
            #expect(run.status == 64, "\(run)")
        }
    }

    @Test("errors the server reports exit 1 (a note that does not exist, admin-only users)")
    func serverErrors() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let missing = try await server.notes(["show", UUID().uuidString])
            #expect(missing.status == 1, "\(missing)")
            #expect(missing.stderr.contains("NotFoundError"))
            let users = try await server.notes(["users"])
            #expect(users.status == 1, "\(users)")
            #expect(users.stderr.contains("ForbiddenError"))
        }
    }

    @Test("--json output decodes into NotesModels types; a piped body loses one trailing newline")
    func jsonOutput() async throws {
        try await withServerProcess { server in
            try await server.register("alice", "correct-horse-1")
            let added = try await server.notes(["add", "--title", "First", "--body", "one", "--tag", "a", "--tag", "b", "--json"])
            #expect(added.status == 0, "\(added)")
            let first = try NotesJSON.decoder().decode(Note.self, from: Data(added.stdout.utf8))
            #expect(first.tags == ["a", "b"])
            let piped = try await server.notes(["add", "--title", "Second"], stdin: "line one\nline two\n\n")
            #expect(piped.status == 0, "\(piped)")

            let list = try await server.notes(["list", "--json"])
            #expect(list.status == 0, "\(list)")
            let notes = try NotesJSON.decoder().decode([Note].self, from: Data(list.stdout.utf8))
            #expect(notes.map(\.title) == ["Second", "First"])
            #expect(notes[0].body == "line one\nline two\n")

            let show = try await server.notes(["show", first.id.uuidString, "--json"])
            #expect(try NotesJSON.decoder().decode(Note.self, from: Data(show.stdout.utf8)) == first)

            let edited = try await server.notes(["edit", first.id.uuidString, "--tag", "c", "--json"])
            #expect(try NotesJSON.decoder().decode(Note.self, from: Data(edited.stdout.utf8)).tags == ["c"])

            let paged = try await server.notes(["list", "--limit", "1", "--all", "--json"])
            #expect(try NotesJSON.decoder().decode([Note].self, from: Data(paged.stdout.utf8)).count == 2)

            let whoami = try await server.notes(["whoami", "--json"])
            #expect(try NotesJSON.decoder().decode(User.self, from: Data(whoami.stdout.utf8)).username == "alice")

            let removed = try await server.notes(["rm", first.id.uuidString])
            #expect(removed.status == 0, "\(removed)")
            let gone = try await server.notes(["show", first.id.uuidString])
            #expect(gone.status == 1)
        }
    }

    @Test("the session cache is 0600 in a 0700 folder, and --server beats NOTES_SERVER")
    func cacheModesAndServerChoice() async throws {
        try await withServerProcess { server in
            let run = try await server.notes(
                ["--server", server.url, "register", "--username", "alice", "--password-stdin"],
                stdin: "correct-horse-1",
                environment: ["NOTES_SERVER": "http://127.0.0.1:1"]
            )
            #expect(run.status == 0, "\(run)")
            let fileMode = try FileManager.default.attributesOfItem(atPath: server.sessionPath)[.posixPermissions] as? NSNumber
            let folderMode = try FileManager.default.attributesOfItem(atPath: server.configDirectory)[.posixPermissions] as? NSNumber
            #expect(fileMode?.intValue == 0o600)
            #expect(folderMode?.intValue == 0o700)
            // NOTES_SERVER wins over the session's server, which has no session there.
            let elsewhere = try await server.notes(["whoami"], environment: ["NOTES_SERVER": "http://127.0.0.1:1"])
            #expect(elsewhere.status == 77, "\(elsewhere)")
            // Without NOTES_SERVER the session's server is used.
            let fromSession = try await server.notes(["whoami"], environment: ["NOTES_SERVER": ""])
            #expect(fromSession.status == 0, "\(fromSession)")
        }
    }
}
