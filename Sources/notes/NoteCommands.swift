import ArgumentParser
import Foundation
import NotesClient
import NotesModels

/// A note id argument: a whole UUID, or the start of one (any case) that the command
/// resolves against the user's notes.
struct NoteID: Sendable {
    /// Upper case, as ids are shown.
    let text: String

    struct Invalid: Error, CustomStringConvertible {
        var description: String {
            "a note id is the UUID that list shows (like 7C80A210-5F8D-4DB1-89B1-33783EC88FA4), or enough of its start to name one note"
        }
    }

    /// The `transform` of every id argument: ArgumentParser prints `Invalid`'s sentence after
    /// its own "The value … is invalid".
    static func parse(_ argument: String) throws -> NoteID {
        let text = argument.uppercased()
        guard !text.isEmpty, text.count <= 36, text.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { throw Invalid() }
        return NoteID(text: text)
    }

    /// The whole id, when it is one.
    var uuid: UUID? { UUID(uuidString: text) }
}

struct List: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List your notes, newest first.",
        discussion: Examples.text(
            "list                           the newest 20",
            "list --tag jwt --all           every note tagged jwt",
            "list --query \"refresh token\"  notes with both words",
            "list --json | jq '.[].title'"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "Only notes with this tag.") var tag: String?
    @Option(name: [.customShort("q"), .long], help: "Full-text search: every word must appear.") var query: String?
    @Option(help: "Page size (1–100, default 20).") var limit: Int?
    @Flag(help: "Follow every page.") var all = false
    @Flag(help: "Print a JSON array of Note.") var json = false

    func validate() throws {
        if let limit, !NotesLimits.pageSize.contains(limit) {
            throw ValidationError("--limit must be between 1 and 100")
        }
    }

    func execute(in context: CommandContext) async throws {
        let notes: [Note]
        var more = false
        if all {
            notes = try await context.api.allNotes(pageSize: limit, query: query, tag: tag)
        } else {
            let page = try await context.api.notes(limit: limit, query: query, tag: tag)
            notes = page.items
            more = page.nextCursor != nil
        }
        context.saw(notes.map(\.id))
        if json { return try context.output.json(notes) }
        let output = context.output
        guard !notes.isEmpty else {
            output.line("no notes")
            return
        }
        output.table(
            headers: ["ID", "TITLE", "TAGS", "UPDATED"],
            rows: notes.map { [Output.id($0.id), $0.title, $0.tags.joined(separator: ","), Output.shortDate($0.updatedAt)] },
            flexible: [1, 2],
            styles: [.dim, nil, .green, nil]
        )
        if more { output.info("more notes: use --all, or a larger --limit") }
    }
}

struct Show: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one note.",
        discussion: Examples.text(
            "show 7C80A210-5F8D-4DB1-89B1-33783EC88FA4",
            "show 7c80                  any unambiguous start of an id, any case",
            "show 7c80 --json"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: NoteID.help, transform: NoteID.parse) var id: NoteID
    @Flag(help: "Print the Note as JSON.") var json = false

    func execute(in context: CommandContext) async throws {
        let note = try await context.api.note(id: try await context.resolve(id))
        context.saw([note.id])
        if json { return try context.output.json(note) }
        let output = context.output
        output.line(output.style(Output.visible(note.title), .bold))
        output.line(output.style("id       \(Output.id(note.id))", .dim))
        if !note.tags.isEmpty { output.line("tags     " + output.style(Output.visible(note.tags.joined(separator: ", ")), .green)) }
        output.line("created  \(Output.shortDate(note.createdAt))")
        output.line("updated  \(Output.shortDate(note.updatedAt))  (version \(note.version))")
        if !note.body.isEmpty {
            output.line()
            output.line(Output.visible(note.body, keepingNewlines: true))
        }
    }
}

struct Add: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a note (the body from --body, or from stdin when piped).",
        discussion: Examples.text(
            "add --title \"My first note\" --body \"Hello, JWT\" --tag tutorial",
            "echo 'Stay curious' | notes add --title Wisdom --tag quotes"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The title (1–200 characters).") var title: String
    @Option(help: "The body; without it, stdin is read when it is piped.") var body: String?
    @Option(name: .customLong("tag"), help: "A tag; repeat for more.") var tags: [String] = []
    @Flag(help: "Print the created Note as JSON.") var json = false

    func validate() throws { try TagRules.check(tags) }

    func execute(in context: CommandContext) async throws {
        var body = self.body
        if body == nil && !context.interactive && Terminal.stdinIsPiped {
            body = try await Terminal.readStdin()
        }
        let note = try await context.api.createNote(NoteInput(title: title, body: body, tags: tags))
        context.saw([note.id])
        if json { return try context.output.json(note) }
        context.output.line("added \(Output.id(note.id))")
    }
}

