import Foundation
import TestSupport
import Testing

/// Colour and width rules of API.md: colour only on a terminal, never with `NO_COLOR`;
/// tables fit the terminal.
@Suite("Output on a terminal and off it", .serialized)
struct OutputTests {
    static let escape = "\u{1B}["

    /// The output of `notes ARGUMENTS` on a terminal, up to and including `marker`.
    func onTerminal(
        _ server: LiveServer,
        _ arguments: [String],
        until marker: String,
        extra: [String: String],
        columns: UInt16 = 120
    ) async throws -> String {
        var environment = server.environment(["TERM": "xterm"].merging(extra) { $1 })
        if extra["NO_COLOR"] == nil { environment["NO_COLOR"] = nil }
        let terminal = try PseudoTerminal(executable: Binaries.notes.path, arguments: arguments, environment: environment, columns: columns)
        defer { terminal.close() }
        let output = try await terminal.expect(marker)
        #expect(try await terminal.waitForExit(timeout: 30) == 0)
        return output
    }

    @Test("colour on a terminal, none with NO_COLOR, none when piped")
    func colour() async throws {
        try await withServerProcess { server in
            #expect(try await server.register("alice", "correct-horse-1").status == 0)
            #expect(try await server.notes(["add", "--title", "coloured", "--tag", "x"]).status == 0)
            let coloured = try await onTerminal(server, ["token"], until: "Time left", extra: [:])
            #expect(coloured.contains(Self.escape), "a terminal gets colour: \(coloured.debugDescription)")
            let plain = try await onTerminal(server, ["token"], until: "Time left", extra: ["NO_COLOR": "1"])
            #expect(plain.contains("Payload"))
            #expect(!plain.contains(Self.escape), "NO_COLOR must turn colour off")
            let piped = try await server.notes(["token"])
            #expect(piped.stdout.contains("Payload"))
            #expect(!piped.stdout.contains(Self.escape) && !piped.stderr.contains(Self.escape))
        }
    }

    @Test("a table is cut to the terminal's width")
    func width() async throws {
        try await withServerProcess { server in
            #expect(try await server.register("alice", "correct-horse-1").status == 0)
            let long = String(repeating: "very long title ", count: 12)
            #expect(try await server.notes(["add", "--title", long]).status == 0)
            let narrow = try await onTerminal(server, ["list"], until: "…", extra: ["NO_COLOR": "1"], columns: 70)
            let lines = narrow.split(whereSeparator: \.isNewline)
            #expect(!lines.isEmpty)
            for line in lines { #expect(line.count <= 70, "wider than the terminal: \(line)") }
            #expect(narrow.contains("very lo"), "the title is cut, not dropped")
        }
    }
}
