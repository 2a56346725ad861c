import Crypto
import Foundation

/// Pagination cursors: the position of the last note of a page, with an HMAC so that a
/// cursor the server did not issue is refused (400) instead of being trusted.
struct CursorCodec: Sendable {
    private let key: SymmetricKey

    /// The key is derived from the signing key's material, so cursors survive a restart and
    /// every server sharing a signing key accepts them.
    init(material: SymmetricKey) {
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: material, info: Data("securenotes pagination cursor v1".utf8), outputByteCount: 32)
    }

    func encode(_ position: NotePosition) -> String {
        let payload = Data("\(position.createdAtMs).\(position.id.uuidString)".utf8)
        let mac = Data(HMAC<SHA256>.authenticationCode(for: payload, using: key)).prefix(16)
        return payload.base64URLEncoded + "." + mac.base64URLEncoded
    }

    func decode(_ cursor: String) -> NotePosition? {
        let parts = cursor.split(separator: ".", omittingEmptySubsequences: false)
        guard cursor.utf8.count <= 256, parts.count == 2,
            let payload = Data(base64URLEncoded: parts[0]), let mac = Data(base64URLEncoded: parts[1]), mac.count == 16
        else { return nil }
        let expected = Data(HMAC<SHA256>.authenticationCode(for: payload, using: key)).prefix(16)
        // Constant-time comparison of the truncated MAC.
        guard zip(expected, mac).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
        guard let text = String(data: payload, encoding: .utf8) else { return nil }
        let fields = text.split(separator: ".")
        guard fields.count == 2, let ms = Int64(fields[0]), let id = UUID(uuidString: String(fields[1])) else { return nil }
        return NotePosition(createdAtMs: ms, id: id)
    }
}
