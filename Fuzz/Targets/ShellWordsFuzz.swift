import Foundation

@testable import NotesClient

/// The REPL's word splitting (``ShellWords``). Besides not crashing, one property: words
/// written back single-quoted (a `'` as `'\''`, as a shell would) split into the same words.
enum ShellWordsFuzz {
    static func run(_ data: Data) {
        let line = String(decoding: data, as: UTF8.self)
        guard let words = try? ShellWords.split(line) else { return }
        let quoted = words.map(singleQuoted).joined(separator: " ")
        let again: [String]
        do {
            again = try ShellWords.split(quoted)
        } catch {
            preconditionFailure("quoted words do not split again: \(quoted.debugDescription): \(error)")
        }
        precondition(again == words, "quoted words split differently: \(words.debugDescription) became \(again.debugDescription)")
    }

    /// `word` in single quotes, each `'` written `'\''`, scalar by scalar as a shell quotes
    /// bytes. (Replacing "'" in the String compared Characters: a `'` followed by a combining
    /// mark is another Character and was left unescaped; found by this target.)
    static func singleQuoted(_ word: String) -> String {
        var quoted = String.UnicodeScalarView()
        quoted.append("'")
        for scalar in word.unicodeScalars {
            if scalar == "'" { quoted.append(contentsOf: #"'\''"#.unicodeScalars) } else { quoted.append(scalar) }
        }
        quoted.append("'")
        return String(quoted)
    }
}
