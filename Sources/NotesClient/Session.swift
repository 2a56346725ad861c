public import Foundation
public import NotesModels

/// What `session.json` holds: the server a user logged in to and the current token pair.
///
/// `description` never shows the tokens, so a session can be logged or printed safely.
public struct Session: Codable, Sendable, Equatable, CustomStringConvertible {
    public var server: String
    public var username: String
    public var accessToken: String
    public var refreshToken: String
    public var accessTokenExpiresAt: Date
    public var refreshTokenExpiresAt: Date

    public init(
        server: String,
        username: String,
        accessToken: String,
        refreshToken: String,
        accessTokenExpiresAt: Date,
        refreshTokenExpiresAt: Date
    ) {
        self.server = server
        self.username = username
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.accessTokenExpiresAt = accessTokenExpiresAt
        self.refreshTokenExpiresAt = refreshTokenExpiresAt
    }

    /// A session from a login or refresh answer received at `now`.
    /// Expiry instants are whole seconds (rounded down, so never later than the server's),
    /// which is what `session.json`'s ISO 8601 dates can hold.
    public init(server: String, username: String, pair: TokenPair, receivedAt now: Date = Date()) {
        let now = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        self.init(
            server: server,
            username: username,
            accessToken: pair.accessToken,
            refreshToken: pair.refreshToken,
            accessTokenExpiresAt: now.addingTimeInterval(TimeInterval(pair.expiresIn)),
            refreshTokenExpiresAt: now.addingTimeInterval(TimeInterval(pair.refreshExpiresIn))
        )
    }

    public var description: String {
        "Session(server: \(server), username: \(username), accessTokenExpiresAt: \(accessTokenExpiresAt), tokens: <redacted>)"
    }
}
