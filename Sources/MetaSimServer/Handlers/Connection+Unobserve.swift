import MetaSimProtocol

extension Connection {
    /// `unobserve`: ends this connection's stream of a session's events.
    func unobserve(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        guard let entry = observing.removeValue(forKey: r.session) else {
            throw RequestFailure(.unknownSession, "this connection does not observe session \(r.session)")
        }
        // Events already queued go first; then the stream's last event, then the answer.
        if entry.session.removeObserver(self) {
            let f = out.beginFrame(kind: MessageKind.observe.rawValue, flags: [.event, .final], id: entry.requestID,
                                   meta: MetaCoding.encode(ObserverEvent(event: "unobserved", session: r.session)))
            out.endFrame(f)
        }
        reply(.unobserve, id: id, r)
    }
}
