import Foundation

/// Note ids: RFC 9562 version 8 (custom) UUIDs whose first ten bytes are random (74 bits, with
/// the version and variant) and whose last six are the creation time in milliseconds,
/// big-endian: `RRRRRRRR-RRRR-8RRR-VRRR-TTTTTTTTTTTT`.
///
/// Why this layout: SQLite keeps a unique index over the notes' ids, and with random ids every
/// insert lands on a random leaf page of it, so a batch of inserts dirtied about one index page
/// per note, all written to the WAL at commit. The index is over ``SQLiteNoteRepository``'s key,
/// the id's last group followed by the rest, which for these ids grows with time: inserts append
/// to its last pages. A time-first layout (version 7) would do that with the id itself, but then
/// every note created within weeks of another shares its first characters, and the client
/// completes ids from them. The time an id carries is the note's creation time, which the note
/// shows its owner anyway; 74 random bits keep ids unguessable (they are only ever looked up
/// within their owner's notes, too).
enum NoteID {
    static func make(at date: Date) -> UUID {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(clamping: max(0, date.millisecondsSince1970)) & 0xFFFF_FFFF_FFFF
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<10 {
            let word = index < 8 ? random.0 : random.1
            bytes[index] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(index % 8)))
        }
        bytes[6] = 0x80 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        for index in 10..<16 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * UInt64(15 - index))) }
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }
}
