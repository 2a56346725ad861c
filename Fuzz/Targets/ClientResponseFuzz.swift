import Foundation
import NIOHTTP1
import NotesModels

@testable import NotesClient

/// What the client makes of a server's answer: error bodies (``Transport/check(_:)``), token
/// pairs (``Transport/decodeTokenPair(from:)``, then the session it becomes), the expiry test
/// that starts a refresh, and the JWT display of `notes token`. The server may be hostile.
///
/// Input: a status byte, then the `Retry-After` and `ETag` header values each up to a
/// newline, then the body.
enum ClientResponseFuzz {
    static let statuses = [200, 201, 204, 304, 400, 401, 403, 404, 409, 412, 413, 415, 429, 500, 503]

    static func run(_ data: Data) {
        guard let first = data.first else { return }
        let status = statuses[Int(first) % statuses.count]
        var rest = Data(data.dropFirst())
        var headers = HTTPHeaders()
        for name in ["Retry-After", "ETag"] {
            let line = rest.prefix(while: { $0 != UInt8(ascii: "\n") })
            rest = Data(rest.dropFirst(line.count + 1))
            if !line.isEmpty { headers.add(name: name, value: String(decoding: line, as: UTF8.self)) }
        }
        let raw = RawResponse(status: status, headers: headers, body: rest)

        do {
            try Transport.check(raw)
        } catch {
            _ = String(describing: error)
        }
        _ = Transport.isTokenExpired(raw)
        do {
            let pair = try Transport.decodeTokenPair(from: raw)
            let session = Session(
                server: "http://127.0.0.1:8080",
                username: "fuzz",
                pair: pair,
                receivedAt: Date(timeIntervalSince1970: 1_700_000_000)
            )
            _ = try NotesJSON.encoder().encode(session)
            if let jwt = try? UnverifiedJWT(pair.accessToken) {
                _ = (jwt.headerJSON, jwt.payloadJSON, jwt.claims, jwt.expiresAt, jwt.notBefore, jwt.issuedAt)
            }
        } catch {
            _ = String(describing: error)
        }
        // `notes token` shows whatever access token the cache holds.
        if let jwt = try? UnverifiedJWT(String(decoding: rest, as: UTF8.self)) {
            _ = (jwt.headerJSON, jwt.payloadJSON, jwt.claims, jwt.expiresAt)
        }
    }
}
