import Foundation
import NotesModels

#if canImport(Glibc)
import Glibc
#endif

/// Where text goes and how it looks: color only on a terminal and never with `NO_COLOR`
/// (or `TERM=dumb`); tables cut to the terminal's width.
struct Output: Sendable {
    enum Style: String, Sendable {
        case bold = "1"
        case dim = "2"
        case red = "31"
        case green = "32"
        case yellow = "33"
        case cyan = "36"
    }

    let color: Bool
    let errorColor: Bool
    /// Columns available, when known (a terminal, or `COLUMNS`).
    let width: Int?
    /// Whether the text is for the interactive shell, where commands are typed without
    /// `notes` in front (messages say `login`, not `notes login`).
    let inShell: Bool

    init(environment: [String: String] = ProcessInfo.processInfo.environment, inShell: Bool = false) {
        self.inShell = inShell
        let allowed = environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
        color = allowed && isatty(STDOUT_FILENO) == 1
        errorColor = allowed && isatty(STDERR_FILENO) == 1
        width = Self.terminalWidth(environment: environment)
    }

    static func terminalWidth(environment: [String: String]) -> Int? {
        var size = winsize()
        if isatty(STDOUT_FILENO) == 1, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 {
            return Int(size.ws_col)
        }
        if let columns = environment["COLUMNS"].flatMap({ Int($0) }), columns > 0 { return columns }
        return nil
    }

    /// A command as the user types it where they are: `notes login` on the command line,
    /// `login` in the shell.
    func command(_ words: String) -> String {
        inShell ? words : "notes " + words
    }

    func style(_ text: String, _ style: Style) -> String {
        color ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// A line on stdout.
    func line(_ text: String = "") { Self.write(text + "\n", to: FileHandle.standardOutput) }

    /// A line on stderr for people (progress, verbose).
    func info(_ text: String) { Self.write(text + "\n", to: FileHandle.standardError) }

    /// An error on stderr.
    func error(_ text: String) {
        let label = errorColor ? "\u{1B}[31merror:\u{1B}[0m" : "error:"
        Self.write("\(label) \(Self.visible(text, keepingNewlines: true))\n", to: FileHandle.standardError)
    }

    /// Key-sorted JSON of `value` on stdout, indented as `jq .` prints it (so it reads like
    /// the server's answers in the README): stable for scripts.
    func json(_ value: some Encodable) throws {
        let data = try NotesJSON.encoder().encode(value)
        Self.write(Self.indented(String(decoding: data, as: UTF8.self)) + "\n", to: FileHandle.standardOutput)
    }

    /// Compact JSON re-indented the way `jq .` does: two spaces, `"key": value`, and empty
    /// arrays and objects as `[]` and `{}` (Foundation's pretty printer puts a blank line in them).
    static func indented(_ compact: String) -> String {
        var result = ""
        var depth = 0
        var inString = false
        var escaped = false
        let characters = Array(compact)
        func newline() { result += "\n" + String(repeating: "  ", count: depth) }
        for (index, character) in characters.enumerated() {
            if inString {
                result.append(character)
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                }
                continue
            }
            switch character {
            case "\"":
                inString = true
                result.append(character)
            case "{", "[":
                result.append(character)
                let next = index + 1 < characters.count ? characters[index + 1] : " "
                if next == "}" || next == "]" { continue }
                depth += 1
                newline()
            case "}", "]":
                let previous = index > 0 ? characters[index - 1] : " "
                if previous != "{" && previous != "[" {
                    depth -= 1
                    newline()
                }
                result.append(character)
            case ",":
                result.append(character)
                newline()
            case ":":
                result += ": "
            default:
                result.append(character)
            }
        }
        return result
    }

    /// Whole seconds of `interval`, clamped so that no value (infinite, NaN, ±1e300 from a
    /// hostile token or server) can trap the conversion.
    static func seconds(_ interval: TimeInterval) -> Int {
        guard interval.isFinite else { return interval.isNaN ? 0 : (interval < 0 ? -Int(1e12) : Int(1e12)) }
        return Int(max(-1e12, min(1e12, interval)).rounded(.down))
    }

