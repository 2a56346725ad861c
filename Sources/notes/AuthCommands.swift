import ArgumentParser
import Foundation
import NotesClient
import NotesModels

/// Where a command gets a username and password from.
struct CredentialOptions: ParsableArguments, Sendable {
    @Option(help: "The username (asked for when missing).")
    var username: String?

    @Flag(help: "Read the password from stdin instead of prompting (for scripts).")
    var passwordStdin = false

    func username(context: CommandContext) async throws -> String {
        // In the REPL stdin is the terminal, read with echo: the password would show.
        if passwordStdin && context.interactive {
            throw UsageError("--password-stdin is for scripts; in the shell, leave it out and type the password at the prompt")
        }
        if let username, !username.isEmpty { return username }
        if passwordStdin { throw UsageError("--password-stdin needs --username") }
        let typed = try await Terminal.prompt("Username: ", echo: true).trimmingCharacters(in: .whitespaces)
        guard !typed.isEmpty else { throw UsageError("a username is required") }
        return typed
    }

    func password(confirm: Bool) async throws -> String {
        if passwordStdin {
            let text = try await Terminal.readStdin()
            guard !text.isEmpty else { throw UsageError("--password-stdin: stdin was empty") }
            return text
        }
        let password = try await Terminal.prompt("Password: ", echo: false)
        if confirm {
            let again = try await Terminal.prompt("Password again: ", echo: false)
            guard again == password else { throw UsageError("the passwords do not match") }
        }
        return password
    }
}

struct Register: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "register",
        abstract: "Create an account, then log in to it."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var credentials: CredentialOptions

    func execute(in context: CommandContext) async throws {
        let username = try await credentials.username(context: context)
        let password = try await credentials.password(confirm: !credentials.passwordStdin)
        let user = try await context.api.register(username: username, password: password)
        try await context.api.login(username: username, password: password)
        context.output.line("registered \(context.output.style(user.username, .bold)) and logged in to \(context.api.server)")
    }
}

struct Login: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in and keep the token pair in the session cache."
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var credentials: CredentialOptions

    func execute(in context: CommandContext) async throws {
        let username = try await credentials.username(context: context)
        let password = try await credentials.password(confirm: false)
        let session = try await context.api.login(username: username, password: password)
        let left = Output.duration(Int(session.accessTokenExpiresAt.timeIntervalSinceNow.rounded()))
        context.output.line(
            "logged in as \(context.output.style(session.username, .bold)) at \(session.server) (access token valid for \(left); notes token shows it)"
        )
    }
}

struct Logout: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Revoke the refresh token on the server and delete the cached session."
    )

    @OptionGroup var global: GlobalOptions

    func execute(in context: CommandContext) async throws {
        if try await context.api.logout() {
            context.output.line("logged out")
        } else {
            context.output.line("not logged in to \(context.api.server); nothing to do")
        }
    }
}

struct Whoami: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Show the current user, from /me."
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the User as JSON.") var json = false

    func execute(in context: CommandContext) async throws {
        let user = try await context.api.me()
        if json { return try context.output.json(user) }
        let output = context.output
        output.line(output.style(user.username, .bold) + (user.admin ? " (admin)" : ""))
        output.line("id       \(user.id.uuidString.lowercased())")
        output.line("since    \(Output.shortDate(user.createdAt))")
        output.line("server   \(context.api.server)")
    }
}

struct Users: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List every user (admins only)."
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print a JSON array of User.") var json = false

    func execute(in context: CommandContext) async throws {
        let users = try await context.api.users()
        if json { return try context.output.json(users) }
        context.output.table(
            headers: ["USERNAME", "ADMIN", "ID", "CREATED"],
            rows: users.map { [$0.username, $0.admin ? "yes" : "", $0.id.uuidString.lowercased(), Output.shortDate($0.createdAt)] },
            flexible: [0],
            styles: [.bold, nil, .dim, nil]
        )
    }
}
