import ExtrasBase64
import Foundation

extension Data {
    /// base64url without padding (RFC 4648 §5), as JWTs and JWKs use it.
    var base64URLEncoded: String {
        Base64.encodeToString(bytes: self, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }

    /// Decodes base64url without padding; nil on anything else (padding, other characters, a
    /// length no encoder writes). Unused bits of the last character are ignored, as Foundation's
    /// decoder ignores them: whoever needs one spelling per value compares the re-encoding.
    init?(base64URLEncoded text: some StringProtocol) {
        let bytes = text.utf8
        guard bytes.allSatisfy(Self.isBase64URLByte), bytes.count % 4 != 1 else { return nil }
        guard let decoded = try? Base64.decode(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter]) else { return nil }
        self.init(decoded)
    }

    /// `A-Z a-z 0-9 - _`.
    static func isBase64URLByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
