import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The API's listening channel, once bound.
final class Listener: Sendable {
    private let channel = Mutex<(any Channel)?>(nil)

    func set(_ channel: any Channel) { self.channel.withLock { $0 = channel } }

    /// Stops accepting connections; those already accepted go on.
    func close() async {
        let channel = self.channel.withLock { $0 }
        try? await channel?.close()
    }
}

/// Runs the app until SIGTERM or SIGINT, then drains: the listener closes at once (new
/// connections are refused, so a load balancer moves on to another replica), connections
/// already accepted have `delay` to deliver their requests, and then the graceful shutdown
/// lets every request in flight finish. Closing idle connections at the same moment as the
/// listener would cut one that a balancer had just opened for a request it was about to
/// send, and for a POST the balancer cannot try another replica.
func runDraining(_ app: some ApplicationProtocol, listener: Listener, delay: Duration = .seconds(1), logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
    let draining = DrainFlag()
    // Trapped before anything starts: a signal that came before the handler would kill the
    // process outright.
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            for await signal in signals {
                draining.set()
                logger.info("draining: the listener is closed, requests in flight finish", metadata: ["signal": .string("\(signal)")])
                await listener.close()
                try? await Task.sleep(for: delay)
                // Quiesces the open connections (idle ones close, busy ones after their answer).
                // Hummingbird then logs "Server shutdown error: Already closed" for the listener
                // closed above; the quiescing itself has happened.
                await group.triggerGracefulShutdown()
                return
            }
        }
        defer { tasks.cancelAll() }
        do {
            try await group.run()
        } catch let error as ServiceGroupError where error.errorCode == .serviceFinishedUnexpectedly && draining.isSet {
            // With the listener closed, the server stops by itself once its last connection has
            // ended, which can be before the delay is over: that is the end of a drain too.
            logger.info("drained: every connection has ended")
        }
    }
}

/// Set once the drain has begun.
final class DrainFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
