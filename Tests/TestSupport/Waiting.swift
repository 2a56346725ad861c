import Foundation

/// A test's own failure, with a message that says what was expected.
public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work (waiting for a process, reading a pipe) on a thread of its own, never on
/// the cooperative pool, which the in-process servers of other suites need.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `body`, or a ``TestFailure`` after `seconds` (and `body` cancelled).
public func withDeadline<T: Sendable>(
    seconds: Double,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestFailure("timed out after \(seconds)s waiting for \(what)")
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TestFailure("no result for \(what)") }
        return first
    }
}

/// Polls `condition` every `interval` until it holds, or throws a ``TestFailure`` naming
/// `what` after `seconds` (with `detail()` appended, e.g. a process's output).
public func poll(
    _ what: String,
    seconds: Double = 30,
    interval: Duration = .milliseconds(20),
    detail: () -> String = { "" },
    until condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            let extra = detail()
            throw TestFailure("timed out after \(seconds)s waiting for \(what)" + (extra.isEmpty ? "" : "\n" + extra))
        }
        try await Task.sleep(for: interval)
    }
}
