import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NIOCore
import NotesModels
import TestSupport
import Testing

@testable import NotesServer

@Suite("Access tokens: signing, verification and the jsonwebtoken error names")
struct TokenTests {
    @Test("each algorithm signs tokens that the server accepts", arguments: JWTAlgorithmName.allCases)
    func everyAlgorithm(algorithm: JWTAlgorithmName) async throws {
        let config = try testConfiguration(algorithm)
        try await withApp(config) { client in
            let pair = try await client.login(try await client.register("alice").username)
            let parts = pair.accessToken.split(separator: ".")
            #expect(parts.count == 3)
            let header = try jsonPart(parts[0])
            #expect(header["alg"] as? String == algorithm.rawValue)
            #expect(header["typ"] as? String == "JWT")
            let kid = try #require(header["kid"] as? String)
            #expect(!kid.isEmpty)
            let me = try await client.get("/me", token: pair.accessToken)
            #expect(me.status == .ok)
            #expect(try me.decode(User.self).username == "alice")
            #expect(pair.tokenType == "Bearer")
            #expect(pair.expiresIn == 900)
        }
    }

    @Test("the payload carries sub, name, admin, iss, aud (a string), iat, exp (integers) and jti")
    func payloadShape() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let token = try await client.login("alice").accessToken
            let payload = try jsonPart(token.split(separator: ".")[1])
            #expect(payload["sub"] as? String == user.id.uuidString)
            #expect(payload["name"] as? String == "alice")
            #expect(payload["admin"] as? Bool == false)
            #expect(payload["iss"] as? String == "notes-server")
            #expect(payload["aud"] as? String == "notes-client")
            let iat = try #require(payload["iat"] as? NSNumber)
            let exp = try #require(payload["exp"] as? NSNumber)
            #expect(exp.int64Value - iat.int64Value == 900)
            #expect(exp.doubleValue == exp.doubleValue.rounded())
            #expect((payload["jti"] as? String)?.isEmpty == false)
        }
    }

    @Test("a public key from the JWKS verifies a token the server issued", arguments: [JWTAlgorithmName.rs256, .es256, .edDSA])
    func jwksRoundTrip(algorithm: JWTAlgorithmName) async throws {
        try await withApp(try testConfiguration(algorithm)) { client in
            try await client.register("alice")
            let token = try await client.login("alice").accessToken
            let jwks = try await client.get("/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            let keys = try await JWTKeyCollection().add(jwksJSON: jwks.text)
            let claims = try await keys.verify(token, as: AccessClaims.self)
            #expect(claims.name == "alice")
            #expect(!jwks.text.contains("\"d\""), "the JWKS must not publish private key material")
        }
    }

    @Test("HS256 publishes no keys in the JWKS")
    func jwksEmptyForHMAC() async throws {
        try await withApp { client in
            let jwks = try await client.get("/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            #expect(jwks.text == #"{"keys":[]}"#)
        }
    }

    @Test("an expired token is TokenExpiredError with expiredAt and an RFC 6750 challenge")
    func expired() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let issued = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 3600).rounded(.down))
            let token = try await Forger.hs256().sign(.valid(for: user, now: issued, ttl: 60))
            let response = try await client.get("/me", token: token)
            #expect(response.status == .unauthorized)
            let error = try #require(response.error)
            #expect(error.name == "TokenExpiredError")
            #expect(error.message == "jwt expired")
            #expect(error.expiredAt == issued.addingTimeInterval(60))
            #expect(response.text.contains("\"expiredAt\":\(Int(issued.timeIntervalSince1970) + 60)"))
            #expect(
                response.headers[.wwwAuthenticate] == #"Bearer realm="notes", error="invalid_token", error_description="jwt expired""#
            )
        }
    }

    @Test("the clock tolerance accepts a token expired within it, and only within it")
    func tolerance() async throws {
        var config = try testConfiguration()
        config.clockTolerance = 30
        try await withApp(config) { client in
            let user = try await client.register("alice")
            let forger = await Forger.hs256()
            let justExpired = try await forger.sign(.valid(for: user, now: Date().addingTimeInterval(-70), ttl: 60))
            #expect(try await client.get("/me", token: justExpired).status == .ok)
            let longExpired = try await forger.sign(.valid(for: user, now: Date().addingTimeInterval(-200), ttl: 60))
            #expect(try await client.get("/me", token: longExpired).error?.name == "TokenExpiredError")
        }
    }

    @Test("a token whose nbf is in the future is NotBeforeError with its date")
    func notBefore() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            var claims = AccessClaims.valid(for: user)
            let nbf = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 600).rounded(.down))
            claims.nbf = NotBeforeClaim(value: nbf)
            let response = try await client.get("/me", token: try await Forger.hs256().sign(claims))
            #expect(response.status == .unauthorized)
            #expect(response.error?.name == "NotBeforeError")
            #expect(response.error?.message == "jwt not active")
            #expect(response.error?.date == nbf)
            #expect(response.headers[.wwwAuthenticate]?.contains(#"error_description="jwt not active""#) == true)
        }
    }

    @Test("a wrong audience or issuer is JsonWebTokenError naming the expected value")
    func audienceAndIssuer() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let forger = await Forger.hs256()
            var claims = AccessClaims.valid(for: user)
            claims.aud = AudienceClaim(value: ["someone-else"])
            let wrongAudience = try await client.get("/me", token: try await forger.sign(claims))
            #expect(wrongAudience.error?.name == "JsonWebTokenError")
            #expect(wrongAudience.error?.message == "jwt audience invalid. expected: notes-client")
            claims = AccessClaims.valid(for: user)
            claims.iss = IssuerClaim(value: "evil")
            let wrongIssuer = try await client.get("/me", token: try await forger.sign(claims))
            #expect(wrongIssuer.error?.message == "jwt issuer invalid. expected: notes-server")
        }
    }

    @Test("a tampered payload fails the signature check")
    func tampered() async throws {
        try await withApp { client in
            try await client.register("alice")
            let token = try await client.login("alice").accessToken
            let parts = token.split(separator: ".").map(String.init)
            var payload = try jsonPart(parts[1])
            payload["admin"] = true
            let forged = [parts[0], b64url(try JSONSerialization.data(withJSONObject: payload)), parts[2]].joined(separator: ".")
            let response = try await client.get("/users", token: forged)
            #expect(response.status == .unauthorized)
            #expect(response.error?.name == "JsonWebTokenError")
            #expect(response.error?.message == "invalid signature")
        }
    }

    @Test("alg none is refused")
    func algNone() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let kid = await Forger.hs256().kid
            let header = b64url(#"{"alg":"none","typ":"JWT","kid":"\#(kid)"}"#)
            let claims = try claimsJSON(AccessClaims.valid(for: user))
            // With an empty signature it is an unsigned JWT; without the last dot, not a JWT at all.
            for (token, message) in [("\(header).\(b64url(claims)).", "invalid algorithm"), ("\(header).\(b64url(claims))", "jwt malformed")] {
                let response = try await client.get("/me", token: token)
                #expect(response.status == .unauthorized)
                #expect(response.error?.name == "JsonWebTokenError")
                #expect(response.error?.message == message)
            }
        }
    }

    @Test("an HS256 token signed with the RS256 public key as its secret is refused")
    func algorithmConfusion() async throws {
        let config = try testConfiguration(.rs256)
        try await withApp(config) { client in
            let user = try await client.register("alice")
            let real = try await Forger.kept(config)
            let jwks = try await client.get("/.well-known/jwks.json")
            #expect(jwks.status == .ok)
            let pem = try await Forger.keptRow(config).privateKeyPEM
            let publicPEM = try Insecure.RSA.PrivateKey(pem: pem).publicKey.pemRepresentation
            let confused = JWTKeyCollection()
            await confused.add(hmac: HMACKey(from: publicPEM), digestAlgorithm: .sha256, kid: JWKIdentifier(string: real.kid))
            let token = try await confused.sign(AccessClaims.valid(for: user), kid: JWKIdentifier(string: real.kid))
            let response = try await client.get("/me", token: token)
            #expect(response.status == .unauthorized)
            #expect(response.error?.name == "JsonWebTokenError")
            #expect(response.error?.message == "invalid algorithm")
        }
    }

    @Test("a token with an unknown kid is refused even when its signature would verify")
    func unknownKid() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let forger = await Forger.hs256()
            // Signed with the real secret: only the kid is wrong, and that alone refuses it.
            let token = try await forger.sign(.valid(for: user), kid: "someone-elses-key")
            let response = try await client.get("/me", token: token)
            #expect(response.status == .unauthorized)
            #expect(response.error?.name == "JsonWebTokenError")
            #expect(response.error?.message == "invalid kid")
            #expect(response.headers[.wwwAuthenticate]?.contains(#"error_description="invalid kid""#) == true)
            #expect(try await client.get("/me", token: try await forger.sign(.valid(for: user))).status == .ok, "the same token with our kid passes")
        }
    }

    @Test("a token signed by another secret is an invalid signature")
    func otherSecret() async throws {
        try await withApp { client in
            let user = try await client.register("alice")
            let ours = await Forger.hs256()
            let other = await Forger.hs256(secret: "another-secret-that-is-32-bytes-long!!")
            let token = try await other.sign(.valid(for: user), kid: ours.kid)
            #expect(try await client.get("/me", token: token).error?.message == "invalid signature")
        }
    }

    @Test("missing, non-Bearer and empty Bearer credentials are UnauthorizedError", arguments: [nil, "Basic YWxpY2U6cHc=", "Bearer", "Bearer   "])
    func noToken(header: String?) async throws {
        try await withApp { client in
            var headers: HTTPFields = [:]
            if let header { headers[.authorization] = header }
            let response = try await client.get("/notes", headers: headers)
            #expect(response.status == .unauthorized)
            #expect(response.error?.name == "UnauthorizedError")
            #expect(response.error?.message == "No authorization token was found")
            #expect(response.headers[.wwwAuthenticate] == #"Bearer realm="notes""#)
        }
    }

    @Test("garbage in the bearer token is jwt malformed", arguments: ["abc", "a.b", "a.b.c.d", "!!!.???.***"])
    func malformed(token: String) async throws {
        try await withApp { client in
            let response = try await client.get("/me", token: token)
            #expect(response.error?.name == "JsonWebTokenError")
            #expect(response.error?.message == "jwt malformed")
        }
    }
}

