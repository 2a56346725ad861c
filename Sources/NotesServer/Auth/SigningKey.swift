import Crypto
import CryptoExtras
import Foundation
import JWTKit
import Logging

/// One signing key: its algorithm, its `kid` (the RFC 7638 thumbprint of the key), the JWTKit
/// collection that signs and verifies with it, and its public JWKs (none for HS256).
///
/// The key also answers to the kid that earlier versions gave it (`<alg>-<hash>`, the name of
/// its file in `DATA_DIR/keys`) — the ring decides for how long; and with HS256,
/// `--jwt-previous-secret` verifies (under its own kid) but never signs.
struct SigningKey: Sendable {
    let algorithm: JWTAlgorithmName
    /// The kid new tokens carry: the key's RFC 7638 JWK thumbprint.
    let kid: String
    let keys: JWTKeyCollection
    /// The public keys to publish, one per kid the key answers to (empty for HS256).
    let publicJWKs: [JWK]
    /// Every kid a token may name: the thumbprint, the earlier kid, a previous secret's.
    var acceptedKids: Set<String> = []
    /// The kid of the key file as earlier versions named it.
    var legacyKid: String?

    /// The fixed key the configuration names: the HS256 secret (with a verify-only previous
    /// one), or a pinned `--jwt-private-key`; nil when the key ring in the database is used.
    /// Every failure is a one-line ``ConfigurationError``.
    static func fixed(configuration: ServerConfiguration, logger: Logger) async throws -> SigningKey? {
        switch configuration.jwtAlgorithm {
        case .hs256:
            guard let secret = configuration.jwtSecret else { throw ConfigurationError("HS256 needs --jwt-secret") }
            return await hmac(secret: secret, previous: configuration.jwtPreviousSecret)
        case .rs256, .es256, .edDSA:
            guard let path = configuration.jwtPrivateKeyPath else { return nil }
            if let mode = try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, mode & 0o077 != 0 {
                logger.warning(
                    "the private key file is readable by other users; chmod 600 it",
                    metadata: ["path": .string(path), "mode": .string(String(mode, radix: 8))]
                )
            }
            let pem: String
            do {
                pem = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ConfigurationError("cannot read --jwt-private-key \(path): \(Self.reason(error))")
            }
            do {
                return try await asymmetric(configuration.jwtAlgorithm, pem: pem)
            } catch {
                throw ConfigurationError(
                    "--jwt-private-key \(path) is not a PEM private key for \(configuration.jwtAlgorithm.rawValue) (\(Self.keyHint(configuration.jwtAlgorithm)))"
                )
            }
        }
    }

