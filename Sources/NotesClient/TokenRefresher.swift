import Foundation
import NIOHTTP1
import NotesModels

/// Keeps one access token fresh for one server.
///
/// Inside a process, refreshing is single-flight: callers that find the token expired while
/// a refresh is running wait for it instead of starting another. Across processes, the
/// refresh runs under the cache's file lock and re-reads the cache first, so a process that
/// lost the race reuses the pair the winner wrote instead of presenting a refresh token that
/// has already been rotated (which the server would treat as reuse and revoke the family).
actor TokenRefresher {
    private let store: SessionStore
    private let transport: Transport
    private var inFlight: Task<Session, any Error>?

    init(store: SessionStore, transport: Transport) {
        self.store = store
        self.transport = transport
    }

    /// The cached session for this server.
    func currentSession() async throws -> Session {
        guard let session = try await store.load(), session.server == transport.server else {
            throw NotesClientError.notLoggedIn(transport.server)
        }
        return session
    }

    /// A session whose access token is newer than `rejectedAccessToken`.
    func refresh(after rejectedAccessToken: String) async throws -> Session {
        if let inFlight {
            return try await inFlight.value
        }
        // An unstructured task: cancelling one caller must not abandon a rotation half way
        // (the server would have rotated the token and we would never store the new one).
        let task = Task { try await self.performRefresh(after: rejectedAccessToken) }
        inFlight = task
        defer { inFlight = nil }
        return try await task.value
    }

    private func performRefresh(after rejectedAccessToken: String) async throws -> Session {
        try await store.withExclusiveLock {
            let current = try await currentSession()
            if current.accessToken != rejectedAccessToken {
                transport.observer(.reusedRefreshedSession)
                return current
            }
            transport.observer(.refreshing)
            let body = try NotesJSON.encoder().encode(RefreshRequest(refreshToken: current.refreshToken))
            let raw = try await transport.send(.POST, "/auth/refresh", json: body)
            let pair: TokenPair
            do {
                pair = try Transport.decodeTokenPair(from: raw)
            } catch let error as NotesClientError where error.code == .server && error.status == 401 {
                try await store.delete()
                // The server gives one message for an unknown, expired or revoked token (and
                // another for reuse); the cache knows when the session was due to end.
                if Date() >= current.refreshTokenExpiresAt { throw NotesClientError.sessionExpired }
                throw NotesClientError.sessionRevoked(reason: error.detail?.message ?? "refresh token refused")
            }
            let renewed = Session(server: current.server, username: current.username, pair: pair)
            try await store.save(renewed)
            return renewed
        }
    }
}
