import Foundation
import NotesClient
import NotesModels
import TestSupport
import Testing

@Suite("Refreshing an expired access token")
struct RefreshTests {
    @Test("an expired access token leads to exactly one refresh and a successful retry")
    func refreshOnceAndRetry() async throws {
        let events = EventLog()
        try await withServer(events: events) { server, api in
            let session = try await server.registerAndLogin(api)
            server.clock.advance(901)
            let user = try await api.me()
            #expect(user.username == "alice")
            #expect(server.requests.count("POST", "/auth/refresh") == 1)
            #expect(server.requests.count("GET", "/me") == 2)
            #expect(events.all.filter { $0 == .refreshing }.count == 1)
            let renewed = try #require(try await server.store.load())
            #expect(renewed.accessToken != session.accessToken)
            #expect(renewed.refreshToken != session.refreshToken)
            // A second call uses the new token without refreshing again.
            _ = try await api.me()
            #expect(server.requests.count("POST", "/auth/refresh") == 1)
        }
    }

    @Test("20 concurrent calls after expiry make exactly one refresh")
    func concurrentCallsShareOneRefresh() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            server.clock.advance(901)
            try await withThrowingTaskGroup(of: User.self) { group in
                for _ in 0..<20 { group.addTask { try await api.me() } }
                var count = 0
                for try await user in group {
                    #expect(user.username == "alice")
                    count += 1
                }
                #expect(count == 20)
            }
            #expect(server.requests.count("POST", "/auth/refresh") == 1)
        }
    }

    @Test("two clients sharing the cache (as two processes would) refresh once, and the family survives")
    func twoClientsShareThroughTheFileLock() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            try await server.withAPI { other in
                server.clock.advance(901)
                async let first = api.me()
                async let second = other.me()
                let users = try await [first, second]
                #expect(users.map(\.username) == ["alice", "alice"])
                #expect(server.requests.count("POST", "/auth/refresh") == 1)
                // Had the loser presented the rotated refresh token, the family would be revoked
                // and this next refresh would fail.
                server.clock.advance(901)
                _ = try await other.me()
                #expect(server.requests.count("POST", "/auth/refresh") == 2)
            }
        }
    }

    @Test("a refresh refused before the session's end deletes the session and says it was revoked")
    func refusedRefreshDeletesSession() async throws {
        try await withServer { server, api in
            let session = try await server.registerAndLogin(api)
            try await api.logout()  // revokes the family on the server
            try await server.store.save(session)  // as if the cache were stale
            server.clock.advance(901)
            let error = await #expect(throws: NotesClientError.self) { _ = try await api.me() }
            #expect(error?.code == .sessionRevoked)
            #expect(error?.message.contains("notes login") == true)
            #expect(try await server.store.load() == nil)
            #expect(server.requests.count("POST", "/auth/refresh") == 1)
        }
    }

    @Test("a refresh refused after the session's end says session expired")
    func refusedRefreshAfterTheEnd() async throws {
        try await withServer { server, api in
            var session = try await server.registerAndLogin(api)
            try await api.logout()
            session.refreshTokenExpiresAt = Date().addingTimeInterval(-1)  // the cache says it is over
            try await server.store.save(session)
            server.clock.advance(901)
            let error = await #expect(throws: NotesClientError.self) { _ = try await api.me() }
            #expect(error?.code == .sessionExpired)
            #expect(error?.message == "session expired — run notes login")
            #expect(try await server.store.load() == nil)
        }
    }

    @Test("a call without a session says not logged in, without asking the server")
    func notLoggedIn() async throws {
        try await withServer { server, api in
            let error = await #expect(throws: NotesClientError.self) { _ = try await api.me() }
            #expect(error?.code == .notLoggedIn)
            #expect(server.requests.count("GET", "/me") == 0)
        }
    }
}
