import Foundation
import HTTPTypes
public import Hummingbird
import NIOCore
import NotesModels

/// Writes the answers the server gives most — `Note`, `Page<Note>` and `User` — straight to
/// bytes, byte for byte what ``NotesJSON/encoder(pretty:)`` writes (keys sorted, slashes not
/// escaped, dates ISO 8601 in whole UTC seconds, UUIDs upper case). Foundation's encoder goes
/// through `Encodable` containers and was the largest cost of a page of notes. Every other
/// value, and a date outside the years 1970–9999, takes Foundation's encoder.
/// `FastPathTests` compares the two on every control character and many notes.
struct WireJSON {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// The JSON of `value` when it is one of the written types; nil for anything else.
    static func encode(_ value: some Encodable) -> [UInt8]? {
        var writer = WireJSON()
        switch value {
        case let note as Note:
            writer.note(note)
        case let page as Page<Note>:
            writer.bytes.reserveCapacity(page.items.reduce(64) { $0 + 256 + $1.title.utf8.count + $1.body.utf8.count })
            writer.page(page)
        case let user as User:
            writer.user(user)
        default:
            return nil
        }
        return writer.bytes
    }

    mutating func note(_ note: Note) {
        raw(#"{"body":"#)
        string(note.body)
        raw(#","createdAt":"#)
        date(note.createdAt)
        raw(#","id":""#)
        UUIDText.append(note.id, to: &bytes)
        raw(#"","tags":["#)
        for (index, tag) in note.tags.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(tag)
        }
        raw(#"],"title":"#)
        string(note.title)
        raw(#","updatedAt":"#)
        date(note.updatedAt)
        raw(#","version":"#)
        raw(String(note.version))
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func page(_ page: Page<Note>) {
        raw(#"{"items":["#)
        for (index, note) in page.items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            self.note(note)
        }
        raw(#"],"nextCursor":"#)
        if let cursor = page.nextCursor { string(cursor) } else { raw("null") }
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func user(_ user: User) {
        raw(#"{"admin":"#)
        raw(user.admin ? "true" : "false")
        raw(#","createdAt":"#)
        date(user.createdAt)
        raw(#","id":""#)
        UUIDText.append(user.id, to: &bytes)
        raw(#"","username":"#)
        string(user.username)
        bytes.append(UInt8(ascii: "}"))
    }

    private mutating func raw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// A JSON string as Foundation writes it: `"` and `\` escaped, `\b \t \n \f \r` by name,
    /// other control characters as `\u00xx`, everything else (`/` and non-ASCII included) as is.
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `"yyyy-MM-ddTHH:mm:ssZ"`, the seconds rounded down, as Foundation's `.iso8601` writes.
    mutating func date(_ date: Date) {
        let interval = date.timeIntervalSince1970
        // 1970-01-01 up to the end of 9999: four-digit years, no calendar oddities.
        guard interval >= 0, interval < 253_402_300_800 else {
            bytes.append(contentsOf: Self.foundationDate(date))
            return
        }
        let seconds = Int(interval.rounded(.down))
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        bytes.append(UInt8(ascii: "\""))
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 3600 / 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        bytes.append(contentsOf: [UInt8(ascii: "Z"), UInt8(ascii: "\"")])
    }

    private mutating func digits(_ value: Int, _ count: Int) {
        var divisor = 1
        for _ in 1..<count { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Proleptic Gregorian year, month and day of a count of days since 1970-01-01 (not
    /// negative), after Howard Hinnant's `civil_from_days`.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    private struct DateBox: Encodable {
        var date: Date
    }

    /// A date as Foundation writes it, for the dates outside the fast path.
    static func foundationDate(_ date: Date) -> [UInt8] {
        guard let data = try? NotesJSON.encoder().encode([date]), data.count > 2 else { return Array("null".utf8) }
        return Array(data.dropFirst().dropLast())
    }
}

/// The response encoder of every context: ``WireJSON`` for the types it writes, Foundation's
/// encoder (as ``NotesJSON/encoder(pretty:)`` sets it up) for the rest, with the headers
/// Hummingbird's own JSON encoder sets.
public struct NotesResponseEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let buffer: ByteBuffer
        if let bytes = WireJSON.encode(value) {
            buffer = ByteBuffer(bytes: bytes)
        } else {
            buffer = ByteBuffer(bytes: try NotesJSON.encoder().encode(value))
        }
        var headers = HTTPFields()
        headers.reserveCapacity(4)
        headers.append(HTTPField(name: .contentType, value: "application/json; charset=utf-8"))
        headers.append(HTTPField(name: .contentLength, value: String(buffer.readableBytes)))
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }
}
