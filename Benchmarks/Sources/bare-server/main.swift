import CryptoExtras
import Foundation
import Hummingbird
import JWTKit

// `GET /json` answers a small JSON object; `GET /jwt` verifies `Authorization: Bearer` as an
// RS256 JWT with JWTKit first (401 without a valid one). Listens on a free loopback port and
// prints `listening on URL`, then `token JWT` (valid for a day) for the bench's wrk script.

struct Status: ResponseEncodable {
    var status: String
}

struct Claims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim

    func verify(using algorithm: some JWTAlgorithm) throws {
        try exp.verifyNotExpired()
    }
}

let privateKey = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
let keys = JWTKeyCollection()
await keys.add(rsa: privateKey, digestAlgorithm: .sha256, kid: "bench")
let token = try await keys.sign(Claims(sub: "bench", exp: .init(value: Date().addingTimeInterval(86_400))), kid: "bench")

let router = Router()
router.get("json") { _, _ in Status(status: "ok") }
router.get("jwt") { request, _ -> Status in
    guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw HTTPError(.unauthorized) }
    do {
        _ = try await keys.verify(String(header.dropFirst(7)), as: Claims.self)
    } catch {
        throw HTTPError(.unauthorized)
    }
    return Status(status: "ok")
}

let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: 0)),
    onServerRunning: { channel in
        let port = channel.localAddress?.port ?? 0
        FileHandle.standardOutput.write(Data("listening on http://127.0.0.1:\(port)\ntoken \(token)\n".utf8))
    }
)
try await app.runService()
