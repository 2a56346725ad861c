import Foundation
import Logging
import Testing

@testable import NotesServer

/// The definition of what a repository does, run on every engine: what one engine passes and
/// another fails is a bug in the other.
@Suite("Storage conformance, on SQLite and PostgreSQL")
struct StorageConformanceTests {
    static let start = Date(millisecondsSince1970: 1_800_000_000_000)

    static func account(_ name: String, at date: Date = start) -> UserAccount {
        UserAccount(id: UUID(), username: name, passwordHash: "$2b$04$hash-of-\(name)", admin: false, createdAt: date)
    }

    static func note(_ owner: UUID, _ title: String, body: String = "", tags: [String] = [], at date: Date = start) -> StoredNote {
        StoredNote(id: UUID(), ownerID: owner, title: title, body: body, tags: tags, createdAt: date, updatedAt: date, version: 1)
    }

    /// A user with an account, for note and session tests.
    static func user(_ storage: Storage, _ name: String = "alice") async throws -> UserAccount {
        let account = account(name)
        try await storage.users.create(account, logger: testLogger)
        return account
    }

    // MARK: Users

    @Test("users: create, find by name and id, list oldest first, update the hash; a taken name is refused", arguments: Engine.allCases)
    func users(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = Self.account("alice")
            let bob = Self.account("bob", at: Self.start.addingTimeInterval(1))
            try await storage.users.create(bob, logger: testLogger)
            try await storage.users.create(alice, logger: testLogger)
            #expect(try await storage.users.find(username: "alice", logger: testLogger) == alice)
            #expect(try await storage.users.find(id: bob.id, logger: testLogger) == bob)
            #expect(try await storage.users.find(username: "carol", logger: testLogger) == nil)
            #expect(try await storage.users.find(id: UUID(), logger: testLogger) == nil)
            #expect(try await storage.users.all(logger: testLogger).map(\.username) == ["alice", "bob"])
            await #expect(throws: StorageError.usernameTaken) {
                try await storage.users.create(Self.account("alice"), logger: testLogger)
            }
            try await storage.users.updatePasswordHash(id: alice.id, to: "$2b$05$new", logger: testLogger)
            #expect(try await storage.users.find(id: alice.id, logger: testLogger)?.passwordHash == "$2b$05$new")
        }
    }

    @Test("10 concurrent registrations of one username: exactly one is stored, nine are told it is taken", arguments: Engine.allCases)
    func concurrentRegistrations(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do {
                            try await storage.users.create(Self.account("same"), logger: testLogger)
                            return true
                        } catch StorageError.usernameTaken {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(outcomes.filter { !$0 }.count == 9)
            #expect(try await storage.users.all(logger: testLogger).count == 1)
        }
    }

    // MARK: Notes

    @Test("notes: create, find, update, delete; another owner's note is missing to everyone else", arguments: Engine.allCases)
    func notesCRUD(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage, "alice")
            let bob = try await Self.user(storage, "bob")
            let text = "Ünïcode ✓ \u{1F642} e\u{301} \"quoted\" 'single' -- ; DROP TABLE notes;"
            let created = try await storage.notes.create(
                Self.note(alice.id, text, body: "line 1\nline 2\t\u{7F}", tags: ["b", "a"]),
                logger: testLogger
            )
            #expect(created.title == text, "text is stored exactly")
            #expect(created.tags == ["b", "a"], "tags keep their order")
            #expect(try await storage.notes.find(id: created.id, ownerID: alice.id, logger: testLogger) == created)
            #expect(try await storage.notes.find(id: created.id, ownerID: bob.id, logger: testLogger) == nil)
            await #expect(throws: StorageError.noteNotFound) {
                try await storage.notes.update(
                    id: created.id,
                    ownerID: bob.id,
                    allowedVersions: nil,
                    changes: NoteChanges(title: "stolen"),
                    at: Self.start,
                    logger: testLogger
                )
            }
            await #expect(throws: StorageError.noteNotFound) {
                try await storage.notes.delete(id: created.id, ownerID: bob.id, allowedVersions: nil, logger: testLogger)
            }
            let later = Self.start.addingTimeInterval(60)
            let updated = try await storage.notes.update(
                id: created.id,
                ownerID: alice.id,
                allowedVersions: nil,
                changes: NoteChanges(body: "new body", tags: []),
                at: later,
                logger: testLogger
            )
            #expect(updated.title == text, "fields not named keep their value")
            #expect(updated.body == "new body")
            #expect(updated.tags == [])
            #expect(updated.version == 2)
            #expect(updated.createdAt == created.createdAt)
            #expect(updated.updatedAt == later)
            #expect(try await storage.notes.exists(ownerID: alice.id, title: text, logger: testLogger))
            #expect(try await !storage.notes.exists(ownerID: bob.id, title: text, logger: testLogger))
            try await storage.notes.delete(id: created.id, ownerID: alice.id, allowedVersions: nil, logger: testLogger)
            #expect(try await storage.notes.find(id: created.id, ownerID: alice.id, logger: testLogger) == nil)
            await #expect(throws: StorageError.noteNotFound) {
                try await storage.notes.delete(id: created.id, ownerID: alice.id, allowedVersions: nil, logger: testLogger)
            }
        }
    }

    @Test("If-Match: only a listed version may change; a mismatch says the current version", arguments: Engine.allCases)
    func versions(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let note = try await storage.notes.create(Self.note(alice.id, "v1"), logger: testLogger)
            let v2 = try await storage.notes.update(
                id: note.id,
                ownerID: alice.id,
                allowedVersions: [1],
                changes: NoteChanges(title: "v2"),
                at: Self.start,
                logger: testLogger
            )
            #expect(v2.version == 2)
            await #expect(throws: StorageError.versionMismatch(current: 2)) {
                try await storage.notes.update(
                    id: note.id,
                    ownerID: alice.id,
                    allowedVersions: [1, 3],
                    changes: NoteChanges(title: "lost"),
                    at: Self.start,
                    logger: testLogger
                )
            }
            await #expect(throws: StorageError.versionMismatch(current: 2)) {
                try await storage.notes.update(
                    id: note.id,
                    ownerID: alice.id,
                    allowedVersions: [],
                    changes: NoteChanges(title: "lost"),
                    at: Self.start,
                    logger: testLogger
                )
            }
            await #expect(throws: StorageError.versionMismatch(current: 2)) {
                try await storage.notes.delete(id: note.id, ownerID: alice.id, allowedVersions: [1], logger: testLogger)
            }
            #expect(try await storage.notes.find(id: note.id, ownerID: alice.id, logger: testLogger)?.title == "v2")
            try await storage.notes.delete(id: note.id, ownerID: alice.id, allowedVersions: [2], logger: testLogger)
            #expect(try await storage.notes.find(id: note.id, ownerID: alice.id, logger: testLogger) == nil)
        }
    }

    @Test("10 concurrent updates with the same If-Match: exactly one wins, nine see the new version", arguments: Engine.allCases)
    func concurrentIfMatch(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let note = try await storage.notes.create(Self.note(alice.id, "original"), logger: testLogger)
            let results = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        do {
                            let updated = try await storage.notes.update(
                                id: note.id,
                                ownerID: alice.id,
                                allowedVersions: [1],
                                changes: NoteChanges(title: "writer \(index)"),
                                at: Self.start,
                                logger: testLogger
                            )
                            return updated.title
                        } catch StorageError.versionMismatch(let current) {
                            #expect(current == 2)
                            return nil
                        }
                    }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            let winners = results.compactMap { $0 }
            #expect(winners.count == 1)
            let stored = try #require(try await storage.notes.find(id: note.id, ownerID: alice.id, logger: testLogger))
            #expect(stored.version == 2)
            #expect([stored.title] == winners, "the stored note is the winner's")
        }
    }

    @Test("50 concurrent creates by one owner: distinct, strictly increasing creation times", arguments: Engine.allCases)
    func concurrentCreates(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let stored = try await withThrowingTaskGroup(of: StoredNote.self) { group in
                for index in 0..<50 {
                    group.addTask { try await storage.notes.create(Self.note(alice.id, "note \(index)"), logger: testLogger) }
                }
                return try await group.reduce(into: [StoredNote]()) { $0.append($1) }
            }
            let times = stored.map(\.createdAt).sorted()
            #expect(Set(times).count == 50, "no two notes share a creation time")
            #expect(times.first == Self.start)
            // A note created later with an earlier clock is still the newest.
            let late = try await storage.notes.create(Self.note(alice.id, "late", at: Self.start), logger: testLogger)
            #expect(late.createdAt > times.last ?? .distantFuture)
            let listed = try await storage.notes.list(ownerID: alice.id, query: NoteQuery(limit: 100), logger: testLogger).notes
            #expect(listed.first?.id == late.id)
            #expect(listed.count == 51)
        }
    }

    @Test(
        "concurrent creates, updates and deletes, some failing (unknown owner, stale If-Match, missing note): each caller gets its own outcome, only successes are stored",
        arguments: Engine.allCases
    )
    func concurrentMixedWrites(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            var existing: [StoredNote] = []
            for index in 0..<8 {
                existing.append(try await storage.notes.create(Self.note(alice.id, "old \(index)"), logger: testLogger))
            }
            let notes = storage.notes
            let ids = existing.map(\.id)
            enum Outcome: Equatable, Sendable {
                case created(String)
                case updated(Int)
                case deleted
                case failed(StorageError)
            }
            let outcomes = try await withThrowingTaskGroup(of: (String, Outcome).self) { group in
                func run(_ name: String, _ body: @escaping @Sendable () async throws -> Outcome) {
                    group.addTask {
                        do { return (name, try await body()) } catch let error as StorageError { return (name, .failed(error)) }
                    }
                }
                for index in 0..<10 {
                    run("create \(index)") { .created(try await notes.create(Self.note(alice.id, "new \(index)"), logger: testLogger).title) }
                }
                for index in 0..<3 {
                    run("orphan \(index)") { .created(try await notes.create(Self.note(UUID(), "orphan \(index)"), logger: testLogger).title) }
                }
                let change = NoteChanges(title: nil, body: "changed", tags: nil)
                for index in 0..<4 {
                    run("update \(index)") {
                        .updated(
                            try await notes.update(
                                id: ids[index],
                                ownerID: alice.id,
                                allowedVersions: [1],
                                changes: change,
                                at: Self.start,
                                logger: testLogger
                            )
                            .version
                        )
                    }
                }
                run("stale update") {
                    .updated(
                        try await notes.update(
                            id: ids[4],
                            ownerID: alice.id,
                            allowedVersions: [7],
                            changes: change,
                            at: Self.start,
                            logger: testLogger
                        ).version
                    )
                }
                run("missing update") {
                    .updated(
                        try await notes.update(
                            id: UUID(),
                            ownerID: alice.id,
                            allowedVersions: nil,
                            changes: change,
                            at: Self.start,
                            logger: testLogger
                        ).version
                    )
                }
                run("delete") {
                    try await notes.delete(id: ids[5], ownerID: alice.id, allowedVersions: [1], logger: testLogger)
                    return .deleted
                }
                run("stale delete") {
                    try await notes.delete(id: ids[6], ownerID: alice.id, allowedVersions: [2], logger: testLogger)
                    return .deleted
                }
                run("missing delete") {
                    try await notes.delete(id: UUID(), ownerID: alice.id, allowedVersions: nil, logger: testLogger)
                    return .deleted
                }
                return try await group.reduce(into: [String: Outcome]()) { $0[$1.0] = $1.1 }
            }
            for index in 0..<10 { #expect(outcomes["create \(index)"] == .created("new \(index)")) }
            for index in 0..<3 { #expect(outcomes["orphan \(index)"] == .failed(.noteNotFound)) }
            for index in 0..<4 { #expect(outcomes["update \(index)"] == .updated(2)) }
            #expect(outcomes["stale update"] == .failed(.versionMismatch(current: 1)))
            #expect(outcomes["missing update"] == .failed(.noteNotFound))
            #expect(outcomes["delete"] == .deleted)
            #expect(outcomes["stale delete"] == .failed(.versionMismatch(current: 1)))
            #expect(outcomes["missing delete"] == .failed(.noteNotFound))
            let listed = try await storage.notes.list(ownerID: alice.id, query: NoteQuery(limit: 100), logger: testLogger).notes
            #expect(listed.count == 8 - 1 + 10)
            #expect(Set(listed.map(\.title)) == Set((0..<8).filter { $0 != 5 }.map { "old \($0)" } + (0..<10).map { "new \($0)" }))
            for note in listed where note.title.hasPrefix("old ") {
                let changed = ids[0..<4].contains(note.id)
                #expect(note.version == (changed ? 2 : 1), "\(note.title)")
                #expect(note.body == (changed ? "changed" : ""), "\(note.title)")
            }
            #expect(try await storage.notes.list(ownerID: UUID(), query: NoteQuery(limit: 100), logger: testLogger).notes.isEmpty)
        }
    }

    @Test("keyset pages: newest first by creation, ties by id; paging while notes are added never repeats or skips", arguments: Engine.allCases)
    func paging(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let bob = try await Self.user(storage, "bob")
            var created: [StoredNote] = []
            for index in 0..<7 { created.append(try await storage.notes.create(Self.note(alice.id, "n\(index)"), logger: testLogger)) }
            _ = try await storage.notes.create(Self.note(bob.id, "not alice's"), logger: testLogger)
            var seen: [UUID] = []
            var query = NoteQuery(limit: 3)
            while true {
                let page = try await storage.notes.list(ownerID: alice.id, query: query, logger: testLogger).notes
                seen += page.map(\.id)
                // Someone adds a note between every two pages.
                _ = try await storage.notes.create(Self.note(alice.id, "added"), logger: testLogger)
                guard page.count == query.limit, let last = page.last else { break }
                query.after = NotePosition(createdAtMs: last.createdAt.millisecondsSince1970, id: last.id)
            }
            #expect(seen == created.reversed().map(\.id))
        }
    }

    @Test("full-text search: whole words, any case or accent, every word required; tags match exactly", arguments: Engine.allCases)
    func search(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let bob = try await Self.user(storage, "bob")
            let one = try await storage.notes.create(
                Self.note(alice.id, "Refresh tokens", body: "Rotation, and reuse-detection.", tags: ["auth", "jwt"]),
                logger: testLogger
            )
            let two = try await storage.notes.create(
                Self.note(alice.id, "Groceries", body: "Café au lait; TOKENS for the bus", tags: ["home"]),
                logger: testLogger
            )
            _ = try await storage.notes.create(Self.note(bob.id, "Refresh tokens", body: "bob's", tags: ["auth"]), logger: testLogger)
            func find(_ text: String, tag: String? = nil) async throws -> Set<UUID> {
                let query = NoteQuery(limit: 100, words: SearchWords.words(in: text), tag: tag)
                return Set(try await storage.notes.list(ownerID: alice.id, query: query, logger: testLogger).notes.map(\.id))
            }
            #expect(try await find("tokens") == [one.id, two.id], "any case, title or body, only the owner's")
            #expect(try await find("TOKENS refresh") == [one.id], "every word must appear")
            #expect(try await find("token") == [], "whole words, no stems or prefixes")
            #expect(try await find("reuse") == [one.id], "punctuation separates words")
            #expect(try await find("detection rotation") == [one.id])
            #expect(try await find("cafe") == [two.id], "accents are folded")
            #expect(try await find("CAFÉ") == [two.id])
            #expect(try await find("lait bus") == [two.id])
            #expect(try await find("nothing") == [])
            #expect(try await find("tokens", tag: "home") == [two.id])
            let auth = NoteQuery(limit: 100, tag: "auth")
            #expect(try await storage.notes.list(ownerID: alice.id, query: auth, logger: testLogger).notes.map(\.id) == [one.id])
            let prefix = NoteQuery(limit: 100, tag: "jw")
            #expect(try await storage.notes.list(ownerID: alice.id, query: prefix, logger: testLogger).notes.isEmpty, "tags match exactly")
            // The index follows edits and deletes.
            _ = try await storage.notes.update(
                id: two.id,
                ownerID: alice.id,
                allowedVersions: nil,
                changes: NoteChanges(body: "nothing here"),
                at: Self.start,
                logger: testLogger
            )
            #expect(try await find("bus") == [])
            #expect(try await find("groceries nothing") == [two.id])
            try await storage.notes.delete(id: one.id, ownerID: alice.id, allowedVersions: nil, logger: testLogger)
            #expect(try await find("rotation") == [])
        }
    }

    @Test(
        "search pages: newest first across cursors, with 20 concurrent matching creates, other owners' matches in between, edits, and the cursor's own note deleted",
        arguments: Engine.allCases
    )
    func searchPaging(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let bob = try await Self.user(storage, "bob")
            // Created concurrently, alice's and bob's matching notes interleaved, some of alice's
            // not matching: the order a search pages in must still be alice's creation order.
            let stored = try await withThrowingTaskGroup(of: StoredNote.self) { group in
                for index in 0..<20 {
                    group.addTask { try await storage.notes.create(Self.note(alice.id, "match \(index)", body: "common"), logger: testLogger) }
                    group.addTask { try await storage.notes.create(Self.note(bob.id, "bob \(index)", body: "common"), logger: testLogger) }
                    group.addTask { try await storage.notes.create(Self.note(alice.id, "other \(index)", body: "elsewhere"), logger: testLogger) }
                }
                return try await group.reduce(into: [StoredNote]()) { $0.append($1) }
            }
            let expected = stored.filter { $0.ownerID == alice.id && $0.body == "common" }
                .sorted { ($0.createdAt, $0.id.uuidString) > ($1.createdAt, $1.id.uuidString) }
                .map(\.id)
            #expect(expected.count == 20)
            // An edit does not move a note.
            _ = try await storage.notes.update(
                id: expected[15],
                ownerID: alice.id,
                allowedVersions: nil,
                changes: NoteChanges(title: "edited"),
                at: Self.start.addingTimeInterval(3_600),
                logger: testLogger
            )
            var seen: [UUID] = []
            var query = NoteQuery(limit: 6, words: ["common"])
            var pages = 0
            while pages < 10 {
                pages += 1
                let listing = try await storage.notes.list(ownerID: alice.id, query: query, logger: testLogger)
                seen += listing.notes.map(\.id)
                guard listing.fetched == query.limit, let last = listing.notes.last else { break }
                query.after = NotePosition(createdAtMs: last.createdAt.millisecondsSince1970, id: last.id)
                if pages == 1 {
                    // The note the cursor points to is deleted before the next page is asked for.
                    try await storage.notes.delete(id: last.id, ownerID: alice.id, allowedVersions: nil, logger: testLogger)
                }
                if pages == 2 {
                    // A newer match added mid-way is not on a later page (it is before the cursor).
                    _ = try await storage.notes.create(Self.note(alice.id, "late", body: "common"), logger: testLogger)
                }
            }
            #expect(seen == expected, "every match of alice's once, newest first")
            let again = try await storage.notes.list(
                ownerID: alice.id,
                query: NoteQuery(limit: 100, words: ["common"]),
                logger: testLogger
            )
            #expect(again.notes.count == 20, "19 left of the 20, and the late one")
            #expect(again.notes.dropFirst().map(\.id) == seen.filter { $0 != seen[5] }, "the late one is the newest")
        }
    }

    // MARK: Sessions

    @Test("sessions: rotate, reuse revokes the family, logout, expiry and the sweep", arguments: Engine.allCases)
    func sessions(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let sessions = storage.sessions
            let expires = Self.start.addingTimeInterval(3_600)
            let family = UUID()
            try await sessions.createFamily(
                id: family,
                userID: alice.id,
                tokenHash: "t1",
                createdAt: Self.start,
                expiresAt: expires,
                limits: SessionLimits(),
                logger: testLogger
            )
            let now = Self.start.addingTimeInterval(10)
            #expect(
                try await sessions.rotate(tokenHash: "t1", newTokenHash: "t2", at: now, limits: SessionLimits(), logger: testLogger)
                    == .rotated(userID: alice.id, familyID: family, familyExpiresAt: expires)
            )
            #expect(
                try await sessions.rotate(tokenHash: "t2", newTokenHash: "t3", at: now, limits: SessionLimits(), logger: testLogger)
                    == .rotated(userID: alice.id, familyID: family, familyExpiresAt: expires),
                "rotation does not extend the family"
            )
            #expect(try await sessions.rotate(tokenHash: "t1", newTokenHash: "x", at: now, limits: SessionLimits(), logger: testLogger) == .reused)
            #expect(
                try await sessions.rotate(tokenHash: "t3", newTokenHash: "t4", at: now, limits: SessionLimits(), logger: testLogger) == .invalid,
                "the family is revoked"
            )
            #expect(
                try await sessions.rotate(tokenHash: "unknown", newTokenHash: "y", at: now, limits: SessionLimits(), logger: testLogger) == .invalid
            )

            // One user per family: a login clears its own user's dead families.
            let bob = try await Self.user(storage, "bob")
            let carol = try await Self.user(storage, "carol")
            let dave = try await Self.user(storage, "dave")
            try await sessions.createFamily(
                id: UUID(),
                userID: bob.id,
                tokenHash: "l1",
                createdAt: Self.start,
                expiresAt: expires,
                limits: SessionLimits(),
                logger: testLogger
            )
            try await sessions.revokeFamily(tokenHash: "l1", at: now, logger: testLogger)
            try await sessions.revokeFamily(tokenHash: "never-issued", at: now, logger: testLogger)
            #expect(try await sessions.rotate(tokenHash: "l1", newTokenHash: "l2", at: now, limits: SessionLimits(), logger: testLogger) == .invalid)

            try await sessions.createFamily(
                id: UUID(),
                userID: carol.id,
                tokenHash: "e1",
                createdAt: Self.start,
                expiresAt: expires,
                limits: SessionLimits(),
                logger: testLogger
            )
            #expect(
                try await sessions.rotate(tokenHash: "e1", newTokenHash: "e2", at: expires, limits: SessionLimits(), logger: testLogger) == .expired,
                "expired at its end"
            )

            try await sessions.createFamily(
                id: UUID(),
                userID: dave.id,
                tokenHash: "k1",
                createdAt: Self.start,
                expiresAt: expires,
                limits: SessionLimits(),
                logger: testLogger
            )
            // Two revoked families and one expired one (at `expires`) go; the live one stays.
            #expect(try await sessions.deleteEnded(at: now, logger: testLogger) == 2)
            #expect(try await sessions.deleteEnded(at: expires, logger: testLogger) == 2)
            #expect(try await sessions.deleteEnded(at: expires, logger: testLogger) == 0)
        }
    }

    @Test(
        "20 concurrent rotations of one refresh token: exactly one rotates, the rest are reuse, the family ends revoked",
        arguments: Engine.allCases
    )
    func concurrentRotations(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            try await storage.sessions.createFamily(
                id: UUID(),
                userID: alice.id,
                tokenHash: "root",
                createdAt: Self.start,
                expiresAt: Self.start.addingTimeInterval(3_600),
                limits: SessionLimits(),
                logger: testLogger
            )
            let outcomes = try await withThrowingTaskGroup(of: (RotationOutcome, String).self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let next = "child-\(index)"
                        return (
                            try await storage.sessions.rotate(
                                tokenHash: "root",
                                newTokenHash: next,
                                at: Self.start,
                                limits: SessionLimits(),
                                logger: testLogger
                            ), next
                        )
                    }
                }
                return try await group.reduce(into: [(RotationOutcome, String)]()) { $0.append($1) }
            }
            let rotated = outcomes.filter { if case .rotated = $0.0 { true } else { false } }
            #expect(rotated.count == 1)
            #expect(outcomes.filter { $0.0 == .reused }.count == 19)
            let child = try #require(rotated.first?.1)
            #expect(
                try await storage.sessions.rotate(
                    tokenHash: child,
                    newTokenHash: "grandchild",
                    at: Self.start,
                    limits: SessionLimits(),
                    logger: testLogger
                ) == .invalid,
                "the one descendant is revoked with its family"
            )
        }
    }

    @Test("sessions: listed newest first with their last use; one or all revoked; only the owner's", arguments: Engine.allCases)
    func sessionListing(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let bob = try await Self.user(storage, "bob")
            let sessions = storage.sessions
            let expires = Self.start.addingTimeInterval(3_600)
            var ids: [UUID] = []
            for index in 0..<3 {
                let id = UUID()
                ids.append(id)
                try await sessions.createFamily(
                    id: id,
                    userID: alice.id,
                    tokenHash: "a\(index)",
                    createdAt: Self.start.addingTimeInterval(Double(index)),
                    expiresAt: expires,
                    limits: SessionLimits(),
                    logger: testLogger
                )
            }
            let bobs = UUID()
            try await sessions.createFamily(
                id: bobs,
                userID: bob.id,
                tokenHash: "b0",
                createdAt: Self.start,
                expiresAt: expires,
                limits: SessionLimits(),
                logger: testLogger
            )
            let used = Self.start.addingTimeInterval(100)
            _ = try await sessions.rotate(tokenHash: "a0", newTokenHash: "a0'", at: used, limits: SessionLimits(), logger: testLogger)
            let listed = try await sessions.live(userID: alice.id, at: used, logger: testLogger)
            #expect(listed.map(\.id) == ids.reversed(), "newest first, only alice's")
            #expect(listed.last?.lastUsedAt == used, "a refresh is a use")
            #expect(listed.first?.lastUsedAt == listed.first?.createdAt)
            #expect(try await !sessions.revoke(id: bobs, userID: alice.id, at: used, logger: testLogger), "another user's session is not found")
            #expect(try await sessions.revoke(id: ids[1], userID: alice.id, at: used, logger: testLogger))
            #expect(try await sessions.revoke(id: ids[1], userID: alice.id, at: used, logger: testLogger), "revoking an ended session is fine")
            #expect(try await sessions.rotate(tokenHash: "a1", newTokenHash: "x", at: used, limits: SessionLimits(), logger: testLogger) == .invalid)
            try await sessions.revokeAll(userID: alice.id, except: ids[2], at: used, logger: testLogger)
            #expect(try await sessions.live(userID: alice.id, at: used, logger: testLogger).map(\.id) == [ids[2]])
            try await sessions.revokeAll(userID: alice.id, except: nil, at: used, logger: testLogger)
            #expect(try await sessions.live(userID: alice.id, at: used, logger: testLogger).isEmpty)
            #expect(try await sessions.live(userID: bob.id, at: used, logger: testLogger).map(\.id) == [bobs], "bob keeps his")
            #expect(try await sessions.live(userID: bob.id, at: expires, logger: testLogger).isEmpty, "an expired session is not listed")
        }
    }

    @Test(
        "sessions are bounded: a new login ends the oldest beyond the limit; a session keeps only its newest spent tokens",
        arguments: Engine.allCases
    )
    func sessionBounds(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let alice = try await Self.user(storage)
            let sessions = storage.sessions
            let limits = SessionLimits(maxLivePerUser: 3, spentTokensKept: 4)
            let expires = Self.start.addingTimeInterval(3_600)
            var ids: [UUID] = []
            for index in 0..<5 {
                let id = UUID()
                ids.append(id)
                try await sessions.createFamily(
                    id: id,
                    userID: alice.id,
                    tokenHash: "s\(index)",
                    createdAt: Self.start.addingTimeInterval(Double(index)),
                    expiresAt: expires,
                    limits: limits,
                    logger: testLogger
                )
            }
            #expect(try await sessions.live(userID: alice.id, at: Self.start, logger: testLogger).map(\.id) == Array(ids.suffix(3).reversed()))
            #expect(try await sessions.rotate(tokenHash: "s0", newTokenHash: "z", at: Self.start, limits: limits, logger: testLogger) == .invalid)
            // Ten rotations of the newest session: only four spent tokens stay known.
            var token = "s4"
            for index in 0..<10 {
                let next = "s4-\(index)"
                guard
                    case .rotated = try await sessions.rotate(
                        tokenHash: token,
                        newTokenHash: next,
                        at: Self.start,
                        limits: limits,
                        logger: testLogger
                    )
                else {
                    Issue.record("rotation \(index) failed")
                    return
                }
                token = next
            }
            #expect(
                try await sessions.rotate(tokenHash: "s4-1", newTokenHash: "y", at: Self.start, limits: limits, logger: testLogger) == .invalid,
                "a spent token past the kept ones is forgotten"
            )
            #expect(
                try await sessions.rotate(tokenHash: "s4-7", newTokenHash: "y", at: Self.start, limits: limits, logger: testLogger) == .reused,
                "a recent spent token is still reuse"
            )
        }
    }

    // MARK: Login attempts

    @Test(
        "login counts: five failures lock the key until the window ends; success resets; cancelled attempts do not count",
        arguments: Engine.allCases
    )
    func loginAttempts(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let attempts = storage.loginAttempts
            let rule = LoginThrottleRule()
            let t0 = Self.start
            func attempt(_ key: String, _ outcome: LoginOutcome, at date: Date) async throws -> LoginAdmission {
                let admission = try await attempts.admit(key: key, at: date, rule: rule, logger: testLogger)
                if admission == .admitted { try await attempts.settle(key: key, outcome: outcome, at: date, rule: rule, logger: testLogger) }
                return admission
            }
            for _ in 0..<4 { #expect(try await attempt("alice", .failure, at: t0) == .admitted) }
            #expect(try await attempt("alice", .success, at: t0) == .admitted, "a success before the limit resets the count")
            for _ in 0..<20 { #expect(try await attempt("alice", .cancelled, at: t0) == .admitted, "busy refusals never count") }
            for index in 0..<5 { #expect(try await attempt("alice", .failure, at: t0.addingTimeInterval(Double(index))) == .admitted) }
            #expect(try await attempt("alice", .success, at: t0.addingTimeInterval(60)) == .lockedOut(retryAfter: 840))
            #expect(try await attempt("bob", .success, at: t0.addingTimeInterval(60)) == .admitted, "other keys are not affected")
            #expect(try await attempts.deleteExpired(at: t0.addingTimeInterval(60), rule: rule, logger: testLogger) == 0)
            #expect(try await attempt("alice", .success, at: t0.addingTimeInterval(900)) == .admitted, "the window is fixed from the first failure")
            for _ in 0..<3 { _ = try await attempt("carol", .failure, at: t0) }
            #expect(try await attempts.deleteExpired(at: t0.addingTimeInterval(899), rule: rule, logger: testLogger) == 0)
            #expect(try await attempts.deleteExpired(at: t0.addingTimeInterval(900), rule: rule, logger: testLogger) == 1)
        }
    }

    @Test("login places: held places make others wait, not fail; a lapsed reservation frees its place", arguments: Engine.allCases)
    func loginReservations(engine: Engine) async throws {
        try await withStorage(engine) { storage in
            let attempts = storage.loginAttempts
            let rule = LoginThrottleRule()
            let t0 = Self.start
            for _ in 0..<5 { #expect(try await attempts.admit(key: "dave", at: t0, rule: rule, logger: testLogger) == .admitted) }
            #expect(try await attempts.admit(key: "dave", at: t0, rule: rule, logger: testLogger) == .wait)
            try await attempts.settle(key: "dave", outcome: .success, at: t0, rule: rule, logger: testLogger)
            #expect(try await attempts.admit(key: "dave", at: t0, rule: rule, logger: testLogger) == .admitted)
            let lapsed = t0.addingTimeInterval(Double(rule.reservationMs) / 1_000)
            #expect(try await attempts.admit(key: "dave", at: lapsed, rule: rule, logger: testLogger) == .admitted, "a dead server's places lapse")
        }
    }
}
