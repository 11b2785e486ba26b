import Logging
import MetaSimCore
import MetaSimProtocol
import NIOCore

/// One client connection: the handshake, an ordered queue of requests (one response each, in
/// order, even when a request waits on a worker thread), the sessions it owns and the sessions
/// it observes. Everything here runs on the connection's event loop.
final class ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Requests read but not yet answered before the connection stops reading (backpressure).
    static let maxQueued = 64

    let core: ServerCore
    let decoder: FrameDecoder
    var logger: Logger
    /// Bytes of a frame not yet complete (nil when the last read ended on a frame boundary).
    private var partial: ByteBuffer?
    /// When the client last sent anything (for the idle timeout).
    private var lastActivity = NIODeadline.now()
    private var idleTimer: RepeatedTask?
    private(set) var context: ChannelHandlerContext!
    var greeted = false
    var queue = CircularBuffer<InboundFrame>()
    var busy = false
    var draining = false
    var closed = false
    private var heldRead = false
    /// A fatal error to send once the requests before it are answered.
    private var pendingFatal: ByteBuffer?
    var sessions: [UInt32: Session] = [:]
    /// Sessions this connection observes (session id -> observe request id).
    var observing: [UInt32: (session: Session, requestID: UInt32)] = [:]

    init(core: ServerCore, logger: Logger) {
        self.core = core
        self.logger = logger
        decoder = FrameDecoder(maxFrame: core.configuration.maxFrame)
    }

    var key: ObjectIdentifier { ObjectIdentifier(self) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        logger[metadataKey: "connection"] = "\(UInt(bitPattern: ObjectIdentifier(self).hashValue) & 0xffffff)"
        core.register(NIOLoopBound(self, eventLoop: context.eventLoop), key: key)
        if core.draining.load(ordering: .acquiring) { beginDrain() }
        if let idle = core.configuration.idleTimeout {
            let check = TimeAmount.nanoseconds(max(idle.nanoseconds / 4, 1_000_000))
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            idleTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: check, delay: check) { _ in
                bound.value.checkIdle(idle)
            }
        }
    }

    /// Closes a connection that has sent nothing for `idle` and is not waiting for anything
    /// (an observer receiving a stream is not idle).
    private func checkIdle(_ idle: TimeAmount) {
        guard !closed, !busy, queue.isEmpty, observing.isEmpty else { return }
        if NIODeadline.now() - lastActivity > idle {
            logger.info("idle timeout: closing the connection")
            closeNow()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        idleTimer?.cancel()
        releaseAll()
        core.unregister(connection: key)
        logger.debug("connection closed")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed, pendingFatal == nil else { return }
        lastActivity = NIODeadline.now()
        var buffer = unwrapInboundIn(data)
        if var pending = partial {
            partial = nil
            pending.writeBuffer(&buffer)
            buffer = pending
        }
        do {
            while let frame = try decoder.next(&buffer) {
                var f = frame
                f.afterDrain = draining
                queue.append(f)
            }
        } catch {
            framingViolation(error)
            return
        }
        if buffer.readableBytes > 0 {
            // Keep only the incomplete frame (a copy, so the read buffer can go).
            var rest = context.channel.allocator.buffer(capacity: buffer.readableBytes)
            rest.writeBuffer(&buffer)
            partial = rest
        }
        if !busy { process() }
    }

    func read(context: ChannelHandlerContext) {
        // A client that sends faster than it reads its answers is not read from until it has
        // read them: neither requests nor responses pile up in the server's memory.
        if queue.count >= Self.maxQueued || !context.channel.isWritable {
            heldRead = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !busy { process() }
        context.fireChannelWritabilityChanged()
    }

    /// The stream cannot go on: answer what was read before the bad frame, then a fatal error.
    private func framingViolation(_ violation: FramingViolation) {
        logger.info("framing violation, closing: \(violation.message)")
        var buffer = context.channel.allocator.buffer(capacity: 256)
        let failure = RequestFailure(violation.code, violation.message, fatal: true)
        buffer.writeFrame(kind: 0, flags: [.response, .error], id: violation.id, meta: MetaCoding.encode(failure.reply))
        pendingFatal = buffer
        if !busy { process() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("connection error: \(error)")
        closeNow()
    }

    // MARK: The request queue

    /// Answers queued requests in order until one has to wait for a worker thread.
    func process() {
        var wrote = false
        while !busy, !closed, context.channel.isWritable, let frame = queue.popFirst() {
            core.requestCount.add(1, ordering: .relaxed)
            wrote = true
            if let wait = handle(frame) {
                busy = true
                wait.hop(to: context.eventLoop).assumeIsolated().whenComplete { _ in
                    self.busy = false
                    self.context.flush()
                    self.process()
                }
            }
        }
        if !busy, queue.isEmpty, let fatal = pendingFatal {
            pendingFatal = nil
            closeAfter(fatal)
            return
        }
        if wrote, !closed { context.flush() }
        if heldRead, queue.count < Self.maxQueued / 2, context.channel.isWritable, !closed {
            heldRead = false
            context.read()
        }
        if draining, !busy, queue.isEmpty, !closed { closeNow() }
    }

    func beginDrain() {
        guard !draining else { return }
        draining = true
        if !busy, queue.isEmpty { closeNow() }
    }

    func closeNow() {
        guard !closed else { return }
        closed = true
        context.close(promise: nil)
    }

    private func closeAfter(_ buffer: ByteBuffer) {
        guard !closed else { return }
        closed = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    // MARK: Replies

    func send(_ kind: MessageKind, id: UInt32, meta: [UInt8], data: UnsafeRawBufferPointer? = nil) {
        var buffer = context.channel.allocator.buffer(capacity: 16 + meta.count + (data?.count ?? 0))
        buffer.writeFrame(kind: kind.rawValue, flags: .response, id: id, meta: meta, data: data ?? UnsafeRawBufferPointer(start: nil, count: 0))
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    func send<T: Encodable>(_ kind: MessageKind, id: UInt32, _ meta: T, data: UnsafeRawBufferPointer? = nil) {
        send(kind, id: id, meta: MetaCoding.encode(meta), data: data)
    }

    func sendError(kind: UInt16, id: UInt32, _ failure: RequestFailure) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        buffer.writeFrame(kind: kind, flags: [.response, .error], id: id, meta: MetaCoding.encode(failure.reply))
        if failure.fatal {
            closeAfter(buffer)
        } else {
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func writeBuffer(_ buffer: ByteBuffer) {
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: Cleanup

    /// Frees everything the connection holds: its sessions (observers are told) and its
    /// subscriptions on other connections' sessions.
    func releaseAll() {
        for session in sessions.values { closeSession(session) }
        sessions.removeAll()
        let channel = context.channel
        for (_, entry) in observing {
            let session = entry.session
            session.eventLoop.execute { session.removeObserver(channel: channel) }
        }
        observing.removeAll()
    }

    func closeSession(_ session: Session) {
        core.unregister(session.id)
        session.publishClosed()
        logger.info("session \(session.id) closed: \(session.stepCount) steps, \(session.stepCount == 0 ? 0 : session.totalStepNanos / session.stepCount / 1000) µs per step on the server")
    }
}
