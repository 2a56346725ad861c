import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NotesModels
import Synchronization

/// How many connections are open, shared by every connection's ``ConnectionGuard``.
final class ConnectionLimiter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place when fewer than `limit` are taken.
    func enter() -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func leave() {
        open.subtract(1, ordering: .acquiringAndReleasing)
    }

    var count: Int { open.load(ordering: .relaxed) }
}

/// One per connection, right after HTTP decoding: refuses connections past the cap (so one
/// client cannot take every descriptor), and answers a request the decoder cannot read with
/// the contract's JSON error (431 for a request line or headers over the limit, 400 for
/// anything else) instead of a bare 400, then closes. Slow or idle connections are closed by
/// Hummingbird's idle timeout, which runs while no request is in progress.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limiter: ConnectionLimiter
    private var admitted = false
    private var answeredError = false

    init(limiter: ConnectionLimiter) {
        self.limiter = limiter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        admitted = limiter.enter()
        if !admitted { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            limiter.leave()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            limiter.leave()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !answeredError else { return }
        answeredError = true
        var error: APIError =
            parse == .headerOverflow
            ? APIError(.requestHeaderFieldsTooLarge, .validation, "request line or header fields are larger than the server accepts")
            : APIError(.badRequest, .validation, "request is not valid HTTP/1.1")
        error.details = ["request": error.message]
        let body = ByteBuffer(bytes: (try? NotesJSON.encoder().encode(error.body)) ?? Data())
        var head = HTTPResponse(status: error.status, headerFields: error.headers)
        head.headerFields[.contentType] = "application/json; charset=utf-8"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        // Half-close, like a lingering close: the client may still be sending the rest of what
        // could not be read, and a full close now would reset the connection and lose the answer.
        // The idle timeout closes it for good.
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
    }
}
