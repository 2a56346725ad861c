import Foundation

extension UUID {
    /// A version 7 UUID (RFC 9562): the first 48 bits are the Unix time in milliseconds, the
    /// other 74 (besides version and variant) random from the system's generator.
    ///
    /// Notes get these ids. A note's id is indexed (`UNIQUE` on SQLite, the primary key on
    /// PostgreSQL); with random (version 4) ids every insert lands on a random leaf page of
    /// that index, so each batch of inserts dirtied about one index page per note and wrote all
    /// of them to the WAL. Time-ordered ids append to the index's last pages instead. The time
    /// they carry is the note's `createdAt`, which the note shows anyway, and 74 random bits
    /// keep them unguessable (they are also only ever looked up within their owner's notes).
    static func timeOrdered(at date: Date) -> UUID {
        var generator = SystemRandomNumberGenerator()
        let milliseconds = UInt64(clamping: max(0, date.millisecondsSince1970)) & 0xFFFF_FFFF_FFFF
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * UInt64(index))) }
        for index in 6..<16 {
            let word = index < 8 ? random.0 : random.1
            bytes[index] = UInt8(truncatingIfNeeded: word >> (8 * UInt64(index % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }
}