struct Edit: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Change a note's title, body or tags (--tag replaces all tags).",
        discussion: Examples.text(
            "edit 7c80 --title \"A better title\"",
            "edit 7c80 --tag jwt --tag tutorial      the tags become exactly these",
            "edit 7c80 --body \"New text\" --if-version 2   only if nobody changed it since version 2"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: NoteID.help, transform: NoteID.parse) var id: NoteID
    @Option(help: "A new title.") var title: String?
    @Option(help: "A new body; without it, stdin is read when it is piped.") var body: String?
    @Option(name: .customLong("tag"), help: "The new tags; repeat for more.") var tags: [String] = []
    @Flag(help: "Remove every tag.") var clearTags = false
    @Option(help: "Only change the note if it is still at this version (If-Match).") var ifVersion: Int?
    @Flag(help: "Print the changed Note as JSON.") var json = false

    func validate() throws {
        if clearTags && !tags.isEmpty { throw ValidationError("--clear-tags and --tag cannot be used together") }
        try TagRules.check(tags)
    }

    func execute(in context: CommandContext) async throws {
        var body = self.body
        if body == nil && !context.interactive && Terminal.stdinIsPiped {
            let piped = try await Terminal.readStdin()
            if !piped.isEmpty { body = piped }
        }
        let patch = NotePatch(title: title, body: body, tags: clearTags ? [] : (tags.isEmpty ? nil : tags))
        guard patch.title != nil || patch.body != nil || patch.tags != nil else {
            throw UsageError("nothing to change: give --title, --body, --tag or --clear-tags")
        }
        let uuid = try await context.resolve(id)
        let note: Note
        do {
            note = try await context.api.updateNote(id: uuid, with: patch, ifMatch: ifVersion.map { "\"\($0)\"" })
        } catch let error as NotesClientError where error.errorName == .preconditionFailed {
            // The 412 carries the note's current ETag, "<version>".
            let current = error.etag.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"W/")) } ?? "?"
            throw CommandFailure(
                "the note is at version \(current) now, not \(ifVersion.map(String.init) ?? "?") (PreconditionFailedError, HTTP 412): "
                    + "someone changed it since; see it with \(context.output.command("show \(Output.id(uuid).prefix(8))")), "
                    + "then edit again with --if-version \(current)"
            )
        }
        context.saw([note.id])
        if json { return try context.output.json(note) }
        context.output.line("updated \(Output.id(note.id)) (version \(note.version))")
    }
}

struct Remove: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete a note (asks first on a terminal; --yes does not).",
        discussion: Examples.text(
            "rm 7c80                    asks: delete \"My first note\" (7C80A210)? [y/N]",
            "rm 7c80 --yes              no question (scripts never get one)"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: NoteID.help, transform: NoteID.parse) var id: NoteID
    @Flag(name: [.customShort("y"), .long], help: "Delete without asking.") var yes = false

    func execute(in context: CommandContext) async throws {
        let uuid = try await context.resolve(id)
        // Like rm -i and gh's delete commands: a person at a terminal confirms, a script
        // (stdin not a terminal) does not get asked.
        if !yes && (context.interactive || !Terminal.stdinIsPiped) {
            let note = try await context.api.note(id: uuid)
            let answer = try await Terminal.prompt(
                "delete \"\(Output.visible(note.title))\" (\(Output.id(uuid).prefix(8)))? [y/N] ",
                echo: true
            )
            guard ["y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased()) else {
                context.output.line("not deleted")
                return
            }
        }
        try await context.api.deleteNote(id: uuid)
        context.forget(uuid)
        context.output.line("deleted \(Output.id(uuid))")
    }
}

extension NoteID {
    static let help = ArgumentHelp("The note's id, or the start of it (list shows ids; Tab completes them in the shell).", valueName: "id")
}

/// The contract's tag rule, checked before sending so that the bad tag can be named.
enum TagRules {
    static func check(_ tags: [String]) throws {
        for tag in tags {
            let valid =
                NotesLimits.tagLength.contains(tag.count) && tag.allSatisfy { NotesLimits.tagCharacters.contains($0) }
            if !valid {
                throw ValidationError(
                    "--tag '\(tag)' is not a tag: a tag is 1–32 characters of a–z, 0–9, _ and - (lower case, no spaces)"
                )
            }
        }
        if tags.count > NotesLimits.maxTags {
            throw ValidationError("at most \(NotesLimits.maxTags) tags; got \(tags.count)")
        }
    }
}

/// The "Examples:" part of a command's help.
enum Examples {
    static func text(_ lines: String...) -> String {
        "Examples:\n" + lines.map { "  " + ($0.hasPrefix("echo") ? $0 : "notes " + $0) }.joined(separator: "\n")
    }
}
