import Crypto
import Foundation
import Synchronization

/// Pagination cursors: the position of the last note of a page, with an HMAC so that a
/// cursor the server did not issue is refused (400) instead of being trusted.
///
/// The MAC key is a secret of its own, kept in the database (``load(secret:)`` before the
/// server binds), so cursors survive restarts and key rotations, and every replica sharing the
/// database accepts the others' cursors.
final class CursorCodec: Sendable {
    /// A random key until the stored one is loaded: nothing issued with it outlives the process.
    private let state = Mutex(SymmetricKey(size: .bits256))

    init() {}

    init(secret: Data) { load(secret: secret) }

    func load(secret: Data) {
        let key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret),
            info: Data("securenotes pagination cursor v2".utf8),
            outputByteCount: 32
        )
        state.withLock { $0 = key }
    }

    private var key: SymmetricKey { state.withLock { $0 } }

    /// The name of the cursor secret in the database.
    static let secretName = "pagination-cursor"

    static func makeSecret() -> Data {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
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
