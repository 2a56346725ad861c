import ArgumentParser
import Foundation
import NotesClient
import NotesModels

/// A mistake in how a command was used, found after parsing (exit 64).
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
            output.error(describe(error))
            return code(for: error)
        case let error as InvalidServerURLError:
            output.error(error.description)
            return usage
        case let error as UsageError:
            output.error(error.description)
            return usage
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
            output.error(String(describing: error))
            return 1
        }
    }

    static func code(for error: NotesClientError) -> Int32 {
        switch error.code {
        case .unreachable: return unavailable
        case .notLoggedIn, .sessionExpired: return noPermission
        case .server where error.status == 401: return noPermission
        default: return 1
        }
    }

    static func describe(_ error: NotesClientError) -> String {
        guard error.code == .server, let detail = error.detail else { return error.message }
        var text = "\(detail.message) (\(detail.name), HTTP \(error.status ?? 0))"
        if let details = detail.details, !details.isEmpty {
            for (field, problem) in details.sorted(by: { $0.key < $1.key }) {
                text += "\n  \(field): \(problem)"
            }
        }
        if let retryAfter = error.retryAfter { text += "\n  try again in \(retryAfter) s" }
        if let requestId = detail.requestId { text += "\n  request id: \(requestId)" }
        if detail.knownName == .authentication && error.status == 401 && detail.message.lowercased().contains("refresh") {
            text += "\n  run notes login"
        }
        return text
    }
}
