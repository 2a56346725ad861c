import Foundation
import Logging

/// One key's login counts, as both engines store them (times in milliseconds since 1970).
struct LoginAttemptState: Sendable, Equatable {
    /// When the first failure of the current window happened.
    var windowStartMs: Int64 = 0
    /// Failed password checks in the current window.
    var failures: Int = 0
    /// Admitted attempts whose password check has not finished yet.
    var pending: Int = 0
    /// When the newest reservation lapses; after that, `pending` counts as zero (a server that
    /// died mid-check cannot hold a user's places for longer than this).
    var pendingUntilMs: Int64 = 0
}

/// What an attempt may do.
enum LoginAdmission: Sendable, Equatable {
    /// Go on to the password check; settle afterwards.
    case admitted
    /// Too many failures in this window: refuse, and say when the window ends.
    case lockedOut(retryAfter: Int)
    /// Every remaining place is held by attempts still being checked: ask again shortly.
    case wait
}

/// How an admitted attempt ended.
enum LoginOutcome: Sendable, Equatable {
    case failure
    case success
    /// Refused before the password was checked (the server was busy): it does not count.
    case cancelled
}

/// API.md's login brute-force rule, as a pure function of one key's stored state, so that both
/// engines apply it identically inside their locked read-modify-write.
///
/// Failures are counted in a fixed window that starts at the first failure; after `limit` of
/// them every attempt is refused until the window ends. An attempt takes a place *before* its
/// password is checked, so concurrent wrong guesses cannot slip past the limit while bcrypt
/// runs; but a place held by an attempt still being checked is not a failure: an attempt that
/// finds every place held waits for one to settle instead of being refused, so correct
/// passwords sent at once are never locked out, and an attempt refused as busy gives its place
/// back uncounted.
struct LoginThrottleRule: Sendable {
    var limit: Int = 5
    var windowMs: Int64 = 15 * 60 * 1_000
    /// How long one admitted attempt may hold its place.
    var reservationMs: Int64 = 60 * 1_000

    /// The state as it stands at `now`: an ended window and lapsed reservations are cleared.
    func current(_ state: LoginAttemptState, now: Int64) -> LoginAttemptState {
        var state = state
        if state.failures > 0, now >= state.windowStartMs &+ windowMs {
            state.failures = 0
        }
        if now >= state.pendingUntilMs { state.pending = 0 }
        return state
    }

    func admit(_ stored: LoginAttemptState, now: Int64) -> (LoginAdmission, LoginAttemptState) {
        var state = current(stored, now: now)
        if state.failures >= limit {
            let left = max(0, state.windowStartMs &+ windowMs &- now)
            return (.lockedOut(retryAfter: max(1, Int((left + 999) / 1_000))), state)
        }
        guard state.failures + state.pending < limit else { return (.wait, state) }
        state.pending += 1
        state.pendingUntilMs = now &+ reservationMs
        return (.admitted, state)
    }

    /// The state after an admitted attempt ends; nil when nothing is left to keep.
    func settle(_ stored: LoginAttemptState, outcome: LoginOutcome, now: Int64) -> LoginAttemptState? {
        var state = current(stored, now: now)
        state.pending = max(0, state.pending - 1)
        switch outcome {
        case .failure:
            if state.failures == 0 { state.windowStartMs = now }
            state.failures += 1
        case .success:
            state.failures = 0
        case .cancelled:
            break
        }
        return state.failures == 0 && state.pending == 0 ? nil : state
    }
}

/// The login throttle over the shared store: the one place `AuthController` asks.
struct LoginThrottle: Sendable {
    /// The one key every username that fails validation is counted under.
    static let invalidNameKey = "\u{0}invalid-username"

    let attempts: any LoginAttemptRepository
    var rule = LoginThrottleRule()
    /// How long an attempt waits for a place held by attempts still being checked before it is
    /// refused as busy (uncounted).
    var maxWait: Duration = .seconds(5)

    /// Admits an attempt (the caller must then ``settle(key:outcome:at:logger:)``), or throws
    /// 429: locked out, or busy after waiting.
    func begin(key: String, at date: Date, logger: Logger) async throws {
        let deadline = ContinuousClock.now + maxWait
        // Backs off while it waits, so that many waiters do not hammer one row.
        var pause = Duration.milliseconds(10)
        while true {
            switch try await attempts.admit(key: key, at: date, rule: rule, logger: logger) {
            case .admitted:
                return
            case .lockedOut(let retryAfter):
                logger.notice("login throttled")
                throw APIError.tooManyRequests(retryAfter: retryAfter)
            case .wait:
                guard ContinuousClock.now < deadline else { throw APIError.busy(retryAfter: 1) }
                try await Task.sleep(for: pause + .milliseconds(Int.random(in: 0...10)))
                pause = min(pause * 2, .milliseconds(200))
            }
        }
    }

    func settle(key: String, outcome: LoginOutcome, at date: Date, logger: Logger) async throws {
        try await attempts.settle(key: key, outcome: outcome, at: date, rule: rule, logger: logger)
    }
}
