import ArgumentParser
import Foundation
import NotesClient
import NotesModels

/// A mistake in how a command was used, found after parsing (exit 64).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A failure a command explains in its own words, with the exit code that goes with it.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    let code: Int32
    init(_ description: String, code: Int32 = 1) {
        self.description = description
        self.code = code
    }
}

/// The user interrupted a prompt (Ctrl-C) or closed it (Ctrl-D).
struct Cancelled: Error {}

/// API.md's exit codes, and the one place that prints an error for people.
enum Failure {
    static let usage: Int32 = 64
    static let unavailable: Int32 = 69
    static let noPermission: Int32 = 77

    static func report(_ error: any Error, output: Output) -> Int32 {
        switch error {
        case let error as NotesClientError:
            output.error(describe(error, output: output))
            return code(for: error)
        case let error as InvalidCACertificateError:
            output.error(error.description)
            return usage
        case let error as InvalidServerURLError:
            output.error(error.description)
            return usage
        case let error as UsageError:
            output.error(error.description)
            return usage
        case let error as CommandFailure:
            output.error(error.description)
            return error.code
        case let error as ValidationError:
            output.error(error.message)
            return usage
        case is Cancelled:
            output.error("cancelled")
            return 1
        case is CancellationError:
            output.error("interrupted")
            return 130
        case let error as SessionStoreError:
            output.error(error.description)
            return 1
        case let error as UnverifiedJWT.FormatError:
            output.error("the cached access token is not a JWT: \(error.description)")
            return 1
        default:
            output.error(Output.visible(String(describing: error), keepingNewlines: true))
            return 1
        }
    }

    static func code(for error: NotesClientError) -> Int32 {
        switch error.code {
        case .unreachable: return unavailable
        case .insecureTransport: return usage
        case .notLoggedIn, .sessionExpired, .sessionRevoked: return noPermission
        case .server where error.status == 401 || error.status == 429: return noPermission
        default: return 1
        }
    }

    /// What went wrong, then what to do next, in the terms of where it was typed.
    static func describe(_ error: NotesClientError, output: Output) -> String {
        let login = output.command("login")
        switch error.code {
        case .unreachable:
            let server = error.server ?? "the server"
            let reason = error.reason.map { " (\($0))" } ?? ""
            // A certificate or a stalled answer is not a server that is down: say what it is.
            if let tls = error.reason, tls.hasPrefix("TLS") {
                return "cannot talk safely to the server at \(server): \(tls)"
            }
            if error.reason?.hasPrefix("no complete answer") == true {
                return "the server at \(server) did not answer in time\(reason); nothing was changed here"
            }
            let elsewhere = output.inShell ? "another server with --server URL on the line" : "another server with --server URL or NOTES_SERVER"
            return
                "cannot reach the server at \(server)\(reason)\n  is notes-server running? start it with make demo (or make server), or use \(elsewhere)"
        case .notLoggedIn:
            return "not logged in to \(error.server ?? "the server") — run \(login)"
        case .sessionExpired:
            return "session expired — run \(login)"
        case .sessionRevoked:
            if error.reason?.contains("already used") == true {
                return "session revoked: its refresh token had already been used (is a copy of session.json in use elsewhere?) — run \(login)"
            }
            return "session revoked on the server (logged out, maybe from another copy of the session) — run \(login)"
        case .server:
            break
        default:
            return error.message
        }
        guard let detail = error.detail else { return Output.visible(error.message) }
        // Everything the server wrote is shown with its control and bidi characters visible.
        let name = Output.visible(detail.name)
        let message = Output.visible(detail.message)
        var text: String
        if let details = detail.details, !details.isEmpty {
            // The message repeats the details; say each once.
            text = "the server refused the request (\(name), HTTP \(error.status ?? 0)):"
            for (field, problem) in details.sorted(by: { $0.key < $1.key }) {
                text += "\n  \(Output.visible(field)): \(Output.visible(problem))"
            }
        } else {
            text = "\(message) (\(name), HTTP \(error.status ?? 0))"
        }
        if let retryAfter = error.retryAfter, !detail.message.contains("try again") { text += "\n  try again in \(retryAfter)s" }
        if let requestId = detail.requestId { text += "\n  request id: \(Output.visible(requestId))" }
        if detail.knownName == .authentication && error.status == 401 && detail.message.lowercased().contains("refresh") {
            text += "\n  run \(login)"
        }
        return text
    }
}
