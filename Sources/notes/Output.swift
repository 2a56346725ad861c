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

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
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
        Self.write("\(label) \(text)\n", to: FileHandle.standardError)
    }

    /// Pretty, key-sorted JSON of `value` on stdout: stable for scripts.
    func json(_ value: some Encodable) throws {
        let data = try NotesJSON.encoder(pretty: true).encode(value)
        Self.write(String(decoding: data, as: UTF8.self) + "\n", to: FileHandle.standardOutput)
    }

    private static func write(_ text: String, to handle: FileHandle) {
        try? handle.write(contentsOf: Data(text.utf8))
    }

    // MARK: Tables

    /// Renders rows under headers; `flexible` columns shrink (with `…`) to fit the width.
    func table(headers: [String], rows: [[String]], flexible: Set<Int>, styles: [Style?] = []) {
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
        date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
            + " UTC (" + date.formatted(.relative(presentation: .named)) + ")"
    }

    /// `14m 32s`, `2h 5m`, `3d 4h`.
    static func duration(_ seconds: Int) -> String {
        let s = abs(seconds)
        switch s {
        case ..<60: return "\(s)s"
        case ..<3600: return "\(s / 60)m \(s % 60)s"
        case ..<86400: return "\(s / 3600)h \((s % 3600) / 60)m"
        default: return "\(s / 86400)d \((s % 86400) / 3600)h"
        }
    }
}
