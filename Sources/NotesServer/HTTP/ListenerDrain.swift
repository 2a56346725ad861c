import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The first step of draining on SIGTERM, before Hummingbird closes the listening socket.
///
/// Closing a listening socket resets every connection the kernel has already accepted for it
/// but the server has not yet taken from its queue. A balancer that connected a moment before
/// has sent its request on such a connection and sees it reset: it may not retry a POST on
/// another replica, so the client gets a 502. The kernel gives no way to close a listener
/// without that reset, so this service, shut down before the server is:
/// 1. attaches a socket filter that drops new connection attempts (a TCP segment with SYN and
///    not ACK) while letting handshakes already under way complete. A dropped SYN is sent again
///    after a second; by then the listener is closed and the connection is refused, which a
///    balancer retries on another replica, as it may for any request it could not send;
/// 2. waits until the kernel's queue of accepted connections is empty (the server keeps taking
///    them and answers their requests), at least `settle` after the filter, at most `limit`;
/// 3. returns, and the server's own graceful shutdown closes the (now empty) listener and lets
///    every request in progress finish (see `ConnectionGuard`).
/// Linux only; elsewhere the listener is closed at once, as before.
final class ListenerDrain: Service, Sendable {
    private let channel = Mutex<(any Channel)?>(nil)
    private let logger: Logger
    let settle: Duration
    let limit: Duration

    init(logger: Logger, settle: Duration = .milliseconds(150), limit: Duration = .seconds(2)) {
        self.logger = logger
        self.settle = settle
        self.limit = limit
    }

    /// The server's listening channel, once it is bound (`onServerRunning`).
    func serverRunning(_ channel: any Channel) {
        self.channel.withLock { $0 = channel }
    }

    func run() async throws {
        // Nothing to do until the service group shuts down (or is cancelled).
        try? await gracefulShutdown()
        guard !Task.isCancelled, let channel = channel.withLock({ $0 }) else { return }
        await drain(channel)
    }

    func drain(_ channel: any Channel) async {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return }
        let start = ContinuousClock.now
        do {
            try await Self.refuseNewConnections(provider)
        } catch {
            logger.warning("draining: could not stop new connections before closing the listener", metadata: ["error": "\(error)"])
            return
        }
        var queued: UInt32 = 0
        while ContinuousClock.now - start < limit {
            // For a listening socket, the kernel reports its accept queue's length here.
            guard let info = try? await provider.getTCPInfo().get() else { break }
            queued = info.tcpi_unacked
            if queued == 0, ContinuousClock.now - start >= settle { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        logger.info(
            "draining: no new connections; closing the listener",
            metadata: ["waited": "\(ContinuousClock.now - start)", "queued": "\(queued)"]
        )
        #endif
    }

    #if os(Linux)
    /// Classic BPF, run on each TCP segment for the listener (offset 0 is the TCP header):
    /// drop a segment whose flags have SYN set and ACK clear, accept everything else.
    private static let program: [SocketFilterInstruction] = [
        .init(code: 0x30, jt: 0, jf: 0, k: 13),  // ldb [13]          TCP flags
        .init(code: 0x54, jt: 0, jf: 0, k: 0x12),  // and #0x12          SYN | ACK
        .init(code: 0x15, jt: 0, jf: 1, k: 0x02),  // jeq #0x02, drop    SYN alone
        .init(code: 0x06, jt: 0, jf: 0, k: 0),  // ret #0             drop
        .init(code: 0x06, jt: 0, jf: 0, k: 0xFFFF_FFFF),  // ret #-1   keep
    ]

    private static func refuseNewConnections(_ provider: any SocketOptionProvider) async throws {
        let count = program.count
        let instructions = UnsafeMutablePointer<SocketFilterInstruction>.allocate(capacity: count)
        instructions.initialize(from: program, count: count)
        defer { instructions.deallocate() }
        // setsockopt copies the program into the kernel before the future completes.
        let value = SocketFilterProgram(len: UInt16(count), filter: UnsafeMutableRawPointer(instructions))
        try await provider.unsafeSetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_ATTACH_FILTER), value: value)
            .get()
    }
    #endif
}

#if os(Linux)
/// `struct sock_filter` of <linux/filter.h>.
struct SocketFilterInstruction: Sendable {
    var code: UInt16
    var jt: UInt8
    var jf: UInt8
    var k: UInt32
}

/// `struct sock_fprog` of <linux/filter.h>: a length and a pointer to the instructions.
struct SocketFilterProgram: @unchecked Sendable {
    var len: UInt16
    var filter: UnsafeMutableRawPointer?
}
#endif
