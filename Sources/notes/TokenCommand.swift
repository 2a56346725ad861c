import ArgumentParser
import Foundation
import NotesClient

struct Token: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Decode the cached access token (header, payload, signature) without verifying it."
    )

    @OptionGroup var global: GlobalOptions

    func execute(in context: CommandContext) async throws {
        guard let session = try await context.api.currentSession() else {
            throw NotesClientError.notLoggedIn(context.api.server)
        }
        let jwt = try UnverifiedJWT(session.accessToken)
        let output = context.output
        output.line(output.style("Decoded, NOT verified:", .yellow) + " anyone can read a JWT; only the server's key can vouch for it.")
        output.line("A JWT is three base64url parts joined by dots: header.payload.signature.")
        output.line()
        output.line(output.style("Header", .bold) + " (how it is signed)")
        output.line(jwt.headerJSON)
        output.line()
        output.line(output.style("Payload", .bold) + " (the claims)")
        output.line(jwt.payloadJSON)
        if let issuedAt = jwt.issuedAt { output.line("  iat  \(Output.longDate(issuedAt))") }
        if let notBefore = jwt.notBefore { output.line("  nbf  \(Output.longDate(notBefore))") }
        if let expiresAt = jwt.expiresAt { output.line("  exp  \(Output.longDate(expiresAt))") }
        output.line()
        output.line(output.style("Signature", .bold) + " \(jwt.signatureByteCount) bytes (\(jwt.algorithm ?? "unknown algorithm"))")
        output.line()
        if let expiresAt = jwt.expiresAt {
            // Clamped: a token is untrusted input, and its exp may be any number.
            let left = Int(max(-1e12, min(1e12, expiresAt.timeIntervalSinceNow)).rounded(.down))
            if left > 0 {
                output.line("Time left: \(output.style(Output.duration(left), .green))")
            } else {
                output.line("Time left: " + output.style("expired \(Output.duration(left)) ago", .red) + " — the next call refreshes it")
            }
        }
    }
}
