import Foundation
import NotesClient
import NotesModels
import Synchronization

/// What a running command needs: the API (one HTTP client), the output rules, and hooks the
/// REPL listens to.
final class CommandContext: Sendable {
    let api: NotesAPI
    let output: Output
    let interactive: Bool
    private let seen: SeenNotes?

    init(api: NotesAPI, output: Output, interactive: Bool, seen: SeenNotes? = nil) {
        self.api = api
        self.output = output
        self.interactive = interactive
        self.seen = seen
    }

    /// The shell's record of note ids, shared with contexts made for one line.
    var seenNotes: SeenNotes? { seen }

    /// Called by commands that show, add or find notes, so the REPL can complete their ids.
    func saw(_ ids: [UUID]) { seen?.add(ids) }

    /// Called when a note is deleted: its id is no longer completed.
    func forget(_ id: UUID) { seen?.remove(id) }

    /// The note an id argument names: a whole UUID as it is, else the one note of the user's
    /// whose id starts with it. None is a 404-like failure (exit 1); several is a usage error
    /// that lists them.
    func resolve(_ id: NoteID) async throws -> UUID {
        if let uuid = id.uuid { return uuid }
        let matches = try await api.notes(withIDPrefix: id.text)
        saw(matches.map(\.id))
        switch matches.count {
        case 0:
            throw CommandFailure("no note of yours has an id starting with \(id.text); \(output.command("list")) shows them")
        case 1:
            return matches[0].id
        default:
            let shown = matches.prefix(10).map { "\n  \(Output.id($0.id))  \(Output.visible($0.title))" }.joined()
            let more = matches.count > 10 ? "\n  … and \(matches.count - 10) more" : ""
            throw UsageError("\(id.text) is ambiguous: \(matches.count) notes have ids starting with it\(shown)\(more)\ntype more of the id")
        }
    }

    static let defaultServer = "http://127.0.0.1:8080"

    /// `--server`, else `NOTES_SERVER`, else the cached session's, else the default.
    static func resolveServer(_ flag: String?, store: SessionStore, environment: [String: String]) async -> String {
        if let flag, !flag.isEmpty { return flag }
        if let variable = environment["NOTES_SERVER"], !variable.isEmpty { return variable }
        if let session = try? await store.load() { return session.server }
        return defaultServer
    }

    /// An API for `server` with the transport options of `global` and the environment:
    /// `--insecure-http` or `NOTES_INSECURE_HTTP=1`, `--cacert FILE` or `NOTES_CACERT`.
    static func makeAPI(
        server: String,
        store: SessionStore,
        global: GlobalOptions,
        environment: [String: String],
        observer: @escaping @Sendable (NotesAPIEvent) -> Void
    ) throws -> NotesAPI {
        let insecure = global.insecureHTTP || ["1", "true", "yes"].contains(environment["NOTES_INSECURE_HTTP"]?.lowercased() ?? "")
        let caFile = global.cacert ?? environment["NOTES_CACERT"].flatMap { $0.isEmpty ? nil : $0 }
        return try NotesAPI(server: server, store: store, insecureHTTP: insecure, caCertificate: caFile, observer: observer)
    }

    /// Prints a `--verbose` line for an API event when `verbose` says so.
    static func observer(output: Output, verbose: VerboseSwitch) -> @Sendable (NotesAPIEvent) -> Void {
        { event in
            guard verbose.isOn else { return }
            switch event {
            case .request:
                break
            case .response(let method, let path, let status, let errorName):
                let suffix = errorName.map { " \(Output.visible($0))" } ?? ""
                output.info("\(method) \(path) → \(status)\(suffix)")
            case .unreachable(let method, let path):
                output.info("\(method) \(path) → no answer")
            case .refreshing:
                output.info(output.style("refreshing access token", .yellow))
            case .reusedRefreshedSession:
                output.info("reusing the token pair another request or process just obtained")
            }
        }
    }

    /// Builds a context, runs `body`, shuts the HTTP client down, and turns any error into
    /// a printed message and an exit code.
    static func withContext(
        global: GlobalOptions,
        output: Output,
        _ body: (CommandContext) async throws -> Void
    ) async -> Int32 {
        let environment = ProcessInfo.processInfo.environment
        let store = SessionStore(environment: environment)
        let server = await resolveServer(global.server, store: store, environment: environment)
        let api: NotesAPI
        do {
            api = try makeAPI(
                server: server,
                store: store,
                global: global,
                environment: environment,
                observer: observer(output: output, verbose: VerboseSwitch(global.verbose))
            )
        } catch {
            return Failure.report(error, output: output)
        }
        let context = CommandContext(api: api, output: output, interactive: false)
        var code: Int32 = 0
        do {
            try await body(context)
        } catch {
            code = Failure.report(error, output: output)
        }
        try? await api.shutdown()
        return code
    }
}

/// A flag the REPL can flip per line (`--verbose` on one line only).
final class VerboseSwitch: Sendable {
    private let state: Mutex<Bool>
    init(_ on: Bool) { state = Mutex(on) }
    var isOn: Bool { state.withLock { $0 } }
    func set(_ on: Bool) { state.withLock { $0 = on } }
}

/// Every note id the shell has seen (listed, shown, added, edited, found by a prefix), in
/// the order first seen, for Tab completion; `onChange` gets the whole list after a change.
final class SeenNotes: Sendable {
    private let ids = Mutex<[UUID]>([])
    private let onChange: @Sendable ([UUID]) -> Void

    init(onChange: @escaping @Sendable ([UUID]) -> Void) { self.onChange = onChange }

    func add(_ new: [UUID]) {
        let all: [UUID]? = ids.withLock { ids in
            let missing = new.filter { !ids.contains($0) }
            guard !missing.isEmpty else { return nil }
            ids += missing
            return ids
        }
        if let all { onChange(all) }
    }

    func remove(_ id: UUID) {
        let all = ids.withLock { ids in
            ids.removeAll { $0 == id }
            return ids
        }
        onChange(all)
    }

    var all: [UUID] { ids.withLock { $0 } }
}
