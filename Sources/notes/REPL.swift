import ArgumentParser
import Dispatch
import Foundation
import NotesClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The interactive shell: reads a line, splits it like a shell, parses it with the very
/// same ArgumentParser commands as the command line, runs it, and goes on after errors.
struct REPL {
    let global: GlobalOptions

    /// Names Tab completes and `help` lists, beside the commands.
    static let builtins = ["help", "quit"]

    func run() async -> Int32 {
        let output = Output(inShell: true)
        let environment = ProcessInfo.processInfo.environment
        let store = SessionStore(environment: environment)
        let server = await CommandContext.resolveServer(global.server, store: store, environment: environment)
        let verbose = VerboseSwitch(global.verbose)

        let editor: LineEditor
        do {
            let names = NotesCommand.commands.compactMap { $0.configuration.commandName } + Self.builtins
            editor = try LineEditor(historyPath: NotesPaths.historyFile(environment: environment), commands: names)
        } catch {
            return Failure.report(error, output: output)
        }
        let observer = CommandContext.observer(output: output, verbose: verbose)
        let context: CommandContext
        do {
            let api = try CommandContext.makeAPI(server: server, store: store, global: global, environment: environment, observer: observer)
            let seen = SeenNotes { ids in editor.setNoteIDs(ids.map(Output.id)) }
            context = CommandContext(api: api, output: output, interactive: true, seen: seen)
        } catch {
            return Failure.report(error, output: output)
        }

        // Ctrl-C: clear the line being edited, or interrupt the running command.
        let running = RunningCommand()
        signal(SIGINT, SIG_IGN)
        let interrupts = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupts.setEventHandler {
            editor.interrupt()
            running.cancel()
        }
        interrupts.resume()

        output.line("notes \(context.api.displayServer) — type help for the commands, quit or Ctrl-D to leave")
        while true {
            let prompt = await Self.prompt(for: context.api)
            guard let line = await editor.readLine(prompt: prompt) else {
                output.line()
                break
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            var words: [String]
            do {
                words = try ShellWords.split(trimmed)
            } catch {
                output.error(String(describing: error))
                continue
            }
            if !Self.isSensitive(words) { editor.remember(trimmed) }
            if words.first == "notes" {
                // A command copied from the README's shell examples: run it, and say how the
                // shell spells it.
                words.removeFirst()
                output.info("(in this shell, commands are typed without notes in front: \(words.first ?? "help") …)")
                if words.isEmpty { words = ["help"] }
            }
            if words == ["quit"] || words == ["exit"] { break }
            if words.first == "help" {
                Self.help(words.dropFirst().first, output: output)
                continue
            }
            if let mistake = CommandNames.mistake(in: words) {
                output.error(mistake.message(output: output))
                continue
            }
            await execute(words, context: context, verbose: verbose, observer: observer, running: running)
        }
        interrupts.cancel()
        signal(SIGINT, SIG_DFL)
        try? await context.api.shutdown()
        return 0
    }

    private func execute(
        _ words: [String],
        context: CommandContext,
        verbose: VerboseSwitch,
        observer: @escaping @Sendable (NotesAPIEvent) -> Void,
        running: RunningCommand
    ) async {
        let command: any NotesSubcommand
        do {
            guard let parsed = try NotesCommand.parseAsRoot(words) as? any NotesSubcommand else {
                context.output.error("type a command; help lists them")
                return
            }
            command = parsed
        } catch {
            Self.printParseError(error, output: context.output)
            return
        }
        verbose.set(global.verbose || command.global.verbose)
        // A line with its own --server gets a context (and HTTP client) of its own.
        var lineContext = context
        var ownsContext = false
        let lineGlobal = command.global
        if lineGlobal.server != nil || lineGlobal.insecureHTTP || lineGlobal.cacert != nil {
            do {
                let environment = ProcessInfo.processInfo.environment
                let api = try CommandContext.makeAPI(
                    server: lineGlobal.server ?? context.api.server,
                    store: context.api.store,
                    global: GlobalOptions.merged(global, lineGlobal),
                    environment: environment,
                    observer: observer
                )
                lineContext = CommandContext(api: api, output: context.output, interactive: true, seen: context.seenNotes)
                ownsContext = true
            } catch {
                _ = Failure.report(error, output: context.output)
                return
            }
        }
        let runContext = lineContext
        let task = Task { try await command.execute(in: runContext) }
        running.set(task)
        let result = await task.result
        running.set(nil)
        if case .failure(let error) = result {
            _ = Failure.report(error, output: context.output)
        }
        if ownsContext { try? await lineContext.api.shutdown() }
    }

    static func printParseError(_ error: any Error, output: Output) {
        var message = NotesCommand.fullMessage(for: error)
        if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
        message = shellTerms(message)
        if NotesCommand.exitCode(for: error) == .success {
            output.line(message)
        } else {
            output.error(message)
        }
    }

    /// `help` lists every command with one line each; `help CMD` shows that command's help.
    static func help(_ name: String?, output: Output) {
        if let name {
            guard let type = NotesCommand.commands.first(where: { $0.configuration.commandName == name }) else {
                output.error(CommandNames.Mistake(word: name).message(output: output))
                return
            }
            output.line(shellTerms(NotesCommand.helpMessage(for: type)))
            return
        }
        let rows =
            NotesCommand.commands.map { ($0.configuration.commandName ?? "", $0.configuration.abstract) }
            + [("help [COMMAND]", "List the commands, or show one command's options."), ("quit", "Leave (Ctrl-D too).")]
        let width = rows.map(\.0.count).max() ?? 0
        for (name, abstract) in rows {
            output.line("  " + output.style(name.padding(toLength: width, withPad: " ", startingAt: 0), .bold) + "  " + abstract)
        }
        output.line("Every command takes --server URL and --verbose; Tab completes commands and note ids.")
    }

    /// ArgumentParser writes usage and help for the command line; the shell's commands have
    /// no `notes` in front. (Examples keep it: those with a pipe or a redirection are for
    /// your own shell, and the help says so.)
    static func shellTerms(_ text: String) -> String {
        var text = text.replacingOccurrences(of: "Usage: notes ", with: "Usage: ")
            .replacingOccurrences(of: "USAGE: notes ", with: "USAGE: ")
            .replacingOccurrences(of: "'notes ", with: "'")
        if text.contains("Examples:\n") {
            text = text.replacingOccurrences(
                of: "Examples:\n",
                with: "Examples (as typed in your own shell; here, leave out notes):\n"
            )
        }
        return text
    }

    /// `USER@HOST:PORT> ` when logged in to this server, else `notes> `.
    static func prompt(for api: NotesAPI) async -> String {
        guard let session = try? await api.currentSession(), let components = URLComponents(string: session.server),
            let host = components.host
        else { return "notes> " }
        let port = components.port ?? (components.scheme == "https" ? 443 : 80)
        return "\(Output.visible(session.username))@\(Output.visible(host)):\(port)> "
    }

    /// Lines that could carry a password stay out of the history file.
    static func isSensitive(_ words: [String]) -> Bool {
        words.contains { word in
            let lower = word.lowercased()
            return (lower.hasPrefix("--password") && lower != "--password-stdin") || lower.hasPrefix("-p")
        }
    }
}

/// The command the REPL is running, so that Ctrl-C can cancel it.
final class RunningCommand: Sendable {
    private let task = Mutex<Task<Void, any Error>?>(nil)
    func set(_ value: Task<Void, any Error>?) { task.withLock { $0 = value } }
    func cancel() { task.withLock { $0?.cancel() } }
}
