import Foundation
import NotesModels
import Testing

/// Every client step of the README tutorial (part 2), in order, on the demo seeds.
@Suite("The client tutorial, step by step", .serialized)
struct TutorialTests {
    @Test("log in, read the token, add and list, watch a refresh, log out, and see the old refresh token refused")
    func tutorial() async throws {
        try await withServerProcess(accessTokenTTL: "3s", seed: true) { server in
            let alice = try DemoSeeds.load().user("alice")

            // 1. Log in.
            let login = try await server.login(alice.username, alice.password)
            #expect(login.status == 0, "\(login)")
            #expect(login.stdout == "logged in as alice at \(server.url) (access token valid for 3s; notes token shows it)\n")

            // 2. The token, decoded but not verified.
            let token = try await server.notes(["token"])
            #expect(token.status == 0, "\(token)")
            for part in [
                "NOT verified", "header.payload.signature", "Header", "\"alg\"", "\"kid\"", "/.well-known/jwks.json", "Payload", "\"sub\"",
                "\"name\"", "alice", "iat", "exp", "Signature", "Time left", "Refresh token: opaque (not a JWT)",
            ] {
                #expect(token.stdout.contains(part), "notes token lacks \(part)")
            }

            // 3. Add and list notes.
            let added = try await server.notes(["add", "--title", "My first note", "--body", "Hello, JWT", "--tag", "tutorial"])
            #expect(added.status == 0, "\(added)")
            let list = try await server.notes(["list", "--tag", "tutorial"])
            #expect(list.status == 0, "\(list)")
            #expect(list.stdout.contains("My first note"))
            let seeded = try await server.notes(["list", "--query", "refresh", "--json"])
            #expect(try NotesJSON.decoder().decode([Note].self, from: Data(seeded.stdout.utf8)).contains { $0.title == "Refresh tokens rotate" })

            // 4. Wait for the access token to expire; --verbose shows the refresh.
            try await server.waitForAccessTokenExpiry()
            let verbose = try await server.notes(["--verbose", "list"])
            #expect(verbose.status == 0, "\(verbose)")
            #expect(verbose.stderr.contains("GET /notes → 401 TokenExpiredError"), "\(verbose)")
            #expect(verbose.stderr.contains("refreshing access token"))
            #expect(verbose.stderr.contains("POST /auth/refresh → 200"))
            #expect(verbose.stderr.contains("GET /notes → 200"))
            let session = try String(contentsOfFile: server.sessionPath, encoding: .utf8)
            let pieces = try JSONSerialization.jsonObject(with: Data(session.utf8)) as? [String: Any]
            for secret in [pieces?["accessToken"], pieces?["refreshToken"]].compactMap({ $0 as? String }) {
                #expect(!verbose.stderr.contains(secret), "--verbose printed a token")
            }

            // 5. Log out; the old refresh token is refused from now on.
            let saved = try Data(contentsOf: URL(fileURLWithPath: server.sessionPath))
            let logout = try await server.notes(["logout"])
            #expect(logout.status == 0, "\(logout)")
            try saved.write(to: URL(fileURLWithPath: server.sessionPath))
            try await server.waitForAccessTokenExpiry()
            let refused = try await server.notes(["--verbose", "whoami"])
            #expect(refused.status == 77, "\(refused)")
            #expect(refused.stderr.contains("POST /auth/refresh → 401"))
            #expect(
                refused.stderr.contains("error: session revoked on the server (logged out, maybe from another copy of the session) — run notes login")
            )

            // The admin of the seeds can list users.
            let admin = try DemoSeeds.load().users.first { $0.admin }
            if let admin {
                #expect(try await server.login(admin.username, admin.password).status == 0)
                let users = try await server.notes(["users", "--json"])
                #expect(try NotesJSON.decoder().decode([User].self, from: Data(users.stdout.utf8)).contains { $0.username == "alice" })
            }
        }
    }
}
