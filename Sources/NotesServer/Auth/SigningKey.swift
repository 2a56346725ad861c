import Crypto
import CryptoExtras
import Foundation
import JWTKit
import Logging

/// The server's signing key: its algorithm, its `kid` (the RFC 7638 thumbprint of the key), the
/// JWTKit collection that signs and verifies with it, its public JWKs (none for HS256) and key
/// material for deriving other server secrets (the pagination cursor MAC).
///
/// The key also answers to the kid that earlier versions gave it (`<alg>-<hash>`, the name of
/// its file in `DATA_DIR/keys`), so tokens signed before an upgrade keep verifying; and with
/// HS256, `--jwt-previous-secret` verifies (under its own kid) but never signs.
struct SigningKey: Sendable {
    let algorithm: JWTAlgorithmName
    /// The kid new tokens carry: the key's RFC 7638 JWK thumbprint.
    let kid: String
    let keys: JWTKeyCollection
    /// The public keys to publish, one per kid the key answers to (empty for HS256).
    let publicJWKs: [JWK]
    let derivationMaterial: SymmetricKey
    /// Every kid a token may name: the thumbprint, the earlier kid, a previous secret's.
    var acceptedKids: Set<String> = []
    /// The kid of the key file as earlier versions named it.
    var legacyKid: String?

    /// Loads the configured key, or the one generated earlier in `DATA_DIR/keys`, or
    /// generates and keeps a new one. Every failure is a one-line ``ConfigurationError``.
    static func load(configuration: ServerConfiguration, logger: Logger) async throws -> SigningKey {
        switch configuration.jwtAlgorithm {
        case .hs256:
            guard let secret = configuration.jwtSecret else { throw ConfigurationError("HS256 needs --jwt-secret") }
            return await hmac(secret: secret, previous: configuration.jwtPreviousSecret)
        case .rs256, .es256, .edDSA:
            let pem: String
            if let path = configuration.jwtPrivateKeyPath {
                if let mode = try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int, mode & 0o077 != 0 {
                    logger.warning(
                        "the private key file is readable by other users; chmod 600 it",
                        metadata: ["path": .string(path), "mode": .string(String(mode, radix: 8))]
                    )
                }
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
            return try await storedOrGenerated(configuration, logger: logger)
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
            derivationMaterial: material,
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
        derivation: SymmetricKey,
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
            derivationMaterial: derivation,
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
                derivation: SymmetricKey(data: key.derRepresentation),
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
                derivation: SymmetricKey(data: Data(key.pemRepresentation.utf8)),
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
                derivation: SymmetricKey(data: key.rawRepresentation),
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

    /// The newest kept key for the algorithm, or a new one written as `keys/<kid>.pem`
    /// (folder 0700, file 0600, written under a temporary name and renamed into place).
    static func storedOrGenerated(_ configuration: ServerConfiguration, logger: Logger) async throws -> SigningKey {
        let directory = configuration.keysDirectory
        let fileManager = FileManager.default
        let prefix = configuration.jwtAlgorithm.rawValue.lowercased() + "-"
        do {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError("cannot create the key folder \(directory): \(reason(error)); check --data-dir")
        }
        try PrivateFiles.restrict(directory, mode: 0o700, what: "key folder")
        let existing = ((try? fileManager.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".pem") }
            .map { directory + "/" + $0 }
            .sorted { lhs, rhs in
                let l = (try? fileManager.attributesOfItem(atPath: lhs)[.modificationDate] as? Date) ?? .distantPast
                let r = (try? fileManager.attributesOfItem(atPath: rhs)[.modificationDate] as? Date) ?? .distantPast
                return l == r ? lhs > rhs : l > r
            }
        if let path = existing.first {
            // A key restored from a backup may have come back readable.
            try PrivateFiles.restrict(path, mode: 0o600, what: "key file")
            guard let pem = try? String(contentsOfFile: path, encoding: .utf8), let key = try? await asymmetric(configuration.jwtAlgorithm, pem: pem)
            else {
                throw ConfigurationError(
                    "the kept signing key \(path) cannot be read; restore it, or move it away to generate a new one (tokens signed with it stop working)"
                )
            }
            logger.info("using kept signing key", metadata: ["kid": .string(key.kid), "algorithm": .string(key.algorithm.rawValue)])
            return key
        }
        let pem = try generatePEM(configuration.jwtAlgorithm)
        let key = try await asymmetric(configuration.jwtAlgorithm, pem: pem)
        // Files keep the `<alg>-<hash>` name, whose prefix says which algorithm they are for.
        let name = key.legacyKid ?? key.kid
        let path = directory + "/" + name + ".pem"
        let temporary = directory + "/." + name + ".pem.tmp"
        guard writePrivateFile(temporary, Data(pem.utf8)), rename(temporary, path) == 0 else {
            try? fileManager.removeItem(atPath: temporary)
            throw ConfigurationError("cannot write the generated signing key to \(directory); check --data-dir permissions")
        }
        logger.notice(
            "generated a new signing key",
            metadata: ["kid": .string(key.kid), "algorithm": .string(key.algorithm.rawValue), "path": .string(path)]
        )
        return key
    }

    /// Creates `path` with mode 0600 from the start (never readable by others, not even
    /// briefly) and writes `data` to it.
    static func writePrivateFile(_ path: String, _ data: Data) -> Bool {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let written = data.withUnsafeBytes { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base + offset, buffer.count - offset)
                if n <= 0 { return offset }
                offset += n
            }
            return offset
        }
        return written == data.count && fsync(fd) == 0
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
