import ArgumentParser
import Foundation
import NotesClient
import NotesModels

/// A note id argument: a UUID.
struct NoteID: ExpressibleByArgument, Sendable {
    let uuid: UUID
    init?(argument: String) {
        guard let uuid = UUID(uuidString: argument) else { return nil }
        self.uuid = uuid
    }
}

struct List: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List your notes, newest first."
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
        context.listed(notes.map(\.id))
        if json { return try context.output.json(notes) }
        let output = context.output
        guard !notes.isEmpty else {
            output.line("no notes")
            return
        }
        output.table(
            headers: ["ID", "TITLE", "TAGS", "UPDATED"],
            rows: notes.map { [$0.id.uuidString.lowercased(), $0.title, $0.tags.joined(separator: ","), Output.shortDate($0.updatedAt)] },
            flexible: [1, 2],
            styles: [.dim, nil, .green, nil]
        )
        if more { output.info("more notes: use --all, or a larger --limit") }
    }
}

struct Show: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one note."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The note's id.") var id: NoteID
    @Flag(help: "Print the Note as JSON.") var json = false

    func execute(in context: CommandContext) async throws {
        let note = try await context.api.note(id: id.uuid)
        if json { return try context.output.json(note) }
        let output = context.output
        output.line(output.style(note.title, .bold))
        output.line(output.style("id       \(note.id.uuidString.lowercased())", .dim))
        if !note.tags.isEmpty { output.line("tags     " + output.style(note.tags.joined(separator: ", "), .green)) }
        output.line("created  \(Output.shortDate(note.createdAt))")
        output.line("updated  \(Output.shortDate(note.updatedAt))  (version \(note.version))")
        if !note.body.isEmpty {
            output.line()
            output.line(note.body)
        }
    }
}

struct Add: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a note (the body from --body, or from stdin when piped)."
    )

    @OptionGroup var global: GlobalOptions
    @Option(help: "The title (1–200 characters).") var title: String
    @Option(help: "The body; without it, stdin is read when it is piped.") var body: String?
    @Option(name: .customLong("tag"), help: "A tag; repeat for more.") var tags: [String] = []
    @Flag(help: "Print the created Note as JSON.") var json = false

    func execute(in context: CommandContext) async throws {
        var body = self.body
        if body == nil && !context.interactive && Terminal.stdinIsPiped {
            body = try await Terminal.readStdin()
        }
        let note = try await context.api.createNote(NoteInput(title: title, body: body, tags: tags))
        context.listed([note.id])
        if json { return try context.output.json(note) }
        context.output.line("added \(note.id.uuidString.lowercased())")
    }
}

struct Edit: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Change a note's title, body or tags (--tag replaces all tags)."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The note's id.") var id: NoteID
    @Option(help: "A new title.") var title: String?
    @Option(help: "A new body; without it, stdin is read when it is piped.") var body: String?
    @Option(name: .customLong("tag"), help: "The new tags; repeat for more.") var tags: [String] = []
    @Flag(help: "Remove every tag.") var clearTags = false
    @Option(help: "Only change the note if it is still at this version (If-Match).") var ifVersion: Int?
    @Flag(help: "Print the changed Note as JSON.") var json = false

    func validate() throws {
        if clearTags && !tags.isEmpty { throw ValidationError("--clear-tags and --tag cannot be used together") }
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
        let note = try await context.api.updateNote(id: id.uuid, with: patch, ifMatch: ifVersion.map { "\"\($0)\"" })
        if json { return try context.output.json(note) }
        context.output.line("updated \(note.id.uuidString.lowercased()) (version \(note.version))")
    }
}

struct Remove: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete a note."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The note's id.") var id: NoteID

    func execute(in context: CommandContext) async throws {
        try await context.api.deleteNote(id: id.uuid)
        context.output.line("deleted \(id.uuid.uuidString.lowercased())")
    }
}
