import Foundation
import NotesClient
import Testing

@Suite("The REPL's word splitting")
struct ShellWordsTests {
    @Test(
        "quotes and backslashes as a POSIX shell reads them",
        arguments: [
            ("list --limit 10", ["list", "--limit", "10"]),
            ("create --title 'a b' --body 'it'\\''s'", ["create", "--title", "a b", "--body", "it's"]),
            (#"say "a \"b\" \$c \n""#, ["say", #"a "b" $c \n"#]),
            (#"a\ b '' """#, ["a b", "", ""]),
            ("  \t ", []),
        ]
    )
    func splits(line: String, words: [String]) throws {
        #expect(try ShellWords.split(line) == words)
    }

    @Test("an unterminated quote is an error", arguments: ["edit 'abc", #"edit "abc"#, #"edit "abc\""#])
    func unterminated(line: String) {
        #expect(throws: ShellWords.UnterminatedQuote.self) { try ShellWords.split(line) }
    }

    /// Found by the `shell-words` fuzz target (Fuzz/Corpus/shell-words/regression-combining-mark-word):
    /// read as Characters, a quote, backslash or space followed by a combining mark fused with it
    /// into one Character that was none of them.
    @Test(
        "a combining mark after a quote, a backslash or a space leaves them what they are",
        arguments: [
            ("'\u{06DA}'", ["\u{06DA}"]),
            ("\"\u{0301}x\"", ["\u{0301}x"]),
            ("\\\u{0301}", ["\u{0301}"]),
            ("a \u{0301}b", ["a", "\u{0301}b"]),
        ]
    )
    func combiningMarks(line: String, words: [String]) throws {
        #expect(try ShellWords.split(line).map { Array($0.unicodeScalars) } == words.map { Array($0.unicodeScalars) })
    }

    @Test("words written back single-quoted split into the same words")
    func roundTrip() throws {
        for words in [["\u{06DA}"], ["it's", "a b", ""], ["\u{0301}", "\\", "\"", "$x"]] {
            let line = words.map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
            #expect(try ShellWords.split(line).map { Array($0.unicodeScalars) } == words.map { Array($0.unicodeScalars) }, "\(line)")
        }
    }
}
