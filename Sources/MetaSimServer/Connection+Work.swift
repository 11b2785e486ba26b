import Logging
import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Why a request's work was cancelled (its `Cancellation.reason`).
enum CutShort: Int {
    /// Past its deadline: answered `deadline_exceeded`.
    case deadline = 2
    /// The client hung up: the connection closes.
    case clientGone = 3
    /// The drain timed out (SIGTERM): the connection closes.
    case shutdown = 4
}

/// Who may write to a connection's socket. The connection's thread takes it for each `flush`;
/// the watcher takes it for good to answer for a thread stuck in work; the connection's thread
/// retires it before closing the descriptor (waiting out a watcher that is writing, so that the
/// watcher never writes to a descriptor number closed and reused meanwhile).
enum SocketWriter: Int {
    case free = 0
    case connection = 1
    case watcherWriting = 2
    case watcherDone = 3
    case retired = 4
}

/// Time budgets and cancellation (docs/protocol.md, "Deadlines and cancellation"). Each request
/// rearms the connection's `work` flag (a new generation) and marks itself in flight: a few
/// atomic stores, no lock and no clock on the step path. The server's watcher thread goes round
/// every 50 ms: it notes when it first sees each generation in flight, cancels that generation
/// once it has run past its deadline and, after 100 ms, if its client hung up. Long work looks
/// at `work` between instances and steps (world builds, resets' settle steps, run_episodes,
/// adaptations, observe's wait) and stops with a `cancelled` failure, which `cutShort` turns into
/// the answer the reason calls for.
extension Connection {
    /// The requests that run episodes: they get the adapt deadline.
    static func hasLongDeadline(_ kind: UInt16) -> Bool {
        kind == MessageKind.adapt.rawValue || kind == MessageKind.runEpisodes.rawValue
    }

    func beginWork(kind: UInt16, id: UInt32) {
        busyID.store(id, ordering: .relaxed)
        work.rearm()
        busyKind.store(UInt32(kind) + 1, ordering: .releasing)
        // After a forced close (the drain timed out) nothing new runs.
        if forced.load(ordering: .sequentiallyConsistent) { work.cancel(reason: CutShort.shutdown.rawValue) }
    }

    func endWork() {
        busyKind.store(0, ordering: .releasing)
    }

    /// The request in flight (kind, id, monotonic milliseconds since the watcher first saw it,
    /// nil if it has not yet), if any.
    func workInFlight(now: Int64) -> (kind: UInt16, id: UInt32, running: Int64?)? {
        let generation = work.generation
        let k = busyKind.load(ordering: .acquiring)
        guard k != 0 else { return nil }
        let running = seenGeneration.load(ordering: .relaxed) == generation ? now - seenSince.load(ordering: .relaxed) : nil
        return (UInt16(k - 1), busyID.load(ordering: .relaxed), running)
    }

    /// From the watcher's thread: cancels the request in flight if it is past its deadline or
    /// its client hung up (a request running for less than 100 ms is not looked at for that).
    func checkWork(now: Int64, requestDeadline: Int64, adaptDeadline: Int64) {
        let generation = work.generation
        let k = busyKind.load(ordering: .acquiring)
        guard k != 0 else { return }
        let kind = UInt16(k - 1)
        let seen = seenGeneration.load(ordering: .relaxed) == generation
        if !seen {
            seenGeneration.store(generation, ordering: .relaxed)
            seenSince.store(now, ordering: .relaxed)
            return
        }
        let elapsed = now - seenSince.load(ordering: .relaxed)
        let deadline = Self.hasLongDeadline(kind) ? adaptDeadline : requestDeadline
        if work.isCancelled {
            // Work that does not look at its cancellation (one enormous build): answer for it.
            if work.reason == CutShort.deadline.rawValue, elapsed >= deadline + Self.stuckMilliseconds {
                answerForStuckWork(kind: kind, id: busyID.load(ordering: .relaxed), deadline: deadline)
            }
            return
        }
        var reason: CutShort?
        if elapsed >= deadline {
            reason = .deadline
        } else if elapsed >= 100 {
            // POLLHUP: the peer closed its socket (both directions); a client that only shut
            // down its sending side still reads the answer.
            var p = pollfd(fd: fd, events: 0, revents: 0)
            if poll(&p, 1, 0) > 0, p.revents & Int16(POLLHUP | POLLERR) != 0 { reason = .clientGone }
        }
        // Only this generation: if the request ended meanwhile, the next one is not touched.
        if let reason, work.cancel(reason: reason.rawValue, generation: generation) { wake() }
    }

    /// How long past its deadline work may go on after its cancellation before the watcher
    /// answers for it.
    static let stuckMilliseconds: Int64 = 2000

