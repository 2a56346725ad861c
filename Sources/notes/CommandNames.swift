import ArgumentParser

/// Unknown command names, caught before ArgumentParser (which would call one an "unexpected
/// argument"), with the closest names offered the way gh does ("Did you mean this?").
enum CommandNames {
    /// Every name a user may type as a command.
    static var all: [String] { NotesCommand.commands.compactMap { $0.configuration.commandName } + ["help"] }

    /// A word that names no command.
    struct Mistake: Equatable {
        let word: String

        /// The names within two edits of the word, or starting with it, closest first (in the
        /// shell, `quit` too).
        func suggestions(inShell: Bool = false) -> [String] {
            (CommandNames.all + (inShell ? ["quit"] : [])).map { ($0, CommandNames.distance(word.lowercased(), $0)) }
                .filter { $0.1 <= 2 || ($0.0.hasPrefix(word.lowercased()) && !word.isEmpty) }
                .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
                .map(\.0)
        }

        func message(output: Output) -> String {
            var text = "unknown command '\(word)'"
            let suggestions = self.suggestions(inShell: output.inShell)
            if !suggestions.isEmpty {
                text += "\n\nDid you mean this?\n" + suggestions.map { "    " + $0 }.joined(separator: "\n") + "\n"
            }
            text += output.inShell ? "\nType help for the commands." : "\nRun notes --help for the commands."
            return text
        }
    }

    /// The mistake in `arguments` (without the program name), if its command or the command
    /// after `help` is unknown. Options before the command are skipped (`--server URL` with
    /// its value).
    static func mistake(in arguments: [String]) -> Mistake? {
        var index = 0
        while index < arguments.count, arguments[index].hasPrefix("-") {
            if arguments[index] == "--" { return nil }
            // Options that take a value in the next word.
            if ["--server", "--cacert", "--generate-completion-script"].contains(arguments[index]) { index += 1 }
            index += 1
        }
        guard index < arguments.count else { return nil }
        let word = arguments[index]
        if word == "help" {
            guard index + 1 < arguments.count else { return nil }
            let topic = arguments[index + 1]
            return all.contains(topic) || topic.hasPrefix("-") ? nil : Mistake(word: topic)
        }
        return all.contains(word) ? nil : Mistake(word: word)
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