    /// `text` safe to put in front of a person: C0 and C1 control characters (ESC included),
    /// DEL, and the bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069,
    /// U+200E, U+200F, U+061C) are written as visible `\u{…}` escapes, so text from a server
    /// can neither drive the terminal nor reorder what is shown. Newlines and tabs stay when
    /// `keepingNewlines` (a note's body), else they become escapes too (a title, a name).
    static func visible(_ text: String, keepingNewlines: Bool = false) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if keepingNewlines && (value == 0x0A || value == 0x09) {
                result.unicodeScalars.append(scalar)
                continue
            }
            let hidden =
                value < 0x20 || (0x7F...0x9F).contains(value) || (0x202A...0x202E).contains(value)
                || (0x2066...0x2069).contains(value) || value == 0x200E || value == 0x200F || value == 0x061C
            if hidden {
                result += "\\u{" + String(value, radix: 16, uppercase: true) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// A note or user id as every output shows it: upper case, as the server's JSON has it.
    static func id(_ uuid: UUID) -> String { uuid.uuidString.uppercased() }

    private static func write(_ text: String, to handle: FileHandle) {
        try? handle.write(contentsOf: Data(text.utf8))
    }

    // MARK: Tables

    /// Renders rows under headers; `flexible` columns shrink (with `…`) to fit the width.
    func table(headers: [String], rows: [[String]], flexible: Set<Int>, styles: [Style?] = []) {
        let rows = rows.map { $0.map { Self.visible($0) } }
        let columns = headers.count
        var widths = (0..<columns).map { index in
            max(headers[index].count, rows.map { $0[index].count }.max() ?? 0)
        }
        let gap = 2
        if let width {
            let fixed = widths.enumerated().filter { !flexible.contains($0.offset) }.map(\.element).reduce(0, +)
            var available = width - fixed - gap * (columns - 1)
            // Share what is left between the flexible columns, narrowest first.
            let order = flexible.sorted { widths[$0] < widths[$1] }
            for (position, index) in order.enumerated() {
                let share = max(6, available / (order.count - position))
                widths[index] = min(widths[index], share)
                available -= widths[index]
            }
        }
        func cell(_ text: String, _ index: Int, header: Bool) -> String {
            var text = text
            if text.count > widths[index] { text = String(text.prefix(max(0, widths[index] - 1))) + "…" }
            let padded = index == columns - 1 ? text : text + String(repeating: " ", count: widths[index] - text.count)
            if header { return style(padded, .bold) }
            if index < styles.count, let chosen = styles[index] { return style(padded, chosen) }
            return padded
        }
        let separator = String(repeating: " ", count: gap)
        line(headers.indices.map { cell(headers[$0], $0, header: true) }.joined(separator: separator))
        for row in rows {
            line(row.indices.map { cell(row[$0], $0, header: false) }.joined(separator: separator))
        }
    }

    /// `2026-01-31 14:05` in local time, whatever the locale: tables stay aligned and sortable.
    static func shortDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.string(from: date)
    }

    static func longDate(_ date: Date) -> String {
        isoDate(date) + " (" + date.formatted(.relative(presentation: .named)) + ")"
    }

    /// `2026-01-31T14:05:00 UTC`.
    static func isoDate(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
            + " UTC"
    }

    /// `45s`, `15m`, `14m 32s`, `2h 5m`, `30d`, `3d 4h` (the server's own duration syntax
    /// where it is exact).
    static func duration(_ seconds: Int) -> String {
        // `seconds.magnitude`, not `abs`: abs(Int.min) traps.
        let s = Int(clamping: seconds.magnitude)
        func pair(_ big: Int, _ bigUnit: String, _ small: Int, _ smallUnit: String) -> String {
            small == 0 ? "\(big)\(bigUnit)" : "\(big)\(bigUnit) \(small)\(smallUnit)"
        }
        switch s {
        case ..<60: return "\(s)s"
        case ..<3600: return pair(s / 60, "m", s % 60, "s")
        case ..<86400: return pair(s / 3600, "h", (s % 3600) / 60, "m")
        default: return pair(s / 86400, "d", (s % 86400) / 3600, "h")
        }
    }
}