    static func hmac(secret: String, previous: String? = nil) async -> SigningKey {
        let material = SymmetricKey(data: Data(secret.utf8))
        let kid = thumbprint(["k": Data(secret.utf8).base64URLEncoded, "kty": "oct"])
        let legacy = legacyHMACKid(secret)
        let keys = JWTKeyCollection()
        // The current secret first: JWTKit's default key, the one a token without kid meets.
        await keys.add(hmac: HMACKey(key: material), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        await keys.add(hmac: HMACKey(key: material), digestAlgorithm: .sha256, kid: JWKIdentifier(string: legacy))
        var accepted: Set<String> = [kid, legacy]
        if let previous {
            let previousKid = thumbprint(["k": Data(previous.utf8).base64URLEncoded, "kty": "oct"])
            await keys.add(
                hmac: HMACKey(key: SymmetricKey(data: Data(previous.utf8))),
                digestAlgorithm: .sha256,
                kid: JWKIdentifier(string: previousKid)
            )
            let previousLegacy = legacyHMACKid(previous)
            await keys.add(
                hmac: HMACKey(key: SymmetricKey(data: Data(previous.utf8))),
                digestAlgorithm: .sha256,
                kid: JWKIdentifier(string: previousLegacy)
            )
            accepted.formUnion([previousKid, previousLegacy])
        }
        return SigningKey(
            algorithm: .hs256,
            kid: kid,
            keys: keys,
            publicJWKs: [],
            acceptedKids: accepted,
            legacyKid: legacy
        )
    }

    /// The kid earlier versions gave an HS256 secret.
    static func legacyHMACKid(_ secret: String) -> String {
        "hs256-" + Data(SHA256.hash(data: Data(("securenotes-kid:" + secret).utf8))).prefix(12).base64URLEncoded
    }

    /// RFC 7638: SHA-256 of the JWK's required members, in lexicographic order with no white
    /// space, base64url.
    static func thumbprint(_ members: [String: String]) -> String {
        let json = "{" + members.keys.sorted().map { "\"\($0)\":\"\(members[$0] ?? "")\"" }.joined(separator: ",") + "}"
        return Data(SHA256.hash(data: Data(json.utf8))).base64URLEncoded
    }

    /// The key under its thumbprint and its earlier kid, with a public JWK for each.
    private static func make(
        _ algorithm: JWTAlgorithmName,
        thumbprintMembers: [String: String],
        legacyKid: String,
        add: (JWTKeyCollection, JWKIdentifier) async -> Void,
        jwk: (JWKIdentifier) -> JWK
    ) async -> SigningKey {
        let kid = thumbprint(thumbprintMembers)
        let keys = JWTKeyCollection()
        var published: [JWK] = []
        for identifier in [kid, legacyKid].map(JWKIdentifier.init(string:)) {
            await add(keys, identifier)
            published.append(jwk(identifier))
        }
        return SigningKey(
            algorithm: algorithm,
            kid: kid,
            keys: keys,
            publicJWKs: published,
            acceptedKids: [kid, legacyKid],
            legacyKid: legacyKid
        )
    }

    static func asymmetric(_ algorithm: JWTAlgorithmName, pem: String) async throws -> SigningKey {
        switch algorithm {
        case .rs256:
            let key = try Insecure.RSA.PrivateKey(pem: pem)
            let publicKey = key.publicKey
            let (modulus, exponent) = try publicKey.getKeyPrimitives()
            let n = modulus.base64URLEncoded
            let e = exponent.base64URLEncoded
            return await make(
                algorithm,
                thumbprintMembers: ["e": e, "kty": "RSA", "n": n],
                legacyKid: kidFor(algorithm, publicBytes: publicKey.derRepresentation),
                add: { keys, kid in await keys.add(rsa: key, digestAlgorithm: .sha256, kid: kid) },
                jwk: { kid in JWK.rsa(.rs256, identifier: kid, modulus: n, exponent: e) }
            )
        case .es256:
            let key = try ES256PrivateKey(pem: pem)
            guard let parameters = key.publicKey.parameters else { throw ConfigurationError("ES256 key has no public parameters") }
            return await make(
                algorithm,
                thumbprintMembers: ["crv": "P-256", "kty": "EC", "x": parameters.x, "y": parameters.y],
                legacyKid: kidFor(algorithm, publicBytes: Data(key.publicKey.pemRepresentation.utf8)),
                add: { keys, kid in await keys.add(ecdsa: key, kid: kid) },
                jwk: { kid in JWK.ecdsa(.es256, identifier: kid, x: parameters.x, y: parameters.y, curve: .p256) }
            )
        case .edDSA:
            let key = try EdDSA.PrivateKey(pem: pem)
            let publicRaw = key.publicKey.rawRepresentation
            let x = publicRaw.base64URLEncoded
            return await make(
                algorithm,
                thumbprintMembers: ["crv": "Ed25519", "kty": "OKP", "x": x],
                legacyKid: kidFor(algorithm, publicBytes: publicRaw),
                add: { keys, kid in await keys.add(eddsa: key, kid: kid) },
                jwk: { kid in JWK.octetKeyPair(.eddsa, identifier: kid, x: x, y: nil, curve: .ed25519) }
            )
        case .hs256:
            throw ConfigurationError("HS256 has no private key file; use --jwt-secret")
        }
    }

    /// `<alg>-<first 96 bits of SHA-256 of the public key, base64url>`: stable for a key, and
    /// the prefix tells which algorithm a kept key file is for.
    static func kidFor(_ algorithm: JWTAlgorithmName, publicBytes: Data) -> String {
        algorithm.rawValue.lowercased() + "-" + Data(SHA256.hash(data: publicBytes)).prefix(12).base64URLEncoded
    }

    static func generatePEM(_ algorithm: JWTAlgorithmName) throws -> String {
        switch algorithm {
        case .rs256: return try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation
        case .es256: return P256.Signing.PrivateKey().pemRepresentation
        case .edDSA: return try EdDSA.PrivateKey(curve: .ed25519).pemRepresentation
        case .hs256: throw ConfigurationError("HS256 keys are not generated; use --jwt-secret")
        }
    }

    static func keyHint(_ algorithm: JWTAlgorithmName) -> String {
        switch algorithm {
        case .rs256: "make one with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
        case .es256: "make one with: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
        case .edDSA: "make one with: openssl genpkey -algorithm ed25519"
        case .hs256: "HS256 uses --jwt-secret"
        }
    }

    static func reason(_ error: any Error) -> String {
        (error as NSError).localizedDescription
    }
}
