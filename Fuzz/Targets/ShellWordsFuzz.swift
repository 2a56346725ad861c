import Foundation

@testable import NotesClient

/// The REPL's word splitting (``ShellWords``). Besides not crashing, one property: words
/// written back single-quoted (a `'` as `'\''`, as a shell would) split into the same words.
enum ShellWordsFuzz {
    static func run(_ data: Data) {
        let line = String(decoding: data, as: UTF8.self)
        guard let words = try? ShellWords.split(line) else { return }
        let quoted = words.map { "'" + $0.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }.joined(separator: " ")
        let again: [String]
        do {
            again = try ShellWords.split(quoted)
        } catch {
            preconditionFailure("quoted words do not split again: \(quoted.debugDescription): \(error)")
        }
        precondition(again == words, "quoted words split differently: \(words.debugDescription) became \(again.debugDescription)")
    }
}
