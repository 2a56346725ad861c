import Foundation
import NotesClient
import Synchronization

/// What a running command needs: the API (one HTTP client), the output rules, and hooks the
/// REPL listens to.
final class CommandContext: Sendable {
    let api: NotesAPI
    let output: Output
    let interactive: Bool
    private let onListing: @Sendable ([UUID]) -> Void

    init(api: NotesAPI, output: Output, interactive: Bool, onListing: @escaping @Sendable ([UUID]) -> Void = { _ in }) {
        self.api = api
        self.output = output
        self.interactive = interactive
        self.onListing = onListing
    }

    /// Called by commands that show notes, so the REPL can complete their ids.
    func listed(_ ids: [UUID]) { onListing(ids) }

    static let defaultServer = "http://127.0.0.1:8080"

    /// `--server`, else `NOTES_SERVER`, else the cached session's, else the default.
    static func resolveServer(_ flag: String?, store: SessionStore, environment: [String: String]) async -> String {
        if let flag, !flag.isEmpty { return flag }
        if let variable = environment["NOTES_SERVER"], !variable.isEmpty { return variable }
        if let session = try? await store.load() { return session.server }
        return defaultServer
    }

    /// Prints a `--verbose` line for an API event when `verbose` says so.
    static func observer(output: Output, verbose: VerboseSwitch) -> @Sendable (NotesAPIEvent) -> Void {
        { event in
            guard verbose.isOn else { return }
            switch event {
            case .request:
                break
            case .response(let method, let path, let status, let errorName):
                let suffix = errorName.map { " \($0)" } ?? ""
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
            api = try NotesAPI(server: server, store: store, observer: observer(output: output, verbose: VerboseSwitch(global.verbose)))
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
