import Foundation
import NotesClient
import NotesModels
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Session cache")
struct SessionCacheTests {
    @Test("login writes session.json with mode 0600 in a 0700 folder, atomically")
    func loginWritesPrivateSession() async throws {
        try await withServer { server, api in
            let session = try await server.registerAndLogin(api)
            #expect(try mode(of: server.store.directory) == 0o700)
            #expect(try mode(of: server.store.path) == 0o600)
            let data = try Data(contentsOf: URL(fileURLWithPath: server.store.path))
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(Set(object.keys) == ["server", "username", "accessToken", "refreshToken", "accessTokenExpiresAt", "refreshTokenExpiresAt"])
            let stored = try #require(try await server.store.load())
            #expect(stored == session)
            #expect(stored.server == server.url)
            #expect(stored.username == "alice")
            // No temporary files are left behind by the atomic replace.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: server.store.directory).filter { $0.hasSuffix(".tmp") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test("a session's description never shows its tokens")
    func descriptionRedactsTokens() {
        let session = NotesClient.Session(
            server: "http://x",
            username: "u",
            accessToken: "SECRET-ACCESS",
            refreshToken: "SECRET-REFRESH",
            accessTokenExpiresAt: Date(),
            refreshTokenExpiresAt: Date()
        )
        #expect(!"\(session)".contains("SECRET"))
    }

    @Test("the store saves, loads, and deletes; deleting twice is fine")
    func storeRoundTrip() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)/nested/notes").path
        let store = SessionStore(directory: directory)
        #expect(try await store.load() == nil)
        let session = NotesClient.Session(
            server: "http://127.0.0.1:1",
            username: "u",
            accessToken: "a",
            refreshToken: "r",
            accessTokenExpiresAt: Date(timeIntervalSince1970: 1_000),
            refreshTokenExpiresAt: Date(timeIntervalSince1970: 2_000)
        )
        try await store.save(session)
        #expect(try await store.load() == session)
        #expect(try mode(of: store.path) == 0o600)
        try await store.delete()
        try await store.delete()
        #expect(try await store.load() == nil)
    }

    @Test("the file lock excludes a second holder until the first releases it")
    func lockIsExclusive() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = SessionStore(directory: directory)
        let order = EventLog()
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        let first = Task {
            try await store.withExclusiveLock {
                order.record(.request(method: "first", path: "in"))
                enteredContinuation.yield()
                for await _ in release { break }
                order.record(.request(method: "first", path: "out"))
            }
        }
        for await _ in entered { break }
        // While the first holds it, the lock really is taken: another holder is refused at
        // once. This does not depend on when the second task below happens to run.
        #expect(try Self.lockIsFree(directory + "/session.lock") == false, "no exclusive lock is held inside withExclusiveLock")
        let second = Task {
            try await store.withExclusiveLock {
                order.record(.request(method: "second", path: "in"))
            }
        }
        releaseContinuation.yield()
        try await first.value
        try await second.value
        #expect(
            order.all.map { "\(($0))" } == [
                "\(NotesAPIEvent.request(method: "first", path: "in"))",
                "\(NotesAPIEvent.request(method: "first", path: "out"))",
                "\(NotesAPIEvent.request(method: "second", path: "in"))",
            ]
        )
        // And released after the last holder.
        #expect(try Self.lockIsFree(directory + "/session.lock"))
    }

    /// Whether an exclusive `flock` on `path` is granted right now (taken and given back).
    static func lockIsFree(_ path: String) throws -> Bool {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            guard errno == EWOULDBLOCK else { throw TestFailure("flock \(path): errno \(errno)") }
            return false
        }
        flock(fd, LOCK_UN)
        return true
    }

    @Test("a lock held too long is given up with a clear error instead of waiting for ever")
    func lockTimesOut() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lock-\(UUID().uuidString)").path
        let holder = SessionStore(directory: directory)
        let waiter = SessionStore(directory: directory, lockTimeout: 0.3)
        let (entered, enteredContinuation) = AsyncStream<Void>.makeStream()
        let (release, releaseContinuation) = AsyncStream<Void>.makeStream()
        let first = Task {
            try await holder.withExclusiveLock {
                enteredContinuation.yield()
                for await _ in release { break }
            }
        }
        for await _ in entered { break }
        do {
            try await waiter.withExclusiveLock {}
            Issue.record("the lock was taken while another holder had it")
        } catch let error as SessionStoreError {
            #expect(error.description.contains("held"))
        }
        releaseContinuation.yield()
        try await first.value
        try await waiter.withExclusiveLock {}
    }

    @Test("an existing folder keeps its mode; a created one is 0700")
    func existingFolderMode() throws {
        let existing = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: existing, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try NotesPaths.ensurePrivateDirectory(existing)
        #expect(try mode(of: existing) == 0o755)
        let created = existing + "/notes"
        try NotesPaths.ensurePrivateDirectory(created)
        #expect(try mode(of: created) == 0o700)
    }

    @Test("an unreachable server leaves the session untouched and says so")
    func unreachableLeavesSession() async throws {
        try await withServer { server, api in
            try await server.registerAndLogin(api)
            let before = try Data(contentsOf: URL(fileURLWithPath: server.store.path))
            await server.stop()
            // Expired too, so the refresh path is exercised as well as the plain call.
            server.clock.advance(3600)
            let error = await #expect(throws: NotesClientError.self) { _ = try await api.me() }
            #expect(error?.code == .unreachable)
            let loggedOut = await #expect(throws: NotesClientError.self) { try await api.logout() }
            #expect(loggedOut?.code == .unreachable)
            let after = try Data(contentsOf: URL(fileURLWithPath: server.store.path))
            #expect(before == after)
        }
    }

    @Test("logout revokes the refresh token on the server and deletes the cache")
    func logoutRevokesAndDeletes() async throws {
        try await withServer { server, api in
            let session = try await server.registerAndLogin(api)
            #expect(try await api.logout())
            #expect(try await server.store.load() == nil)
            #expect(try await api.logout() == false)
            // The old refresh token is refused now.
            try await server.store.save(session)
            let error = await #expect(throws: NotesClientError.self) { try await api.refreshSession() }
            #expect(error?.code == .sessionRevoked)
        }
    }
}