    /// `flush`'s hold on the socket; false once the watcher has answered for stuck work (the
    /// socket is shut down: the connection closes when its thread comes back).
    func claimSocket() -> Bool {
        socketWriter.compareExchange(expected: SocketWriter.free.rawValue, desired: SocketWriter.connection.rawValue,
                                     ordering: .acquiringAndReleasing).exchanged
    }

    func releaseSocket() {
        socketWriter.store(SocketWriter.free.rawValue, ordering: .releasing)
    }

    /// Before the descriptor is closed: nobody writes to it from then on.
    func retireSocket() {
        while true {
            let (done, now) = socketWriter.compareExchange(expected: SocketWriter.free.rawValue, desired: SocketWriter.retired.rawValue,
                                                           ordering: .acquiringAndReleasing)
            if done || now == SocketWriter.watcherDone.rawValue || now == SocketWriter.retired.rawValue { return }
            sched_yield()  // the watcher is writing its answer (a few microseconds)
        }
    }

    /// Whether the watcher answered for this connection's request.
    var answeredByWatcher: Bool {
        let w = socketWriter.load(ordering: .acquiring)
        return w == SocketWriter.watcherWriting.rawValue || w == SocketWriter.watcherDone.rawValue
    }

    /// From the watcher's thread, for a request whose work was cancelled at its deadline and
    /// does not stop: sends its `deadline_exceeded` answer (fatal) in place of its thread, then
    /// shuts the socket down. Nothing if the thread is writing (it is not stuck in work then).
    private func answerForStuckWork(kind: UInt16, id: UInt32, deadline: Int64) {
        guard socketWriter.compareExchange(expected: SocketWriter.free.rawValue, desired: SocketWriter.watcherWriting.rawValue,
                                           ordering: .acquiringAndReleasing).exchanged else { return }
        defer { socketWriter.store(SocketWriter.watcherDone.rawValue, ordering: .releasing) }
        let name = MessageKind(rawValue: kind)?.name ?? "kind \(kind)"
        let limit = Double(deadline) / 1000
        let reply = ErrorReply(code: .deadlineExceeded, message: "\(name) did not finish within its deadline of \(limit) s and its work does not stop: the connection is closed", fatal: true)
        var w = FrameWriter(capacity: 512)
        let f = w.beginFrame(kind: kind, flags: [.response, .error], id: id, meta: MetaCoding.encode(reply))
        w.endFrame(f)
        let bytes = w.bytes
        _ = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        shutdown(fd, Int32(SHUT_RDWR))
        core.deadlinesExceeded.add(1, ordering: .relaxed)
        // The server's logger: this connection's is its own thread's.
        core.logger.error("\(name) request \(id) goes on \(Double(Self.stuckMilliseconds) / 1000) s past its deadline of \(limit) s though cancelled: answered deadline_exceeded for it and closed the connection; its thread is still busy",
                          metadata: ["connection": "\(fd)"])
    }

    /// The answer to a request whose work stopped with `failure` (`cancelled`): what the
    /// cancellation's reason calls for. Counts it and logs it.
    func cutShort(_ failure: RequestFailure, kind: UInt16, id: UInt32) -> RequestFailure {
        guard failure.code == .cancelled, let reason = CutShort(rawValue: work.reason) else { return failure }
        let name = MessageKind(rawValue: kind)?.name ?? "kind \(kind)"
        let running = workInFlight(now: Socket.monotonicMilliseconds())?.running
        let after = running.map { "after \(Double($0) / 1000) s" } ?? "at once"
        switch reason {
        case .deadline:
            // Unless the watcher answered for it already (and counted it).
            if answeredByWatcher {
                return RequestFailure(.deadlineExceeded, "answered by the watcher", fatal: true)
            }
            core.deadlinesExceeded.add(1, ordering: .relaxed)
            let c = core.configuration
            let limit = Double((Self.hasLongDeadline(kind) ? c.adaptDeadline : c.requestDeadline).inMilliseconds) / 1000
            logger.warning("deadline exceeded: \(name) request \(id) cancelled \(after) (deadline \(limit) s): \(failure.message)")
            return RequestFailure(.deadlineExceeded, "\(name) did not finish within its deadline of \(limit) s and was cancelled: \(failure.message)")
        case .clientGone:
            core.requestsCancelled.add(1, ordering: .relaxed)
            logger.info("client went away: \(name) request \(id) cancelled \(after)")
            return RequestFailure(.cancelled, "the client went away: \(name) cancelled", fatal: true)
        case .shutdown:
            core.requestsCancelled.add(1, ordering: .relaxed)
            logger.warning("cut short by the shutdown: \(name) request \(id) cancelled \(after): \(failure.message)")
            return RequestFailure(.cancelled, "the server is shutting down: \(name) cancelled (\(failure.message))", fatal: true)
        }
    }
}
