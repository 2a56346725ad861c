public import Foundation

/// A JWT split into its three parts and decoded — WITHOUT checking the signature.
///
/// Anyone can read a JWT; only the server's key can vouch for it. This type is for showing
/// what a token says (`notes token`), never for trusting it.
public struct UnverifiedJWT: Sendable {
    /// The decoded header as pretty JSON, and its `alg`.
    public let headerJSON: String
    public let algorithm: String?
    /// The decoded payload as pretty JSON.
    public let payloadJSON: String
    /// `iat`, `exp`, `nbf` when present.
    public let issuedAt: Date?
    public let expiresAt: Date?
    public let notBefore: Date?
    /// `name` and `sub` when present.
    public let subject: String?
    public let name: String?
    /// The signature's length in bytes (after base64url decoding).
    public let signatureByteCount: Int
    /// The three base64url segments as they are in the token: header, payload, signature.
    public let segments: [String]
    /// The header's `kid`, when present.
    public let keyID: String?
    /// Each payload claim's value as text (strings as they are, other values as JSON), by name.
    public let claims: [String: String]

    /// Why a string is not a JWT.
    public struct FormatError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(_ token: String) throws {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw FormatError(description: "a JWT has three parts separated by dots; this has \(parts.count)")
        }
        guard let header = Self.base64URLDecode(parts[0]), let payload = Self.base64URLDecode(parts[1]),
            let signature = Self.base64URLDecode(parts[2])
        else { throw FormatError(description: "a part is not base64url") }
        guard let headerObject = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
            let payloadObject = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
        else { throw FormatError(description: "the header or payload is not a JSON object") }
        self.headerJSON = Self.pretty(header)
        self.payloadJSON = Self.pretty(payload)
        self.algorithm = headerObject["alg"] as? String
        self.issuedAt = Self.date(payloadObject["iat"])
        self.expiresAt = Self.date(payloadObject["exp"])
        self.notBefore = Self.date(payloadObject["nbf"])
        self.subject = payloadObject["sub"] as? String
        self.name = payloadObject["name"] as? String
        self.signatureByteCount = signature.count
        self.segments = parts.map(String.init)
        self.keyID = headerObject["kid"] as? String
        var claims: [String: String] = [:]
        for (name, value) in payloadObject {
            if let text = value as? String {
                claims[name] = text
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
                claims[name] = String(decoding: data, as: UTF8.self)
            }
        }
        self.claims = claims
    }

    static func base64URLDecode(_ part: Substring) -> Data? {
        var text = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return Data(base64Encoded: text)
    }

    private static func pretty(_ data: Data) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: data),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: data, as: UTF8.self) }
        return String(decoding: pretty, as: UTF8.self)
    }

    private static func date(_ value: Any?) -> Date? {
        if let number = value as? NSNumber { return Date(timeIntervalSince1970: number.doubleValue) }
        return nil
    }
}
