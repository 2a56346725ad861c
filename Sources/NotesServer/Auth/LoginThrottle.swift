import Foundation

/// Counts failed logins per username (unknown ones included) in a fixed window that starts at
/// the first failure. After `limit` failures every attempt is refused until the window ends;
/// a success before that resets the count. One actor per server, so every connection and
/// request shares it.
actor LoginThrottle {
    /// The one key every username that fails validation is counted under.
    static let invalidNameKey = "\u{0}invalid-username"

    let limit: Int
    /// The most usernames tracked at once. Past it (a flood of distinct names within one
    /// window), new names are refused until windows end: failing closed keeps the lockout of
    /// every tracked name intact.
    let capacity: Int
    let window: TimeInterval
    private let now: @Sendable () -> Date
    private var failures: [String: (count: Int, windowStart: Date)] = [:]
    private var lastSweep = Date.distantPast

    init(limit: Int = 5, window: TimeInterval = 15 * 60, capacity: Int = 100_000, now: @escaping @Sendable () -> Date) {
        self.limit = limit
        self.capacity = capacity
        self.window = window
        self.now = now
    }

    /// Starts an attempt: the seconds until the window ends when the username is locked out,
    /// else nil, having already counted this attempt as a failure. Counting up front means
    /// concurrent guesses cannot slip past the limit while bcrypt runs; a success then calls
    /// ``succeeded(username:)``, which clears the count.
    func begin(username: String) -> Int? {
        let current = now()
        sweep(current)
        if let entry = failures[username] {
            let end = entry.windowStart.addingTimeInterval(window)
            if current < end {
                if entry.count >= limit {
                    return max(1, Int(end.timeIntervalSince(current).rounded(.up)))
                }
                failures[username] = (entry.count + 1, entry.windowStart)
                return nil
            }
        }
        if failures.count >= capacity {
            sweep(current, force: true)
            if failures.count >= capacity {
                let soonest = failures.values.map { $0.windowStart.addingTimeInterval(window) }.min() ?? current
                return max(1, Int(soonest.timeIntervalSince(current).rounded(.up)))
            }
        }
        failures[username] = (1, current)
        return nil
    }

    func succeeded(username: String) {
        failures[username] = nil
    }

    /// Drops ended windows now and then, so a flood of made-up usernames cannot grow memory
    /// past what one window holds.
    private func sweep(_ current: Date, force: Bool = false) {
        guard force || current.timeIntervalSince(lastSweep) > 60 else { return }
        lastSweep = current
        failures = failures.filter { current < $0.value.windowStart.addingTimeInterval(window) }
    }
}
