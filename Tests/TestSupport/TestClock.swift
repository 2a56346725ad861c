public import Foundation
import Synchronization

/// A clock tests move by hand, for token, session and throttle expiry without waiting.
///
/// ``init(_:)`` makes one that stands still (whole seconds, so answers can be compared
/// exactly); ``running()`` one that goes on with the wall clock. ``advance(_:)`` moves either.
public final class TestClock: Sendable {
    private struct State {
        var start: Date
        var running: Bool
        var offset: TimeInterval = 0
    }
    private let state: Mutex<State>

    /// A clock standing still at `start` (now, rounded down to the second, by default).
    public init(_ start: Date = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))) {
        state = Mutex(State(start: start, running: false))
    }

    private init(running: Void) {
        state = Mutex(State(start: Date(), running: true))
    }

    /// A clock that runs with the wall clock, ahead of it by whatever ``advance(_:)`` added.
    public static func running() -> TestClock { TestClock(running: ()) }

    public func now() -> Date {
        state.withLock { ($0.running ? Date() : $0.start).addingTimeInterval($0.offset) }
    }

    public func advance(_ seconds: TimeInterval) { state.withLock { $0.offset += seconds } }
}
