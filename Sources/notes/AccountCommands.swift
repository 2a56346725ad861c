import ArgumentParser
import Foundation
import NotesClient
import NotesModels

struct Passwd: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Change your password; this client stays logged in, every other session ends.",
        discussion: Examples.text(
            "passwd                           prompts for each, without echo",
            "passwd --password-stdin < file   line 1 current, line 2 new"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Read the current and the new password from stdin, one per line (for scripts).") var passwordStdin = false

    func execute(in context: CommandContext) async throws {
        // Say "not logged in" before asking for any password.
        guard try await context.api.currentSession() != nil else { throw NotesClientError.notLoggedIn(context.api.server) }
        let (current, new) = try await passwords(context: context)
        guard NotesLimits.passwordBytes.contains(new.utf8.count) else {
            throw UsageError("the new password must be 8 to 72 bytes long")
        }
        guard new != current else { throw UsageError("the new password is the same as the current one") }
        let session = try await context.api.changePassword(current: current, new: new)
        context.output.line(
            "password changed for \(context.output.style(Output.visible(session.username), .bold)); "
                + "this client stays logged in, every other session has ended"
        )
    }

    private func passwords(context: CommandContext) async throws -> (String, String) {
        if passwordStdin {
            // In the shell stdin is the terminal, read with echo: the passwords would show.
            if context.interactive {
                throw UsageError("--password-stdin is for scripts; in the shell, leave it out and type the passwords at the prompts")
            }
            let lines = try await Terminal.readStdin().split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
            }
            guard lines.count == 2, !lines[0].isEmpty, !lines[1].isEmpty else {
                throw UsageError("--password-stdin: give two lines on stdin, the current password then the new one")
            }
            return (lines[0], lines[1])
        }
        let current = try await Terminal.prompt("Current password: ", echo: false)
        let new = try await Terminal.prompt("New password: ", echo: false)
        let again = try await Terminal.prompt("New password again: ", echo: false)
        guard again == new else { throw UsageError("the new passwords do not match") }
        return (current, new)
    }
}

struct Sessions: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "List your sessions (the current one marked), or revoke one.",
        discussion: Examples.text(
            "sessions                   newest first; * marks this client's",
            "sessions --json | jq -r '.[] | select(.current | not) | .id'",
            "sessions revoke 3F2B9C1E-…   ends it at once"
        ),
        subcommands: [SessionsRevoke.self]
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print a JSON array of Session.") var json = false

    func execute(in context: CommandContext) async throws {
        let sessions = try await context.api.sessions()
        if json { return try context.output.json(sessions) }
        let output = context.output
        guard !sessions.isEmpty else {
            output.line("no sessions")
            return
        }
        output.table(
            headers: ["", "ID", "CREATED", "LAST USED", "EXPIRES"],
            rows: sessions.map { session in
                [
                    session.current ? "*" : "", Output.id(session.id), Output.shortDate(session.createdAt),
                    Output.shortDate(session.lastUsedAt), Output.shortDate(session.expiresAt),
                ]
            },
            flexible: [],
            styles: [.green, .dim, nil, nil, nil]
        )
        output.info("* this client's session; end another with \(output.command("sessions revoke ID")), all with \(output.command("logout --all"))")
    }
}

struct SessionsRevoke: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "End one of your sessions: its refresh token stops working at once.",
        discussion: Examples.text("sessions revoke 3F2B9C1E-…")
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The session's id, as sessions shows it.", valueName: "id")) var id: String

    func validate() throws {
        guard UUID(uuidString: id) != nil else {
            throw ValidationError("'\(Output.visible(id))' is not a session id: use a whole id as sessions shows it")
        }
    }

    func execute(in context: CommandContext) async throws {
        guard let uuid = UUID(uuidString: id) else { throw UsageError("not a session id: \(Output.visible(id))") }
        let own = try await context.api.currentSessionID()
        try await context.api.revokeSession(id: uuid)
        if own == uuid {
            // Its refresh token is dead: the cache would only fail later.
            try await context.api.store.delete()
            context.output.line("revoked \(Output.id(uuid)), this client's own session: logged out")
        } else {
            context.output.line("revoked \(Output.id(uuid))")
        }
    }
}
