import ArgumentParser
import NotesServer

/// The executable's entry point: everything else lives in the NotesServer library.
@main
struct NotesServerMain: AsyncParsableCommand {
    static let configuration = NotesServerCommand.configuration
}
