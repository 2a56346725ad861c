import Foundation
import Logging
import ServiceLifecycle

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
    /// Words that must all appear in title or body (whole words, any case), as
    /// ``SearchWords/words(in:)`` makes them.
    var words: [String] = []
    var tag: String?
    /// Title and body bytes the answer may carry: rows past the first one that starts at or
    /// beyond it are left out (the first row always comes).
    var byteBudget: Int?
}

/// What a listing found: the notes, and how many matched within `limit` before the byte
/// budget was applied (more than `notes.count` means the budget cut the page short).
struct NoteListing: Sendable, Equatable {
    var notes: [StoredNote]
    var fetched: Int
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
    /// The database does not answer (down, unreachable, or too slow): nothing was changed
    /// that the caller can see, and the request may be tried again.
    case unavailable
}

protocol UserRepository: Sendable {
    /// Throws ``StorageError/usernameTaken`` when the username exists.
    func create(_ account: UserAccount, logger: Logger) async throws
    func find(username: String, logger: Logger) async throws -> UserAccount?
    func find(id: UUID, logger: Logger) async throws -> UserAccount?
    /// Every account, oldest first.
    func all(logger: Logger) async throws -> [UserAccount]
    /// Replaces an account's password hash (after a cost change).
    func updatePasswordHash(id: UUID, to hash: String, logger: Logger) async throws
}

protocol NoteRepository: Sendable {
    /// Stores a note; its `createdAt` may move a millisecond or so later, so that it is strictly
    /// newer than every note its owner has ever created (concurrent creates included). Returns
    /// the note as stored.
    func create(_ note: StoredNote, logger: Logger) async throws -> StoredNote
    /// Nil when the note does not exist or belongs to someone else.
    func find(id: UUID, ownerID: UUID, logger: Logger) async throws -> StoredNote?
    /// Up to `query.limit` notes, newest first (ties by id, descending), each starting within
    /// the byte budget.
    func list(ownerID: UUID, query: NoteQuery, logger: Logger) async throws -> NoteListing
    /// Applies `changes` in one conditional statement when `allowedVersions` is nil (no
    /// If-Match, or `*`) or holds the current version; bumps the version.
    func update(
        id: UUID,
        ownerID: UUID,
        allowedVersions: Set<Int>?,
        changes: NoteChanges,
        at date: Date,
        logger: Logger
    ) async throws
        -> StoredNote
    func delete(id: UUID, ownerID: UUID, allowedVersions: Set<Int>?, logger: Logger) async throws
    func exists(ownerID: UUID, title: String, logger: Logger) async throws -> Bool
}

/// The result of presenting a refresh token.
enum RotationOutcome: Sendable, Equatable {
    /// The token was current: it is now spent and `newTokenHash` replaces it in its family.
    case rotated(userID: UUID, familyID: UUID, familyExpiresAt: Date)
    /// The token had already been rotated: its whole family is now revoked.
    case reused
    /// The family has ended (its fixed lifetime is over).
    case expired
    /// Unknown (never issued, or forgotten) or revoked.
    case invalid
}

/// A live session family as storage keeps it.
struct SessionRecord: Sendable, Equatable {
    var id: UUID
    var createdAt: Date
    var lastUsedAt: Date
    var expiresAt: Date
}

/// The bounds on what one user's sessions may hold (API.md "Sessions are bounded").
struct SessionLimits: Sendable {
    /// Live sessions per user; a new login ends the oldest beyond this.
    var maxLivePerUser = 20
    /// Spent refresh tokens a session keeps for reuse detection (the newest ones); an older
    /// spent token is forgotten, and presenting it is answered like an unknown token.
    var spentTokensKept = 100
}

protocol SessionRepository: Sendable {
    /// Starts a session family with its first refresh token (stored as a hash only), and ends
    /// the user's oldest live sessions beyond `limits.maxLivePerUser`, under a lock on the user.
    func createFamily(
        id: UUID,
        userID: UUID,
        tokenHash: String,
        createdAt: Date,
        expiresAt: Date,
        limits: SessionLimits,
        logger: Logger
    ) async throws
    /// Spends `tokenHash` and stores `newTokenHash` in its family, under a lock on the family:
    /// of concurrent presentations of one token exactly one rotates it, the others are reuse.
    /// Keeps only the newest `limits.spentTokensKept` spent tokens of the family.
    func rotate(tokenHash: String, newTokenHash: String, at date: Date, limits: SessionLimits, logger: Logger) async throws -> RotationOutcome
    /// Revokes the family of `tokenHash`; nothing happens for an unknown one.
    func revokeFamily(tokenHash: String, at date: Date, logger: Logger) async throws
    /// The user's live sessions, newest first.
    func live(userID: UUID, at date: Date, logger: Logger) async throws -> [SessionRecord]
    /// Revokes one of the user's sessions; false when no session of that id is the user's.
    func revoke(id: UUID, userID: UUID, at date: Date, logger: Logger) async throws -> Bool
    /// Revokes every live session of the user but `except`.
    func revokeAll(userID: UUID, except: UUID?, at date: Date, logger: Logger) async throws
    /// Deletes every expired or revoked family with its tokens; returns how many families.
    /// (Their tokens would be refused anyway: unknown and revoked answer alike.)
    func deleteEnded(at date: Date, logger: Logger) async throws -> Int
}

/// Login attempts counted per key (a username, or one shared key for impossible ones), kept
/// in the database so that replicas share them and a restart keeps them. Each call reads and
/// writes one key's row under a lock, applying ``LoginThrottleRule``.
protocol LoginAttemptRepository: Sendable {
    /// Decides whether an attempt may go on to the password check; an admitted one holds a
    /// reservation until ``settle(key:outcome:at:rule:logger:)``.
    func admit(key: String, at date: Date, rule: LoginThrottleRule, logger: Logger) async throws -> LoginAdmission
    /// Ends an admitted attempt's reservation with what the password check said.
    func settle(key: String, outcome: LoginOutcome, at date: Date, rule: LoginThrottleRule, logger: Logger) async throws
    /// Deletes rows whose window has ended and that hold no live reservation; returns how many.
    func deleteExpired(at date: Date, rule: LoginThrottleRule, logger: Logger) async throws -> Int
}

/// One database engine's repositories, plus a liveness check for `/health`.
struct Storage: Sendable {
    var users: any UserRepository
    var notes: any NoteRepository
    var sessions: any SessionRepository
    var loginAttempts: any LoginAttemptRepository
    var signingKeys: any SigningKeyRepository
    var ping: @Sendable () async throws -> Void
    /// What must run while the server runs (PostgreSQL's connection pool), and what closes
    /// the database when it stops. They are added to the application's services.
    var services: [any Service]
    /// Brings the schema up to date; runs with `services` running, before the server binds.
    var prepare: @Sendable (_ logger: Logger) async throws -> Void
    /// Runs `work` only while holding the database lock `key`, so one replica at a time does
    /// it; returns whether it ran (false: another one holds the lock). SQLite has one server,
    /// so there it always runs.
    var whileHoldingLock: LockRunner = Storage.runWithoutLock
}
