import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `notes [--server URL] COMMAND`; with no command on a terminal, the interactive shell.
@main
struct NotesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notes",
        abstract: "A terminal client for the SecureNotes server.",
        discussion: """
            Run without a command on a terminal to open the interactive shell.

            Examples:
              notes login --username alice
              notes list --tag jwt
              notes show 7c80                 (an id, or any unambiguous start of one)
              echo 'Stay curious' | notes add --title Wisdom
              curl -H "Authorization: Bearer $(notes token --raw)" http://127.0.0.1:8080/me

            Environment:
              NOTES_SERVER       the server's URL when --server is not given
              NOTES_INSECURE_HTTP=1  like --insecure-http: plain http to a host that is not loopback
              NOTES_CACERT       like --cacert FILE: a CA to trust beside the system's
              NOTES_CONFIG_DIR   where session.json is kept (default $XDG_CONFIG_HOME/notes, \
            else ~/.config/notes)
              XDG_STATE_HOME     the shell's history goes to $XDG_STATE_HOME/notes/history \
            (default ~/.local/state/notes/history)
              NO_COLOR           set: never colour

            Shell completion: notes --generate-completion-script bash (or zsh, fish).

            Exit codes: 0 success; 1 an error the server reported; 64 usage (also: plain http to \
            a host that is not loopback without --insecure-http); \
            69 server unreachable; 77 not logged in, wrong credentials, too many failed \
            logins, or the session could not be refreshed.
            """,
        version: NotesVersion.current,
        subcommands: NotesCommand.commands
    )

    /// ArgumentParser's `main`, after catching an unknown command name (ArgumentParser would
    /// say "unexpected argument", and `help NAME` would print the top-level help and exit 0).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let mistake = CommandNames.mistake(in: arguments) {
            let output = Output()
            output.error(mistake.message(output: output))
            Foundation.exit(Failure.usage)
        }
        await main(arguments)
    }

    /// Every command, in the order `help` lists them.
    static let commands: [any NotesSubcommand.Type] = [
        Register.self, Login.self, Logout.self, Passwd.self, Sessions.self, Whoami.self,
        List.self, Show.self, Add.self, Edit.self, Remove.self,
        Token.self, Users.self,
    ]

    @OptionGroup var global: GlobalOptions

    mutating func run() async throws {
        guard isatty(STDIN_FILENO) == 1 else {
            throw ValidationError("no command given (the interactive shell needs a terminal); see notes --help")
        }
        let code = await REPL(global: global).run()
        if code != 0 { throw ExitCode(code) }
    }
}

/// The version `notes --version` prints.
enum NotesVersion {
    static let current = "0.9.0"
}

/// Options every command takes, before or after the command name.
struct GlobalOptions: ParsableArguments, Sendable {
    @Option(help: "The server's URL (default: $NOTES_SERVER, else the logged-in session's, else http://127.0.0.1:8080).")
    var server: String?

    @Flag(help: "Print each request's method, path and status to stderr, and token refreshes.")
    var verbose = false

    @Flag(
        name: .customLong("insecure-http"),
        help:
            "Send passwords and tokens over plain http to a host that is not loopback (anyone on the way can read them; also NOTES_INSECURE_HTTP=1)."
    )
    var insecureHTTP = false

    @Option(help: ArgumentHelp("A PEM file of CA certificates to trust beside the system's, for https (also NOTES_CACERT).", valueName: "file"))
    var cacert: String?

    /// The shell's options with one line's own on top.
    static func merged(_ base: GlobalOptions, _ line: GlobalOptions) -> GlobalOptions {
        var merged = base
        if line.server != nil { merged.server = line.server }
        merged.verbose = base.verbose || line.verbose
        merged.insecureHTTP = base.insecureHTTP || line.insecureHTTP
        if line.cacert != nil { merged.cacert = line.cacert }
        return merged
    }
}

/// A command that runs against a ``CommandContext`` — from the command line or the REPL,
/// parsed by the same ArgumentParser definitions either way.
protocol NotesSubcommand: AsyncParsableCommand, Sendable {
    var global: GlobalOptions { get }
    func execute(in context: CommandContext) async throws
}

extension NotesSubcommand {
    mutating func run() async throws {
        let output = Output()
        let code = await CommandContext.withContext(global: global, output: output) { context in
            try await execute(in: context)
        }
        if code != 0 { throw ExitCode(code) }
    }
}
