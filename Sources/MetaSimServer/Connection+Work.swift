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

/// The request a connection is serving (for the watcher and the shutdown log).
struct InFlight: Sendable {
    var kind: UInt16
    var id: UInt32
    /// Monotonic milliseconds.
    var started: Int64
}

/// Time budgets and cancellation (docs/protocol.md, "Deadlines and cancellation"). Each request
/// is marked in flight while it is served; the server's watcher thread looks every 50 ms for
/// requests past their deadline and, among those running for 100 ms or more, for a client that
/// hung up, and cancels their work. Long work looks at `work` between instances and steps (world
/// builds, resets' settle steps, run_episodes, adaptations, observe's wait) and stops with a
/// `cancelled` failure, which `cutShort` turns into the reply the reason calls for.
extension Connection {
    /// The requests that run episodes: they get the adapt deadline.
    static func hasLongDeadline(_ kind: UInt16) -> Bool {
        kind == MessageKind.adapt.rawValue || kind == MessageKind.runEpisodes.rawValue
    }

    func beginWork(kind: UInt16, id: UInt32) {
        let now = Socket.monotonicMilliseconds()
        inFlight.withLock { w in
            work.rearm()
            w = InFlight(kind: kind, id: id, started: now)
        }
        // After a forced close (the drain timed out) nothing new runs.
        if forced.load(ordering: .acquiring) { work.cancel(reason: CutShort.shutdown.rawValue) }
    }

    func endWork() {
        inFlight.withLock { $0 = nil }
    }

    /// From the watcher's thread: cancels the request in flight if it is past its deadline or
    /// its client hung up (a request running for less than 100 ms is not looked at for that).
    func checkWork(now: Int64, requestDeadline: Int64, adaptDeadline: Int64) {
        let cancelled = inFlight.withLock { w -> CutShort? in
            guard let w, !work.isCancelled else { return nil }
            let elapsed = now - w.started
            if elapsed >= (Self.hasLongDeadline(w.kind) ? adaptDeadline : requestDeadline) {
                work.cancel(reason: CutShort.deadline.rawValue)
                return .deadline
            }
            if elapsed >= 100 {
                // POLLHUP: the peer closed its socket (both directions); a client that only shut
                // down its sending side still reads the answer.
                var p = pollfd(fd: fd, events: 0, revents: 0)
                if poll(&p, 1, 0) > 0, p.revents & Int16(POLLHUP | POLLERR) != 0 {
                    work.cancel(reason: CutShort.clientGone.rawValue)
                    return .clientGone
                }
            }
            return nil
        }
        if cancelled != nil { wake() }
    }

    /// The answer to a request whose work stopped with `failure` (`cancelled`): what the
    /// cancellation's reason calls for. Counts it and logs it.
    func cutShort(_ failure: RequestFailure, kind: UInt16, id: UInt32) -> RequestFailure {
        guard failure.code == .cancelled, let reason = CutShort(rawValue: work.reason) else { return failure }
        let name = MessageKind(rawValue: kind)?.name ?? "kind \(kind)"
        let started = inFlight.withLock { $0?.started } ?? Socket.monotonicMilliseconds()
        let seconds = Double(Socket.monotonicMilliseconds() - started) / 1000
        switch reason {
        case .deadline:
            core.deadlinesExceeded.add(1, ordering: .relaxed)
            let c = core.configuration
            let limit = Double(ServerCore.milliseconds(Self.hasLongDeadline(kind) ? c.adaptDeadline : c.requestDeadline)) / 1000
            logger.warning("deadline exceeded: \(name) request \(id) cancelled after \(seconds) s (deadline \(limit) s): \(failure.message)")
            return RequestFailure(.deadlineExceeded, "\(name) did not finish within its deadline of \(limit) s and was cancelled: \(failure.message)")
        case .clientGone:
            core.requestsCancelled.add(1, ordering: .relaxed)
            logger.info("client went away: \(name) request \(id) cancelled after \(seconds) s")
            return RequestFailure(.cancelled, "the client went away: \(name) cancelled", fatal: true)
        case .shutdown:
            core.requestsCancelled.add(1, ordering: .relaxed)
            logger.warning("cut short by the shutdown: \(name) request \(id) cancelled after \(seconds) s: \(failure.message)")
            return RequestFailure(.cancelled, "the server is shutting down: \(name) cancelled (\(failure.message))", fatal: true)
        }
    }
}
