import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NotesModels

/// One per connection, right after HTTP decoding: refuses connections past the cap (so one
/// client cannot take every descriptor), and answers a request the decoder cannot read with
/// the contract's JSON error (431 for a request line or headers over the limit, 400 for
/// anything else) instead of a bare 400, then closes. Slow or idle connections are closed by
/// Hummingbird's idle timeout, which runs while no request is in progress.
///
/// It also makes draining safe. On SIGTERM Hummingbird closes every connection that has no
/// request in progress at once — including one just accepted whose request is still on its way
/// (a balancer connects, then sends). The balancer then sees its request answered by a reset,
/// and may not retry it elsewhere (a POST is not idempotent): a 502 for the client. So the guard
/// holds the drain signal back from a connection with nothing in progress until its next request
/// head arrives (that request is then answered, and the connection closed after it), or until
/// `drainGrace` passes with nothing received.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Open connections, shared by every connection's guard.
    private let open: QueueCounter
    private let limit: Int
    private var admitted = false
    private var answeredError = false
    /// Requests whose head has been read and whose answer has not been written to the end.
    private var inProgress = 0
    /// The drain signal, held back while the connection has no request in progress.
    private var heldDrain: Any?
    private var drainTimer: Scheduled<Void>?
    static let drainGrace = TimeAmount.seconds(1)

    init(open: QueueCounter, limit: Int) {
        self.open = open
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        admitted = open.enter(limit: limit)
        if !admitted { context.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            open.leave()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if admitted {
            admitted = false
            open.leave()
        }
        drainTimer?.cancel()
        drainTimer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        inProgress += 1
        context.fireChannelRead(data)
        // A request arrived on a draining connection: pass the drain signal on now, behind the
        // head, so the request is answered and the connection closed after it.
        if let event = heldDrain {
            heldDrain = nil
            drainTimer?.cancel()
            drainTimer = nil
            context.fireUserInboundEventTriggered(event)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), inProgress > 0 { inProgress -= 1 }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A connection accepted but not yet active is closed at once, as Hummingbird would: kept
        // open, it would become active after the server stopped taking connections, and NIO
        // traps on a connection the server never handled ("Deinited NIOAsyncWriter without
        // calling finish()", swift-nio#2637).
        guard event is ChannelShouldQuiesceEvent, inProgress == 0, heldDrain == nil, context.channel.isActive else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        heldDrain = event
        drainTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.drainGrace) { [self] in
            guard let held = heldDrain else { return }
            heldDrain = nil
            drainTimer = nil
            context.fireUserInboundEventTriggered(held)
        }
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
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
    }
}
