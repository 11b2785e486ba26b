import Logging
import MetaSimCore
import MetaSimProtocol
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One client connection, served by its own thread with blocking I/O: read what the client
/// sent, answer each request in order (steps run right here, on this connection's thread), send
/// the answers, wait for more. A round trip costs what the kernel's socket costs and nothing
/// more; a slow client or a long step holds up only its own connection; a client that does not
/// read its answers blocks only its own thread (and is not read from meanwhile).
///
/// This file is the transport: the socket, the poll loop, the frame reader and the answers'
/// buffer, observer events from other threads, the close. Connection+Work.swift hooks each request
/// up to the deadline watcher; Connection+Dispatch.swift hands each frame to the handler of its
/// kind (Handlers/Connection+<Kind>.swift).
final class Connection: @unchecked Sendable {
    let fd: Int32
    let core: ServerCore
    var logger: Logger
    /// Wakes the thread from `poll` (drain, observer events, subscription requests).
    let wakeFD: Int32
    private let wakeWriteFD: Int32
    private var decoder: FrameReader
    /// Answers being built; sent when the frames at hand are answered.
    var out = FrameWriter(capacity: 1 << 16)
    var greeted = false
    /// The minor protocol version agreed at hello (requests newer than it are refused).
    var agreedMinor = 0
    var sessions: [UInt32: Session] = [:]
    /// External sessions (protocol 1.1): worlds the client runs itself.
    var externals: [UInt32: ExternalSession] = [:]
    /// Sessions this connection observes (session id -> session, observe request id).
    var observing: [UInt32: (session: Session, requestID: UInt32)] = [:]
    private var closed = false
    let draining = Atomic<Bool>(false)
    /// The request being served and its cancellation (Connection+Work): the server's watcher
    /// cancels it past its deadline or when the client hangs up, a forced close at shutdown.
    /// The connection's sessions' worlds look at `work` in their resets.
    let work = Cancellation()
    /// The request in flight: its kind + 1 (0: none) and id.
    let busyKind = Atomic<UInt32>(0)
    let busyID = Atomic<UInt32>(0)
    /// The watcher's own notes: the `work` generation it last saw in flight, and when.
    let seenGeneration = Atomic<Int>(-1)
    let seenSince = Atomic<Int64>(0)
    /// Set by `forceClose`: every request from then on is cancelled at once.
    let forced = Atomic<Bool>(false)
    /// Who may write to the socket (`SocketWriter`, Connection+Work).
    let socketWriter = Atomic<Int>(SocketWriter.free.rawValue)

    /// Observer events from other connections' threads, waiting to be sent by this one.
    private struct Outbox {
        var frames: [[UInt8]] = []
        var bytes = 0
    }
    private let outbox = Mutex(Outbox())
    /// Bytes of undelivered events past which new ones are dropped (and counted).
    static let outboxLimit = 8 << 20

    init(fd: Int32, core: ServerCore, logger: Logger) {
        self.fd = fd
        self.core = core
        self.logger = logger
        (wakeFD, wakeWriteFD) = Socket.makeWakePipe()
        decoder = FrameReader(maxFrame: core.configuration.maxFrame)
        self.logger[metadataKey: "connection"] = "\(fd)"
    }

    deinit {
        close(wakeFD)
        close(wakeWriteFD)
    }

    func wake() { Socket.signal(wakeWriteFD) }

    /// Finish the requests already sent, then close (SIGTERM).
    func beginDrain() {
        draining.store(true, ordering: .releasing)
        wake()
    }

    /// From another thread: queues an observer event. False (and nothing queued) if the outbox
    /// is full, unless `force` (the last event of a stream).
    func enqueue(_ frame: [UInt8], force: Bool = false) -> Bool {
        let queued = outbox.withLock { o -> Bool in
            guard force || o.bytes + frame.count <= Self.outboxLimit else { return false }
            o.frames.append(frame)
            o.bytes += frame.count
            return true
        }
        if queued { wake() }
        return queued
    }

    // MARK: The loop

    /// How long a connection looks for the next request before sleeping.
    static let lookMicroseconds: Int64 = 60