@Suite("Key ids: RFC 7638 thumbprints, earlier kids, a previous HS256 secret")
struct KeyIDTests {
    /// RFC 7638 computed here, independently of the server, from the published JWK.
    static func thumbprint(of jwk: [String: Any]) throws -> String {
        let required: [String]
        switch jwk["kty"] as? String {
        case "RSA": required = ["e", "kty", "n"]
        case "EC": required = ["crv", "kty", "x", "y"]
        case "OKP": required = ["crv", "kty", "x"]
        default: throw UndecodablePart()
        }
        let members = try required.map { name -> String in
            guard let value = jwk[name] as? String else { throw UndecodablePart() }
            return "\"\(name)\":\"\(value)\""
        }
        return b64url(Data(SHA256.hash(data: Data(("{" + members.joined(separator: ",") + "}").utf8))))
    }

    @Test("a token's kid is the RFC 7638 thumbprint of the JWKS key that verifies it", arguments: [JWTAlgorithmName.rs256, .es256, .edDSA])
    func thumbprints(algorithm: JWTAlgorithmName) async throws {
        try await withApp(try testConfiguration(algorithm)) { client in
            let token = try await client.signUp("alice")
            let kid = try #require(try jsonPart(token.split(separator: ".")[0])["kid"] as? String)
            let jwks = try #require(
                try JSONSerialization.jsonObject(with: Data(try await client.get("/.well-known/jwks.json").body.readableBytesView)) as? [String: Any]
            )
            let keys = try #require(jwks["keys"] as? [[String: Any]])
            let published = try #require(keys.first { $0["kid"] as? String == kid })
            #expect(try Self.thumbprint(of: published) == kid)
        }
    }

    @Test(
        "a key file of an earlier version is imported once: tokens naming its earlier kid verify (and the JWKS lists that kid) until they have all expired"
    )
    func legacyKid() async throws {
        let config = try testConfiguration(.es256)
        let pem = try SigningKey.generatePEM(.es256)
        let old = try await SigningKey.asymmetric(.es256, pem: pem)
        let legacy = try #require(old.legacyKid)
        #expect(legacy != old.kid)
        // As earlier versions kept it: DATA_DIR/keys/<alg>-<hash>.pem, 0600 in a 0700 folder.
        let folder = config.dataDirectory + "/keys"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        #expect(FileManager.default.createFile(atPath: folder + "/\(legacy).pem", contents: Data(pem.utf8), attributes: [.posixPermissions: 0o600]))
        let clock = TestClock()
        let forger = Forger(keys: old.keys, kid: old.kid, legacyKid: legacy)
        try await withApp(config, hooks: ServerHooks(now: clock.now)) { client in
            let user = try await client.register("alice")
            let signed = try await client.login("alice").accessToken
            #expect(try jsonPart(signed.split(separator: ".")[0])["kid"] as? String == old.kid, "the imported key signs, under its thumbprint")
            let token = try await forger.sign(.valid(for: user, now: clock.now()), kid: legacy)
            #expect(try await client.get("/me", token: token).status == .ok)
            #expect(try await client.get("/.well-known/jwks.json").text.contains(legacy))
            // Past the access-token lifetime (and the 30 s replicas may lag) nothing signed under
            // the earlier kid is valid any more: the alias is gone, the key itself stays.
            clock.advance(TimeInterval(config.accessTokenTTL + 31))
            let late = try await forger.sign(.valid(for: user, now: clock.now()), kid: legacy)
            #expect(try await client.get("/me", token: late).error?.message == "invalid kid")
            #expect(try await client.get("/me", token: try await forger.sign(.valid(for: user, now: clock.now()))).status == .ok)
            #expect(!(try await client.get("/.well-known/jwks.json").text.contains(legacy)))
        }
        // Imported once: a restart finds the key in the ring and adds nothing.
        try await withApp(config) { _ in }
        let rows = try await SQLiteDatabase.open(path: config.dataDirectory + "/notes.sqlite").storage.signingKeys.all(logger: testLogger)
        #expect(rows.map(\.kid) == [old.kid])
    }

    @Test("HS256: the previous secret verifies under its own kid but never signs; a token without kid meets the current secret only")
    func previousSecret() async throws {
        let previous = "the-previous-secret-at-least-32-bytes-long"
        var config = try testConfiguration(.hs256)
        config.jwtPreviousSecret = previous
        try await withApp(config) { client in
            let user = try await client.register("alice")
            let old = await Forger.hs256(secret: previous)
            #expect(try await client.get("/me", token: try await old.sign(.valid(for: user))).status == .ok, "an old token verifies")
            let current = await Forger.hs256()
            let fresh = try await client.login("alice").accessToken
            #expect(try jsonPart(fresh.split(separator: ".")[0])["kid"] as? String == current.kid, "new tokens are signed with the current secret")
            // Without kid (as node's jsonwebtoken signs): the current secret verifies, the previous does not.
            let header = b64url(#"{"alg":"HS256","typ":"JWT"}"#)
            let payload = b64url(try claimsJSON(.valid(for: user)))
            func signed(_ secret: String) -> String {
                let mac = HMAC<SHA256>.authenticationCode(for: Data("\(header).\(payload)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
                return "\(header).\(payload).\(b64url(Data(mac)))"
            }
            #expect(try await client.get("/me", token: signed(testSecret)).status == .ok)
            let refused = try await client.get("/me", token: signed(previous))
            #expect(refused.status == .unauthorized)
            #expect(refused.error?.message == "invalid signature")
        }
    }
}
