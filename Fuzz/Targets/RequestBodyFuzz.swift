import Foundation
import Hummingbird
import NotesModels

@testable import NotesServer

/// Request bodies as the controllers read them: decoded by the server's one JSON body
/// decoder, checked by the same validation, and any refusal written as the contract's error.
/// The first byte picks the route's body type; the rest is the body. Also `If-Match` /
/// `If-None-Match` values, which arrive from the client as freely.
enum RequestBodyFuzz {
    static func run(_ data: Data) {
        guard let selector = data.first else { return }
        let body = Data(data.dropFirst())
        do {
            switch selector % 6 {
            case 0:
                // POST /auth/register (login decodes the same type and checks less).
                let credentials = try Request.decodeJSONBody(Credentials.self, from: body)
                var problems: [String: String] = [:]
                problems["username"] = Validate.username(credentials.username)
                problems["password"] = Validate.password(credentials.password)
                if !problems.isEmpty { throw APIError.validation(problems) }
            case 1:
                // POST /auth/refresh and /auth/logout.
                let request = try Request.decodeJSONBody(RefreshRequest.self, from: body)
                _ = RefreshTokens.hash(request.refreshToken)
            case 2:
                // POST /auth/password.
                let change = try Request.decodeJSONBody(PasswordChangeRequest.self, from: body)
                if let problem = Validate.password(change.newPassword) { throw APIError.validation(["newPassword": problem]) }
            case 3:
                // POST /notes and PUT /notes/{id}.
                let input = try Request.decodeJSONBody(NoteInput.self, from: body)
                try NotesController.check(title: input.title, body: input.body ?? "", tags: input.tags ?? [])
            case 4:
                // PATCH /notes/{id}.
                let patch = try Request.decodeJSONBody(NotePatch.self, from: body)
                try NotesController.check(title: patch.title, body: patch.body, tags: patch.tags)
            default:
                let header = String(decoding: body, as: UTF8.self)
                for version in [0, 1, 2, Int.max] {
                    _ = ETagList(header).matches(version: version)
                    _ = ETagList(header, weak: true).matches(version: version)
                }
            }
        } catch let error as APIError {
            _ = error.response()
        } catch {
            // Anything but an APIError would reach the client as a 500.
            preconditionFailure("a request body was refused with \(type(of: error)), not the contract's error: \(error)")
        }
    }
}