    /// True if the socket has data within `lookMicroseconds` (a peek, nothing consumed).
    static func awaitBriefly(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let start = Socket.monotonicMicroseconds()
        var k = 0
        while true {
            if recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) != -1 || (errno != EAGAIN && errno != EWOULDBLOCK) { return true }
            k += 1
            if k & 7 == 0, Socket.monotonicMicroseconds() - start > lookMicroseconds { return false }
            sched_yield()
        }
    }

    /// `POLLRDHUP` (Linux): the peer closed its end (adapt and run_episodes look for it).
    static let peerHangUp = Int16(0x2000)

    func run() {
        defer { finish() }
        let idleMS = core.configuration.idleTimeout.map(\.inMilliseconds)
        var lastActivity = Socket.monotonicMilliseconds()
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while !closed {
            // Answer everything that has arrived, then send the answers and any events.
            if !serveBuffered() { return }
            if !flush() { return }
            if draining.load(ordering: .acquiring) {
                // Requests already sent are in the socket: read them without waiting, answer, close.
                while case .bytes(let n) = Socket.receive(fd, into: decoder.spaceForReceive()) {
                    decoder.didReceive(n)
                    if !serveBuffered() { return }
                }
                _ = flush()
                return
            }
            var timeout: Int32 = -1
            if let idleMS, observing.isEmpty {
                let left = idleMS - (Socket.monotonicMilliseconds() - lastActivity)
                if left <= 0 {
                    logger.info("idle timeout: closing the connection")
                    return
                }
                timeout = Int32(clamping: left)
            }
            // A client stepping in lock step sends its next request within microseconds of
            // reading the answer: look for it for a moment (yielding the core to any other
            // thread, the client's included) before sleeping in poll, which costs a wake-up.
            if Self.awaitBriefly(fd) {
                fds[0].revents = Int16(POLLIN)
                fds[1].revents = 0
            } else {
                fds[0].revents = 0
                fds[1].revents = 0
                _ = Socket.poll(&fds, timeout: timeout)
            }
            if fds[1].revents != 0 {
                Socket.drain(wakeFD)
                for s in sessions.values { s.serviceSubscriptions() }
            }
            if fds[0].revents != 0 {
                switch Socket.receive(fd, into: decoder.spaceForReceive()) {
                case .bytes(let n):
                    decoder.didReceive(n)
                    lastActivity = Socket.monotonicMilliseconds()
                case .wouldBlock:
                    break
                case .closed:
                    return
                }
            }
        }
    }

    /// Answers every complete frame in the buffer. False when the connection must close.
    private func serveBuffered() -> Bool {
        while true {
            let frame: FrameView?
            do { frame = try decoder.next() } catch {
                logger.info("framing violation, closing: \(error.message)")
                let failure = RequestFailure(error.code, error.message, fatal: true)
                let f = out.beginFrame(kind: 0, flags: [.response, .error], id: error.id, meta: MetaCoding.encode(failure.reply))
                out.endFrame(f)
                _ = flush()
                return false
            }
            guard let frame else { return true }
            core.requestCount.add(1, ordering: .relaxed)
            if !handle(frame) {
                _ = flush()
                return false
            }
            // Keep answers from piling up when a client pipelines many requests.
            if out.count > 1 << 20, !flush() { return false }
        }
    }

    /// Sends the answers built so far, then queued observer events. False if the peer is gone.
    func flush() -> Bool {
        guard claimSocket() else { return false }
        defer { releaseSocket() }
        if out.count > 0 {
            guard Socket.sendAll(fd, out.bytes) else { return false }
            out.removeAll()
        }
        let events = outbox.withLock { o -> [[UInt8]] in
            defer { o.frames.removeAll(keepingCapacity: true); o.bytes = 0 }
            return o.frames
        }
        for e in events {
            guard e.withUnsafeBytes({ Socket.sendAll(fd, $0) }) else { return false }
        }
        // A closed session's stream has ended: let go of it (and of its worlds).
        if !events.isEmpty, !observing.isEmpty {
            observing = observing.filter { !$0.value.session.links.withLock { $0.closed } }
        }
        return true
    }

    /// Frees everything the connection holds: its sessions (observers are told) and its
    /// subscriptions on other connections' sessions.
    private func finish() {
        closed = true
        for session in sessions.values { closeSession(session) }
        sessions.removeAll()
        externals.removeAll()
        for (_, entry) in observing { entry.session.removeObserver(self) }
        observing.removeAll()
        retireSocket()
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        core.unregister(self)
        core.reclaimer.noteFreed()
        logger.debug("connection closed")
    }

    func closeSession(_ session: Session) {
        core.unregister(session.id)
        core.memory.release(session.reservedBytes)
        session.reservedBytes = 0
        session.publishClosed()
        core.reclaimer.noteFreed()
        logger.debug("session \(session.id) closed")
    }

    /// Closes the socket under a thread blocked on it (after the drain timeout), and cancels
    /// the request in flight.
    func forceClose() {
        forced.store(true, ordering: .sequentiallyConsistent)
        work.cancel(reason: CutShort.shutdown.rawValue)
        shutdown(fd, Int32(SHUT_RDWR))
        wake()
    }
}
