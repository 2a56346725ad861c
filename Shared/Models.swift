public import Foundation

/// An account, as `/me`, `/users` and `/auth/register` return it.
public struct User: Codable, Sendable, Equatable, Hashable {
    public var id: UUID
    public var username: String
    public var admin: Bool
    public var createdAt: Date

    public init(id: UUID, username: String, admin: Bool, createdAt: Date) {
        self.id = id
        self.username = username
        self.admin = admin
        self.createdAt = createdAt
    }
}

/// A note owned by one user. `version` starts at 1 and grows by one with each change;
/// the strong `ETag` of a note is `"<version>"`.
public struct Note: Codable, Sendable, Equatable, Hashable {
    public var id: UUID
    public var title: String
    public var body: String
    public var tags: [String]
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int

    public init(id: UUID, title: String, body: String, tags: [String], createdAt: Date, updatedAt: Date, version: Int) {
        self.id = id
        self.title = title
        self.body = body
        self.tags = tags
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
    }

    /// The strong entity tag the server sends for this note.
    public var etag: String { "\"\(version)\"" }
}

/// `POST /auth/register` and `POST /auth/login` body.
public struct Credentials: Codable, Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// `POST /auth/refresh` and `POST /auth/logout` body.
public struct RefreshRequest: Codable, Sendable, Equatable {
    public var refreshToken: String

    public init(refreshToken: String) {
        self.refreshToken = refreshToken
    }
}

/// The answer to a login or a refresh. Lifetimes are in seconds.
public struct TokenPair: Codable, Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String
    public var tokenType: String
    public var expiresIn: Int
    public var refreshExpiresIn: Int

    public init(accessToken: String, refreshToken: String, tokenType: String = "Bearer", expiresIn: Int, refreshExpiresIn: Int) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.tokenType = tokenType
        self.expiresIn = expiresIn
        self.refreshExpiresIn = refreshExpiresIn
    }
}

/// `POST /notes` and `PUT /notes/{id}` body: `title` is required, `body` defaults to `""`
/// and `tags` to `[]`.
public struct NoteInput: Codable, Sendable, Equatable {
    public var title: String
    public var body: String?
    public var tags: [String]?

    public init(title: String, body: String? = nil, tags: [String]? = nil) {
        self.title = title
        self.body = body
        self.tags = tags
    }
}

/// `PATCH /notes/{id}` body: only the fields present change.
public struct NotePatch: Codable, Sendable, Equatable {
    public var title: String?
    public var body: String?
    public var tags: [String]?

    public init(title: String? = nil, body: String? = nil, tags: [String]? = nil) {
        self.title = title
        self.body = body
        self.tags = tags
    }
}

/// One page of a keyset-paginated list; `nextCursor` is nil on the last page.
public struct Page<Item: Codable & Sendable>: Codable, Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    public func encode(to encoder: any Encoder) throws {
        // `nextCursor: null` is written out so clients see the field on the last page too.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }

    private enum CodingKeys: String, CodingKey {
        case items, nextCursor
    }
}

/// `GET /health` answer.
public struct HealthStatus: Codable, Sendable, Equatable {
    public var status: String

    public init(status: String) {
        self.status = status
    }
}

/// `POST /auth/password` body.
public struct PasswordChangeRequest: Codable, Sendable, Equatable {
    public var currentPassword: String
    public var newPassword: String

    public init(currentPassword: String, newPassword: String) {
        self.currentPassword = currentPassword
        self.newPassword = newPassword
    }
}

/// One live session (refresh-token family) of the user, as `GET /auth/sessions` lists it.
/// `current` is true for the session of the access token that asked.
public struct Session: Codable, Sendable, Equatable, Hashable {
    public var id: UUID
    public var createdAt: Date
    public var lastUsedAt: Date
    public var expiresAt: Date
    public var current: Bool

    public init(id: UUID, createdAt: Date, lastUsedAt: Date, expiresAt: Date, current: Bool) {
        self.id = id
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
        self.current = current
    }
}
