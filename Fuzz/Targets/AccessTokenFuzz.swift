import Crypto
import Foundation
import NotesModels

@testable import NotesServer

/// Access-token verification (`AccessTokens.verify`) as the authenticator runs it on every
/// bearer token, and the error body a refusal becomes.
///
/// The first byte picks how the rest is used, so that inputs get past the signature too:
/// - 0: the token as it is;
/// - 1: `header JSON` NUL `payload JSON`, encoded and signed here with the server's HS256 key;
/// - 2: a payload JSON, under the header this server writes, signed here.
enum AccessTokenFuzz {
    static let secret = "notes-fuzz-secret-0123456789abcdef-0123456789"
    /// A fixed instant, so that a crash replays the same way tomorrow.
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// The verifier, made once (making a key is asynchronous).
    static let verifier = Task { await makeVerifier() }

    static func makeVerifier() async -> AccessTokens {
        let key = await SigningKey.hmac(secret: secret)
        return AccessTokens(
            ring: KeyRing(fixed: key),
            issuer: "notes-server",
            audience: "notes-client",
            ttl: 900,
            clockTolerance: 30,
            now: { AccessTokenFuzz.now }
        )
    }

    static func run(_ data: Data) async {
        guard let mode = data.first else { return }
        let tokens = await verifier.value
        let rest = Data(data.dropFirst())
        let token: String
        switch mode % 3 {
        case 0:
            token = String(decoding: rest, as: UTF8.self)
        case 1:
            let parts = rest.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
            token = signed(header: Data(parts.first ?? Data()), payload: Data(parts.count > 1 ? parts[1] : Data()))
        default:
            let header = Data(#"{"alg":"HS256","typ":"JWT","kid":"\#(tokens.ring.signer(at: now)?.kid ?? "")"}"#.utf8)
            token = signed(header: header, payload: rest)
        }
        do {
            _ = try await tokens.verify(token)
        } catch {
            // Writing the refusal is where an absurd `exp` once killed the server.
            _ = error.response()
        }
    }

    /// `header.payload.signature` with this target's HS256 secret.
    static func signed(header: Data, payload: Data) -> String {
        let input = header.base64URLEncoded + "." + payload.base64URLEncoded
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return input + "." + Data(mac).base64URLEncoded
    }
}
