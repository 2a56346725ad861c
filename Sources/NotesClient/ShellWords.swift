/// Splits a line into words the way a POSIX shell does for quoting: whitespace separates,
/// '…' keeps everything literally, "…" keeps everything but lets \" \\ \$ \` escape, and a
/// backslash outside quotes escapes the next character. No expansion happens.
///
/// It reads Unicode scalars, as a shell reads bytes, not Characters: a combining mark after a
/// quote, a backslash or a space would otherwise fuse with it into one Character that is none
/// of them (`'` U+06DA `'` was an unterminated quote; found by the `shell-words` fuzz target).
///
/// It lives in the client library rather than in `notes` so that the fuzz target can reach it.
package enum ShellWords {
    /// A `'` or `"` that the line never closes.
    package struct UnterminatedQuote: Error, CustomStringConvertible {
        package var description: String { "unterminated quote" }
    }

    package static func split(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        var inWord = false
        var iterator = line.unicodeScalars.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n":
                if inWord {
                    words.append(String(current))
                    current = String.UnicodeScalarView()
                    inWord = false
                }
            case "'":
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "'" {
                        closed = true
                        break
                    }
                    current.append(next)
                }
                if !closed { throw UnterminatedQuote() }
            case "\"":
                inWord = true
                var closed = false
                while let next = iterator.next() {
                    if next == "\"" {
                        closed = true
                        break
                    }
                    if next == "\\" {
                        guard let escaped = iterator.next() else { break }
                        if "\"\\$`".unicodeScalars.contains(escaped) {
                            current.append(escaped)
                        } else {
                            current.append("\\")
                            current.append(escaped)
                        }
                        continue
                    }
                    current.append(next)
                }
                if !closed { throw UnterminatedQuote() }
            case "\\":
                inWord = true
                if let escaped = iterator.next() { current.append(escaped) }
            default:
                inWord = true
                current.append(character)
            }
        }
        if inWord { words.append(String(current)) }
        return words
    }
}
