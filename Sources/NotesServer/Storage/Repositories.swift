import Foundation

/// An account as the server keeps it: the password only as a bcrypt hash.
struct UserAccount: Sendable, Equatable {
    var id: UUID
    var username: String
    var passwordHash: String
    var admin: Bool
    var createdAt: Date
}

/// A note as the server keeps it; `createdAt`/`updatedAt` have millisecond precision.
struct StoredNote: Sendable, Equatable {
    var id: UUID
    var ownerID: UUID
    var title: String
    var body: String
    var tags: [String]
    var createdAt: Date
    var updatedAt: Date
    var version: Int
}

/// Where a page starts: strictly after this note in newest-first order.
struct NotePosition: Sendable, Equatable, Codable {
    /// Milliseconds since 1970 of the note's creation.
    var createdAtMs: Int64
    var id: UUID
}

/// A filtered, keyset-paginated listing of one user's notes.
struct NoteQuery: Sendable {
    var limit: Int
    var after: NotePosition?
    /// Words that must all appear in title or body (whole words, any case).
    var words: [String] = []
    var tag: String?
}

/// The fields a change sets; nil leaves a field as it is.
struct NoteChanges: Sendable {
    var title: String?
    var body: String?
    var tags: [String]?
}

/// Failures the storage layer reports in domain terms.
enum StorageError: Error, Equatable {
    case usernameTaken
    case noteNotFound
    case versionMismatch(current: Int)
}

protocol UserRepository: Sendable {
    /// Throws ``StorageError/usernameTaken`` when the username exists.
    func create(_ account: UserAccount) async throws
    func find(username: String) async throws -> UserAccount?
    func find(id: UUID) async throws -> UserAccount?
    /// Every account, oldest first.
    func all() async throws -> [UserAccount]
    /// Replaces an account's password hash (after a cost change).
    func updatePasswordHash(id: UUID, to hash: String) async throws
}

protocol NoteRepository: Sendable {
    /// Stores a note; its `createdAt` may move a millisecond or so later, so that it is strictly
    /// newer than the owner's other notes. Returns the note as stored.
    func create(_ note: StoredNote) async throws -> StoredNote
    /// Nil when the note does not exist or belongs to someone else.
    func find(id: UUID, ownerID: UUID) async throws -> StoredNote?
    /// Up to `query.limit` notes, newest first (ties by id, descending).
    func list(ownerID: UUID, query: NoteQuery) async throws -> [StoredNote]
    /// Applies `changes` atomically when `allowedVersions` is nil (no If-Match, or `*`) or holds
    /// the current version; bumps the version.
    func update(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, changes: NoteChanges, at date: Date) async throws -> StoredNote
    func delete(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?) async throws
    func exists(ownerID: UUID, title: String) async throws -> Bool
}

/// The result of presenting a refresh token.
enum RotationOutcome: Sendable, Equatable {
    /// The token was current: it is now spent and `newTokenHash` replaces it in its family.
    case rotated(userID: UUID, familyExpiresAt: Date)
    /// The token had already been rotated: its whole family is now revoked.
    case reused
    /// Unknown, expired or revoked.
    case invalid
}

protocol SessionRepository: Sendable {
    /// Starts a session family with its first refresh token (stored as a hash only).
    func createFamily(id: UUID, userID: UUID, tokenHash: String, createdAt: Date, expiresAt: Date) async throws
    /// Spends `tokenHash` and stores `newTokenHash` in its family, atomically.
    func rotate(tokenHash: String, newTokenHash: String, at date: Date) async throws -> RotationOutcome
    /// Revokes the family of `tokenHash`; nothing happens for an unknown one.
    func revokeFamily(tokenHash: String, at date: Date) async throws
    /// Deletes every expired or revoked family with its tokens; returns how many families.
    /// (Their tokens would be refused anyway: unknown and revoked answer alike.)
    func deleteEnded(at date: Date) async throws -> Int
}

/// One database engine's repositories, plus a liveness check for `/health`.
struct Storage: Sendable {
    var users: any UserRepository
    var notes: any NoteRepository
    var sessions: any SessionRepository
    var ping: @Sendable () async throws -> Void
    /// Closes connections when the server stops.
    var close: @Sendable () async throws -> Void
}
