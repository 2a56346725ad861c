import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NIOCore
import NotesModels
import Synchronization
import TestSupport
import Testing

@testable import NotesServer

/// Counts requests by "METHOD /path", from the server's own request hook.
final class RequestCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])
    func record(_ method: String, _ path: String, _ status: Int) { counts.withLock { $0["\(method) \(path)", default: 0] += 1 } }
    func count(_ key: String) -> Int { counts.withLock { $0[key, default: 0] } }
}

let testSecret = "0123456789abcdef0123456789abcdef-test-secret"

/// A configuration for tests: cheap bcrypt, a fresh data dir, HS256 with a known secret
/// unless another algorithm is asked for.
func testConfiguration(_ algorithm: JWTAlgorithmName = .hs256, dataDirectory: String? = nil) throws -> ServerConfiguration {
    var config = ServerConfiguration()
    config.port = 0
    config.bcryptCost = 4
    config.dataDirectory = try dataDirectory ?? temporaryDirectory()
    config.jwtAlgorithm = algorithm
    config.jwtSecret = algorithm == .hs256 ? testSecret : nil
    config.logLevel = .critical
    return config
}

/// Runs `body` against the real application (router test mode: no sockets).
func withApp<T: Sendable>(
    _ config: ServerConfiguration? = nil,
    hooks: ServerHooks = ServerHooks(),
    _ body: @Sendable (any TestClientProtocol) async throws -> T
) async throws -> T {
    let app = try await buildApplication(configuration: config ?? testConfiguration(), hooks: hooks)
    return try await app.test(.router) { client in try await body(client) }
}

extension TestResponse {
    func decode<T: Decodable>(_ type: T.Type = T.self, sourceLocation: SourceLocation = #_sourceLocation) throws -> T {
        do {
            return try NotesJSON.decoder().decode(T.self, from: Data(body.readableBytesView))
        } catch {
            Issue.record("cannot decode \(T.self) from \(status): \(String(buffer: body))", sourceLocation: sourceLocation)
            throw error
        }
    }

    var error: ErrorBody.Detail? { try? NotesJSON.decoder().decode(ErrorBody.self, from: Data(body.readableBytesView)).error }
    var text: String { String(buffer: body) }
}

func jsonBody(_ value: some Encodable) throws -> ByteBuffer {
    ByteBuffer(bytes: try NotesJSON.encoder().encode(value))
}

func jsonHeaders(_ token: String? = nil) -> HTTPFields {
    var headers: HTTPFields = [.contentType: "application/json"]
    if let token { headers[.authorization] = "Bearer \(token)" }
    return headers
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

extension TestClientProtocol {
    @discardableResult
    func register(_ username: String, _ password: String = "correct-horse") async throws -> User {
        let response = try await execute(
            uri: "/auth/register",
            method: .post,
            headers: jsonHeaders(),
            body: jsonBody(Credentials(username: username, password: password))
        )
        #expect(response.status == .created, "register \(username): \(response.text)")
        return try response.decode()
    }

    func login(_ username: String, _ password: String = "correct-horse") async throws -> TokenPair {
        let response = try await loginResponse(username, password)
        #expect(response.status == .ok, "login \(username): \(response.text)")
        return try response.decode()
    }

    func loginResponse(_ username: String, _ password: String) async throws -> TestResponse {
        try await execute(
            uri: "/auth/login",
            method: .post,
            headers: jsonHeaders(),
            body: jsonBody(Credentials(username: username, password: password))
        )
    }

    /// Registers and logs in; returns the access token.
    func signUp(_ username: String) async throws -> String {
        try await register(username)
        return try await login(username).accessToken
    }

    func post(_ path: String, token: String? = nil, json: some Encodable) async throws -> TestResponse {
        try await execute(uri: path, method: .post, headers: jsonHeaders(token), body: jsonBody(json))
    }

    func get(_ path: String, token: String? = nil, headers extra: HTTPFields = [:]) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await execute(uri: path, method: .get, headers: headers)
    }

    func createNote(_ token: String, title: String, body: String = "", tags: [String] = []) async throws -> Note {
        let response = try await post("/notes", token: token, json: NoteInput(title: title, body: body, tags: tags))
        #expect(response.status == .created, "create note: \(response.text)")
        return try response.decode()
    }
}

/// Signs arbitrary claims with a key the test controls, to forge tokens of every kind.
struct Forger {
    let keys: JWTKeyCollection
    let kid: String
    var legacyKid: String? = nil

    static func hs256(secret: String = testSecret) async -> Forger {
        let key = await SigningKey.hmac(secret: secret)
        return Forger(keys: key.keys, kid: key.kid)
    }

    /// The key that signs now in the ring of the server's SQLite database.
    static func kept(_ config: ServerConfiguration) async throws -> Forger {
        let row = try await keptRow(config)
        let key = try await SigningKey.asymmetric(try #require(JWTAlgorithmName(name: row.algorithm)), pem: row.privateKeyPEM)
        return Forger(keys: key.keys, kid: key.kid, legacyKid: key.legacyKid)
    }

    /// The ring's signing key as the server's SQLite database holds it.
    static func keptRow(_ config: ServerConfiguration) async throws -> StoredSigningKey {
        let rows = try await SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite").storage.signingKeys.all(logger: testLogger)
        return try #require(KeyRingRule.signing(rows, nowMs: Date().millisecondsSince1970))
    }

    func sign(_ claims: AccessClaims, kid: String? = nil) async throws -> String {
        try await keys.sign(claims, kid: JWKIdentifier(string: kid ?? self.kid))
    }
}

extension AccessClaims {
    /// Valid claims for `user`, now; tests then break one thing.
    static func valid(for user: User, now: Date = Date(), ttl: TimeInterval = 900) -> AccessClaims {
        AccessClaims(
            sub: .init(value: user.id.uuidString),
            name: user.username,
            admin: user.admin,
            iss: .init(value: "notes-server"),
            aud: .init(value: ["notes-client"]),
            iat: .init(value: now),
            exp: .init(value: now.addingTimeInterval(ttl)),
            nbf: nil,
            jti: .init(value: UUID().uuidString)
        )
    }
}

/// Base64url without padding, for hand-made tokens.
func b64url(_ data: Data) -> String {
    data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
        of: "=",
        with: ""
    )
}

func b64url(_ text: String) -> String { b64url(Data(text.utf8)) }

struct UndecodablePart: Error {}

/// The JSON object inside one base64url part of a JWT.
func jsonPart(_ part: some StringProtocol) throws -> [String: Any] {
    guard let data = Data(base64URLEncoded: String(part)),
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw UndecodablePart() }
    return object
}

/// Claims as a JWT payload carries them: dates as Unix seconds.
func claimsJSON(_ claims: AccessClaims) throws -> Data {
    let encoder = JSONEncoder()
    encoder.dateEncodingStrategy = .secondsSince1970
    return try encoder.encode(claims)
}
