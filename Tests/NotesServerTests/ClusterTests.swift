import AsyncHTTPClient
import Foundation
import NIOHTTP1
import NotesModels
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Three replicas on one PostgreSQL database behind nginx, as `scripts/cluster.sh` starts
/// them: through the balancer unless a step says otherwise. One cluster per test, one test at
/// a time (each starts four processes on a shared machine).
@Suite("A cluster: PostgreSQL, three replicas, nginx", .serialized)
struct ClusterTests {
    /// The database of the running cluster (one at a time: the suite is serialized).
    static let databaseURL = Mutex<String?>(nil)

    /// Runs `body` with a started cluster and an HTTP client, then stops the cluster with
    /// SIGTERM and checks that nothing it started is left.
    static func withCluster(
        environment: [String: String] = [:],
        _ body: (ClusterHTTP, String, [ClusterProcess.Replica]) async throws -> Void
    ) async throws {
        let cluster = try await ClusterProcess.start(environment: environment)
        databaseURL.withLock { $0 = cluster.databaseURL }
        do {
            let (url, replicas) = try await cluster.ready()
            #expect(replicas.count == 3, "\(cluster.stdout)")
            try await ClusterHTTP.with { http in try await body(http, url, replicas) }
            #expect(try await cluster.stop() == 128 + SIGTERM, "the script exits as SIGTERM asks")
            for replica in replicas { #expect(!processAlive(replica.pid), "replica \(replica.number) was stopped") }
            #expect(!RawConnection.canConnect(port: Int(url.split(separator: ":").last ?? "") ?? 0), "nginx was stopped")
        } catch {
            _ = try? await cluster.stop()
            throw error
        }
    }

    /// The count of `/health` requests a replica's metrics show.
    static func healthCount(_ http: ClusterHTTP, _ replica: ClusterProcess.Replica) async throws -> Double {
        let text = try await http.get(replica.metrics + "/metrics").text
        return MetricsTests.sample(text, "notes_http_requests_total", [("method", "GET"), ("route", "/health"), ("status", "200")]) ?? 0
    }

    @Test("requests spread over all three replicas; five wrong passwords spread over them make the sixth attempt 429 on every one")
    func spreadAndThrottle() async throws {
        try await Self.withCluster { http, url, replicas in
            let before = try await replicas.asyncMap { try await Self.healthCount(http, $0) }
            for _ in 0..<6 { #expect(try await http.get(url + "/health").status == 200) }
            let after = try await replicas.asyncMap { try await Self.healthCount(http, $0) }
            for (index, replica) in replicas.enumerated() {
                #expect(after[index] > before[index], "replica \(replica.number) served none of the balanced requests")
            }

            _ = try await http.signUp("carol", at: url)
            for attempt in 0..<5 {
                let replica = replicas[attempt % replicas.count]
                let answer = try await http.post(replica.url + "/auth/login", json: Credentials(username: "carol", password: "wrong-password"))
                #expect(answer.status == 401, "attempt \(attempt + 1) on replica \(replica.number): \(answer.text)")
            }
            for replica in replicas {
                let answer = try await http.post(replica.url + "/auth/login", json: Credentials(username: "carol", password: "correct-horse"))
                #expect(answer.status == 429, "replica \(replica.number): \(answer.text)")
                #expect(answer.headers.first(name: "Retry-After").flatMap(Int.init) ?? 0 > 0)
            }
        }
    }

    @Test("a cursor issued by one replica pages on the others; a refresh rotated on one is detected as reused on a third")
    func sharedState() async throws {
        try await Self.withCluster { http, _, replicas in
            let pair = try await http.signUp("dave", at: replicas[0].url)
            for n in 1...5 {
                #expect(
                    try await http.post(replicas[n % 3].url + "/notes", token: pair.accessToken, json: NoteInput(title: "note \(n)")).status == 201
                )
            }
            var seen: [UUID] = []
            var cursor: String?
            for page in 0..<3 {
                let query = "/notes?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                let answer = try await http.get(replicas[page].url + query, token: pair.accessToken)
                #expect(answer.status == 200, "page \(page) on replica \(page + 1): \(answer.text)")
                let decoded: Page<Note> = try answer.decode()
                seen += decoded.items.map(\.id)
                cursor = decoded.nextCursor?.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
                if page < 2 { #expect(cursor != nil) }
            }
            let all: Page<Note> = try await http.get(replicas[0].url + "/notes?limit=100", token: pair.accessToken).decode()
            #expect(seen == all.items.map(\.id), "the three pages, from three replicas, are the list in order")
            #expect(Set(seen).count == 5)

            let rotated = try await http.post(replicas[1].url + "/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken))
            #expect(rotated.status == 200, "\(rotated.text)")
            let replay = try await http.post(replicas[2].url + "/auth/refresh", json: RefreshRequest(refreshToken: pair.refreshToken))
            #expect(replay.status == 401)
            #expect(replay.text.contains("already used"), "\(replay.text)")
            let newer: TokenPair = try rotated.decode()
            let revoked = try await http.post(replicas[0].url + "/auth/refresh", json: RefreshRequest(refreshToken: newer.refreshToken))
            #expect(revoked.status == 401, "the whole family was revoked: \(revoked.text)")
        }
    }

    static func kid(_ token: String) -> String? {
        guard let header = token.split(separator: ".").first else { return nil }
        var base64 = header.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["kid"] as? String
    }

    /// Polls until `condition` holds on every replica; how long that took.
    static func onEveryReplica(
        _ replicas: [ClusterProcess.Replica],
        _ what: String,
        seconds: Double = 40,
        _ condition: (ClusterProcess.Replica) async throws -> Bool
    ) async throws -> Duration {
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        for replica in replicas {
            while try await !condition(replica) {
                guard ContinuousClock.now < deadline else { throw TestFailure("replica \(replica.number): \(what) not within \(seconds) s") }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return ContinuousClock.now - start
    }

    @Test(
        "keys rotate under a steady load of authenticated reads: no request fails, tokens and cursors from before and after work on every replica; after keys retire the old key's tokens are refused everywhere within 30 s"
    )
    func rotation() async throws {
        try await Self.withCluster { http, url, replicas in
            let database = try #require(replicas.isEmpty ? nil : ClusterTests.databaseURL.withLock { $0 })
            let pair = try await http.signUp("erin", at: url)
            let oldKid = try #require(Self.kid(pair.accessToken))
            for n in 1...4 {
                #expect(try await http.post(url + "/notes", token: pair.accessToken, json: NoteInput(title: "note \(n)")).status == 201)
            }
            let cursorBefore = try #require(
                try await http.get(url + "/notes?limit=1", token: pair.accessToken).decode(Page<Note>.self).nextCursor?
                    .addingPercentEncoding(withAllowedCharacters: .alphanumerics)
            )

            // A steady load: reads with the token from before, and new logins read with theirs.
            let record = LoadRecord()
            let load = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<3 {
                        group.addTask {
                            var token = pair.accessToken
                            var n = 0
                            while !record.isStopped {
                                n += 1
                                do {
                                    if n % 5 == 0 {
                                        let login = try await http.post(
                                            url + "/auth/login",
                                            json: Credentials(username: "erin", password: "correct-horse")
                                        )
                                        record.record(login.status, error: login.status == 200 ? nil : login.text)
                                        if let fresh = try? login.decode(TokenPair.self) { token = fresh.accessToken }
                                    }
                                    for used in [pair.accessToken, token] {
                                        let answer = try await http.get(url + "/notes?limit=2", token: used)
                                        record.record(answer.status, error: answer.status == 200 ? nil : answer.text)
                                    }
                                } catch {
                                    record.record(0, error: String(describing: error))
                                }
                            }
                        }
                    }
                }
            }
            try await record.wait("reads before the rotation") { $0.successes >= 20 }

            let rotated = try await ClusterProcess.tool(["keys", "rotate", "--now", "--database-url", database])
            #expect(rotated.status == 0, "\(rotated.output)")
            let newKid = try #require(rotated.output.split(separator: " ").first.map(String.init))
            #expect(newKid != oldKid)
            // Every replica signs with the new key within 30 s (it reads the ring every 10 s).
            let switched = try await Self.onEveryReplica(replicas, "signing with the new key") { replica in
                let login = try await http.post(replica.url + "/auth/login", json: Credentials(username: "erin", password: "correct-horse"))
                return Self.kid(try login.decode(TokenPair.self).accessToken) == newKid
            }
            print("cluster rotation: every replica signed with the new key after \(switched)")
            let after = try await http.post(url + "/auth/login", json: Credentials(username: "erin", password: "correct-horse")).decode(
                TokenPair.self
            )
            #expect(Self.kid(after.accessToken) == newKid)
            let cursorAfter = try #require(
                try await http.get(replicas[0].url + "/notes?limit=1", token: after.accessToken).decode(Page<Note>.self).nextCursor?
                    .addingPercentEncoding(withAllowedCharacters: .alphanumerics)
            )
            for replica in replicas {
                for (name, token) in [("before", pair.accessToken), ("after", after.accessToken)] {
                    let answer = try await http.get(replica.url + "/me", token: token)
                    #expect(answer.status == 200, "replica \(replica.number), token from \(name) the rotation: \(answer.text)")
                }
                for cursor in [cursorBefore, cursorAfter] {
                    let page = try await http.get(replica.url + "/notes?limit=1&cursor=\(cursor)", token: after.accessToken)
                    #expect(page.status == 200, "replica \(replica.number): a cursor from another replica, across the rotation: \(page.text)")
                }
            }
            try await record.wait("reads after the rotation") { $0.successes >= 60 }
            record.stop()
            await load.value
            let failed = record.statuses.filter { $0 != 200 }
            print("cluster rotation: \(record.statuses.count) requests during the rotation, \(failed.count) failed")
            #expect(failed.isEmpty, "\(record.errors.prefix(3))")

            let retired = try await ClusterProcess.tool(["keys", "retire", oldKid, "--database-url", database])
            #expect(retired.status == 0, "\(retired.output)")
            let refused = try await Self.onEveryReplica(replicas, "refusing the retired key") { replica in
                try await http.get(replica.url + "/me", token: pair.accessToken).text.contains("invalid kid")
            }
            print("cluster rotation: the retired key was refused by every replica after \(refused)")
            #expect(refused < .seconds(31))
            for replica in replicas { #expect(try await http.get(replica.url + "/me", token: after.accessToken).status == 200) }
            let listed = try await ClusterProcess.tool(["keys", "list", "--json", "--database-url", database])
            let keys = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]] ?? []
            #expect(Set(keys.compactMap { $0["state"] as? String }) == ["current", "retired"], "\(listed.output)")
        }
    }

