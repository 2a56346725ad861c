import ArgumentParser
import Foundation
import NotesClient

struct Token: NotesSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Decode the cached access token (header, payload, signature) without verifying it.",
        discussion: Examples.text(
            "token                      the three parts, the claims explained, the time left",
            "token --raw                the token alone, for curl:",
            "  curl -H \"Authorization: Bearer $(notes token --raw)\" http://127.0.0.1:8080/me"
        )
    )

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Print the access token alone (for curl -H \"Authorization: Bearer $(notes token --raw)\").") var raw = false

    /// What each registered or SecureNotes claim means, in the order they are explained.
    static let claimMeanings: [(name: String, meaning: String)] = [
        ("sub", "subject: the user's id"),
        ("name", "the username"),
        ("admin", "may the user list users"),
        ("iss", "issuer: who made it; checked on every request"),
        ("aud", "audience: whom it is for; checked on every request"),
        ("iat", "issued at"),
        ("nbf", "not valid before"),
        ("exp", "expiry: from then on the server answers TokenExpiredError"),
        ("jti", "JWT id: this token's own id"),
        ("sid", "the session (refresh-token family) it belongs to"),
    ]

    func execute(in context: CommandContext) async throws {
        guard let session = try await context.api.currentSession() else {
            throw NotesClientError.notLoggedIn(context.api.displayServer)
        }
        if raw {
            context.output.line(session.accessToken)
            return
        }
        let jwt = try UnverifiedJWT(session.accessToken)
        let output = context.output
        output.line(output.style("Decoded, NOT verified:", .yellow) + " anyone can read a JWT; only the server's key can vouch for it.")
        output.line()
        output.line("A JWT is three base64url parts joined by dots: header.payload.signature.")
        let labels = ["header", "payload", "signature"]
        let colours: [Output.Style] = [.cyan, .green, .yellow]
        for (index, segment) in jwt.segments.enumerated() where index < 3 {
            let shown = segment.count > 40 ? String(segment.prefix(24)) + "…" + String(segment.suffix(8)) : segment
            let dot = index == 0 ? " " : "."
            output.line("  \(dot)\(output.style(shown, colours[index]))  \(labels[index]), \(segment.count) characters")
        }
        output.line("(\(output.command("token --raw")) prints it whole.)")
        output.line()
        output.line(output.style("Header", .bold) + " (how it is signed)")
        output.line(Output.visible(Self.indented(jwt.headerJSON), keepingNewlines: true))
        if let kid = jwt.keyID.map({ Output.visible($0) }) {
            if jwt.algorithm == "HS256" {
                output.line("  kid  \(kid) names the shared secret; HS256 keys are secret, so the JWKS lists none")
            } else {
                output.line("  kid  \(kid) names the signing key; its public half is in \(context.api.displayServer)/.well-known/jwks.json")
            }
        }
        output.line()
        output.line(output.style("Payload", .bold) + " (the claims)")
        output.line(Output.visible(Self.indented(jwt.payloadJSON), keepingNewlines: true))
        let width = Self.claimMeanings.map(\.name.count).max() ?? 0
        for (name, meaning) in Self.claimMeanings {
            guard let value = jwt.claims[name] else { continue }
            let padded = name.padding(toLength: width, withPad: " ", startingAt: 0)
            var detail = Output.visible(value)
            switch name {
            case "iat": if let date = jwt.issuedAt { detail = Output.longDate(date) }
            case "nbf": if let date = jwt.notBefore { detail = Output.longDate(date) }
            case "exp": if let date = jwt.expiresAt { detail = Output.longDate(date) }
            default: break
            }
            output.line("  \(padded)  \(detail)  " + output.style("— \(meaning)", .dim))
        }
        output.line()
        output.line(
            output.style("Signature", .bold)
                + " \(jwt.signatureByteCount) bytes (\(Output.visible(jwt.algorithm ?? "unknown algorithm"))) over header.payload: change one character and the server answers invalid signature"
        )
        output.line()
        if let expiresAt = jwt.expiresAt {
            // Clamped: a token is untrusted input, and its exp may be any number.
            let left = Output.seconds(expiresAt.timeIntervalSinceNow)
            if left > 0 {
                output.line("Time left: \(output.style(Output.duration(left), .green))")
            } else {
                output.line("Time left: " + output.style("expired \(Output.duration(left)) ago", .red) + " — the next call refreshes it")
            }
        }
        let sessionLeft = Output.seconds(session.refreshTokenExpiresAt.timeIntervalSinceNow)
        output.line(
            "Refresh token: opaque (not a JWT), kept in \(context.api.store.path); each refresh rotates it. "
                + "The session ends \(Output.isoDate(session.refreshTokenExpiresAt))"
                + (sessionLeft > 0 ? ", in \(Output.duration(sessionLeft)), " : ", ")
                + "however often it is refreshed; then \(output.command("login")) again."
        )
    }

    /// The decoder's pretty JSON, re-indented as `jq .` prints it.
    static func indented(_ json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)),
            let compact = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return json }
        return Output.indented(String(decoding: compact, as: UTF8.self))
    }
}
