import Foundation

/// The words full-text search works on, the same on every engine: letters and digits make
/// words, everything else separates them; case and diacritics are folded (like SQLite FTS5's
/// `unicode61` tokenizer), so `Café` is found by `cafe`.
enum SearchWords {
    /// The longest word PostgreSQL's `tsvector` indexes is 2,047 bytes; longer ones are left
    /// out of the index (nobody types them into a search box).
    static let maxWordBytes = 2_000

    static func words(in text: String) -> [String] {
        text.split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map {
            $0.lowercased().folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil)
        }
    }

    /// The distinct words of a note, for an index that stores each word once: at most
    /// `maxTotalBytes` of them, so that a pathological body cannot exceed the index's limits.
    static func indexWords(title: String, body: String, maxTotalBytes: Int = 512 * 1_024) -> [String] {
        var seen = Set<String>()
        var total = 0
        var result: [String] = []
        for word in words(in: title) + words(in: body) where word.utf8.count <= maxWordBytes && !seen.contains(word) {
            total += word.utf8.count + 8
            guard total <= maxTotalBytes else { break }
            seen.insert(word)
            result.append(word)
        }
        return result
    }
}
