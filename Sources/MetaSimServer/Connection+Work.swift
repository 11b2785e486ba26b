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
        guard k != 0, !work.isCancelled else { return }
        if seenGeneration.load(ordering: .relaxed) != generation {
            seenGeneration.store(generation, ordering: .relaxed)
            seenSince.store(now, ordering: .relaxed)
            return
        }
        let elapsed = now - seenSince.load(ordering: .relaxed)
        var reason: CutShort?
        if elapsed >= (Self.hasLongDeadline(UInt16(k - 1)) ? adaptDeadline : requestDeadline) {
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

    /// The answer to a request whose work stopped with `failure` (`cancelled`): what the
    /// cancellation's reason calls for. Counts it and logs it.
    func cutShort(_ failure: RequestFailure, kind: UInt16, id: UInt32) -> RequestFailure {
        guard failure.code == .cancelled, let reason = CutShort(rawValue: work.reason) else { return failure }
        let name = MessageKind(rawValue: kind)?.name ?? "kind \(kind)"
        let running = workInFlight(now: Socket.monotonicMilliseconds())?.running
        let after = running.map { "after \(Double($0) / 1000) s" } ?? "at once"
        switch reason {
        case .deadline:
            core.deadlinesExceeded.add(1, ordering: .relaxed)
            let c = core.configuration
            let limit = Double(ServerCore.milliseconds(Self.hasLongDeadline(kind) ? c.adaptDeadline : c.requestDeadline)) / 1000
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
