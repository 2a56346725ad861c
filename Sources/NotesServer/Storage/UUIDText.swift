import Foundation

/// UUIDs to and from their text, without Foundation's detour through `sscanf` and `sprintf`
/// (`uuid_parse` and `uuid_unparse`), which a profile of `GET /notes` showed at 7 % of the
/// server's time: a page reads two ids per note and writes one.
enum UUIDText {
    /// The UUID written as 36 characters, 8-4-4-4-12 hex digits in either case, read directly;
    /// anything else is left to `UUID(uuidString:)`, so what is accepted is exactly what
    /// Foundation accepts.
    static func parse(_ text: String) -> UUID? {
        var text = text
        let fast: UUID?? = text.withUTF8 { bytes -> UUID?? in
            guard bytes.count == 36 else { return .none }
            var value = [UInt8](repeating: 0, count: 16)
            var out = 0
            var index = 0
            while index < 36 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard bytes[index] == UInt8(ascii: "-") else { return .none }
                    index += 1
                    continue
                }
                guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return .none }
                value[out] = high << 4 | low
                out += 1
                index += 2
            }
            return .some(
                UUID(
                    uuid: (
                        value[0], value[1], value[2], value[3], value[4], value[5], value[6], value[7],
                        value[8], value[9], value[10], value[11], value[12], value[13], value[14], value[15]
                    )
                )
            )
        }
        if let fast { return fast }
        return UUID(uuidString: text)
    }

    /// `uuid.uuidString`, written directly.
    static func string(_ uuid: UUID) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(36)
        append(uuid, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `uuid.uuidString` (upper-case) as UTF-8.
    static func append(_ uuid: UUID, to bytes: inout [UInt8]) {
        let digits: StaticString = "0123456789ABCDEF"
        withUnsafeBytes(of: uuid.uuid) { raw in
            digits.withUTF8Buffer { hex in
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 { bytes.append(UInt8(ascii: "-")) }
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0x0F)])
                }
            }
        }
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
