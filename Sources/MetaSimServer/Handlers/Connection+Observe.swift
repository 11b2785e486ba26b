import Dispatch
import MetaSimProtocol

extension Connection {
    /// `observe`: a stream of another (or this) connection's session's events, from a consistent snapshot.
    func observe(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        guard let session = core.session(r.session) else { throw RequestFailure(.unknownSession, "no open session \(r.session)") }
        if observing[r.session] != nil { throw RequestFailure(.badRequest, "this connection already observes session \(r.session)") }
        let subscription = Subscription(connection: self, requestID: frame.header.id)
        if session.owner === self {
            // Our own session: nothing runs on it meanwhile, answer at once.
            guard session.requestSubscription(subscription) else { throw RequestFailure(.unknownSession, "session \(r.session) closed") }
            session.serviceSubscriptions()
        } else {
            // The owner answers between two of its steps (a consistent snapshot).
            guard session.requestSubscription(subscription) else { throw RequestFailure(.unknownSession, "session \(r.session) closed") }
            // While waiting, answer subscriptions to our own sessions: two connections observing
            // each other's sessions at the same moment must not wait for each other.
            var waited = 0
            while subscription.answered.wait(timeout: DispatchTime.now() + .milliseconds(1)) == .timedOut {
                for s in sessions.values { s.serviceSubscriptions() }
                waited += 1
                if work.isCancelled {
                    session.links.withLock { l in l.pending.removeAll { $0 === subscription } }
                    throw RequestFailure(.cancelled, "the session's owner did not answer: not observing session \(r.session)")
                }
                if waited > 30_000 {
                    session.links.withLock { l in l.pending.removeAll { $0 === subscription } }
                    throw RequestFailure(.internal, "the session's owner did not answer within 30 s")
                }
            }
        }
        guard let bytes = subscription.reply else { throw RequestFailure(.unknownSession, "session \(r.session) closed") }
        observing[r.session] = (session, frame.header.id)
        bytes.withUnsafeBytes { out.append($0) }
    }
}
