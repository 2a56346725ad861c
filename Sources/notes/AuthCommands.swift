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
        abstract: "Create an account, then log in to it.",
        discussion: Examples.text(
            "register --username carol             asks for the password twice, without echo",
            "register --username carol --password-stdin < password.txt"
        )
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var credentials: CredentialOptions

    func execute(in context: CommandContext) async throws {
        let username = try await credentials.username(context: context)
        let password = try await credentials.password(confirm: !credentials.passwordStdin)
        let user = try await context.api.register(username: username, password: password)
        let previous = try await context.api.store.load()
        try await context.api.login(username: username, password: password)
        try await Login.endReplaced(previous, by: user.username, context: context)
        context.output.line("registered \(context.output.style(Output.visible(user.username), .bold)) and logged in to \(context.api.displayServer)")
    }
}

struct Login: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in and keep the token pair in the session cache.",
        discussion: Examples.text(
            "login --username alice                 asks for the password, without echo",
            "login --username alice --password-stdin < password.txt",
            "login --username bob                   replaces alice's session (and logs it out)"
        )
    )

    @OptionGroup var global: GlobalOptions
    @OptionGroup var credentials: CredentialOptions

    func execute(in context: CommandContext) async throws {
        let username = try await credentials.username(context: context)
        let password = try await credentials.password(confirm: false)
        let previous = try await context.api.store.load()
        let session = try await context.api.login(username: username, password: password)
        try await Self.endReplaced(previous, by: session.username, context: context)
        // exp - iat is the server's TTL exactly; the clock since the answer came would say 29s.
        let jwt = try? UnverifiedJWT(session.accessToken)
        let lifetime =
            jwt.flatMap { jwt in jwt.expiresAt.flatMap { exp in jwt.issuedAt.map { Output.seconds(exp.timeIntervalSince($0)) } } }
            ?? Output.seconds(session.accessTokenExpiresAt.timeIntervalSinceNow.rounded())
        context.output.line(
            "logged in as \(context.output.style(Output.visible(session.username), .bold)) at \(ServerURL.redacted(session.server)) "
                + "(access token valid for \(Output.duration(lifetime)); \(context.output.command("token")) shows it)"
        )
    }

    /// A login replaces the one cached session. Says so when it was another user's or
    /// another server's, and logs the replaced session out on its server (when that is this
    /// server: tokens never go elsewhere), so that it does not stay alive unseen.
    static func endReplaced(_ previous: NotesClient.Session?, by username: String, context: CommandContext) async throws {
        guard let previous else { return }
        let sameServer = previous.server == context.api.server
        if sameServer {
            // Best effort: the new login has already succeeded.
            try? await context.api.revoke(refreshToken: previous.refreshToken)
        }
        guard previous.username != username || !sameServer else { return }
        let name = Output.visible(previous.username)
        let whose = sameServer ? "\(name)'s session" : "\(name)'s session at \(ServerURL.redacted(previous.server))"
        let what = sameServer ? "logged out" : "forgotten here; it stays valid there until it expires"
        context.output.line("replaced \(whose) (\(what))")
    }
}

struct Logout: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "logout",
        abstract: "Revoke the refresh token on the server and delete the cached session.",
        discussion: Examples.text("logout", "logout --all               every session of the user, on every device")
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "End every session of the user (log out everywhere), not only this one.") var all = false

    func execute(in context: CommandContext) async throws {
        if all {
            if try await context.api.logoutEverywhere() {
                context.output.line("logged out everywhere: every session of this user has ended")
            } else {
                context.output.line("not logged in to \(context.api.displayServer); nothing to do")
            }
            return
        }
        if try await context.api.logout() {
            context.output.line("logged out")
        } else {
            context.output.line("not logged in to \(context.api.displayServer); nothing to do")
        }
    }
}

struct Whoami: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Show the current user, from /me.",
        discussion: Examples.text("whoami", "whoami --json | jq -r .id")
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the User as JSON.") var json = false

    func execute(in context: CommandContext) async throws {
        let user = try await context.api.me()
        if json { return try context.output.json(user) }
        let output = context.output
        output.line(output.style(Output.visible(user.username), .bold) + (user.admin ? " (admin)" : ""))
        output.line("id       \(Output.id(user.id))")
        output.line("since    \(Output.shortDate(user.createdAt))")
        output.line("server   \(context.api.displayServer)")
    }
}

struct Users: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List every user (admins only).",
        discussion: Examples.text("users", "users --json | jq -r '.[].username'")
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print a JSON array of User.") var json = false

    func execute(in context: CommandContext) async throws {
        let users = try await context.api.users()
        if json { return try context.output.json(users) }
        context.output.table(
            headers: ["USERNAME", "ADMIN", "ID", "CREATED"],
            rows: users.map { [Output.visible($0.username), $0.admin ? "yes" : "", Output.id($0.id), Output.shortDate($0.createdAt)] },
            flexible: [0],
            styles: [.bold, nil, .dim, nil]
        )
    }
}