    /// Workers that create notes through the balancer until `record` is stopped.
    static func writeLoad(
        _ http: ClusterHTTP,
        _ url: String,
        token: String,
        workers: Int,
        record: LoadRecord,
        reads: Bool = false
    )
        -> Task<Void, Never>
    {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        var n = 0
                        while !record.isStopped {
                            n += 1
                            do {
                                if reads, n % 2 == 0 {
                                    let answer = try await http.get(url + "/notes?limit=5", token: token)
                                    record.record(answer.status, error: answer.status >= 500 ? answer.text : nil)
                                } else {
                                    let answer = try await http.post(url + "/notes", token: token, json: NoteInput(title: "load \(worker)-\(n)"))
                                    let note: Note? = answer.status == 201 ? try? answer.decode() : nil
                                    record.record(answer.status, created: note?.id, error: answer.status == 201 ? nil : answer.text)
                                }
                            } catch {
                                record.record(0, error: String(describing: error))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every note id the list has, following every page.
    static func listedIDs(_ http: ClusterHTTP, _ url: String, token: String) async throws -> Set<UUID> {
        var ids = Set<UUID>()
        var cursor: String?
        repeat {
            let query = "/notes?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page: Page<Note> = try await http.get(url + query, token: token).decode()
            ids.formUnion(page.items.map(\.id))
            cursor = page.nextCursor?.addingPercentEncoding(withAllowedCharacters: .alphanumerics)
        } while cursor != nil
        return ids
    }

    @Test("kill -9 of a replica during a write load: nginx routes around it, and every note whose 201 was seen is stored")
    func killDuringWrites() async throws {
        try await Self.withCluster { http, url, replicas in
            let token = try await http.signUp("writer", at: url).accessToken
            let record = LoadRecord()
            let workers = 4
            let load = Self.writeLoad(http, url, token: token, workers: workers, record: record)
            try await record.wait("writes before the kill") { $0.created.count >= 20 }
            let victim = replicas[1]
            kill(victim.pid, SIGKILL)
            // Counted from the kill itself: more writes may have landed since the wait above.
            let createdAtKill = record.created.count
            try await record.wait("writes after the kill") { $0.created.count >= createdAtKill + 60 }
            record.stop()
            await load.value

            let statuses = record.statuses
            let failed = statuses.filter { $0 != 201 }
            let afterKill = record.created.count - createdAtKill
            print("cluster kill -9: \(statuses.count) writes, \(failed.count) failed (\(failed)), \(afterKill) created after the kill")
            // Only requests already sent to the killed replica can fail (a POST is never retried
            // on another replica): at most one per worker.
            #expect(failed.count <= workers, "\(failed) \(record.errors)")
            #expect(afterKill >= 60)
            #expect(!processAlive(victim.pid))
            let stored = try await Self.listedIDs(http, url, token: token)
            let created = Set(record.created)
            #expect(created.isSubset(of: stored), "\(created.subtracting(stored).count) acknowledged notes are missing")
        }
    }

    @Test("SIGTERM of a replica under load: it drains and exits, and no 5xx reaches the client")
    func sigtermUnderLoad() async throws {
        try await Self.withCluster { http, url, replicas in
            let token = try await http.signUp("steady", at: url).accessToken
            let record = LoadRecord()
            let load = Self.writeLoad(http, url, token: token, workers: 4, record: record, reads: true)
            try await record.wait("requests before the signal") { $0.successes >= 30 }
            let victim = replicas[0]
            kill(victim.pid, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(30)
            while processAlive(victim.pid) {
                guard ContinuousClock.now < deadline else { throw TestFailure("replica \(victim.number) did not exit after SIGTERM") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let atExit = record.successes
            try await record.wait("requests after the replica left") { $0.successes >= atExit + 60 }
            record.stop()
            await load.value

            let statuses = record.statuses
            let bad = statuses.filter { $0 >= 500 || $0 == 0 }
            print("cluster SIGTERM: \(statuses.count) requests, \(bad.count) failed (\(bad))")
            #expect(bad.isEmpty, "\(record.errors)")
            let stored = try await Self.listedIDs(http, url, token: token)
            #expect(Set(record.created).isSubset(of: stored))
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
