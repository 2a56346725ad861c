import Foundation
import Synchronization

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

/// `body`, or a ``TestFailure`` after `seconds`. `body` is then cancelled but not waited for:
/// work that ignores cancellation (a blocked read) must not hold the test for ever.
public func withDeadline<T: Sendable>(
    seconds: Double,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = FirstResult<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            once.set(continuation)
            let worker = Task { once.resume(await Result { try await body() }) }
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                if once.resume(.failure(TestFailure("timed out after \(seconds)s waiting for \(what)"))) { worker.cancel() }
            }
        }
    } onCancel: {
        once.resume(.failure(CancellationError()))
    }
}

/// Resumes a continuation with whichever result comes first.
final class FirstResult<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, early: Result<T, any Error>?, done: Bool)>((nil, nil, false))

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    @discardableResult
    func resume(_ result: Result<T, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>?? in
            guard !state.done else { return .none }
            state.done = true
            if state.continuation == nil { state.early = result }
            return .some(state.continuation)
        }
        guard case .some(let waiting) = continuation else { return false }
        waiting?.resume(with: result)
        return true
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
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
