import MetaSimProtocol

extension Connection {
    /// `record` (1.1): transitions of an external session's episodes, for its next adapt.
    func record(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        guard let e = externals[r.session] else {
            if sessions[r.session] != nil {
                throw RequestFailure(.badRequest, "session \(r.session) is simulated: the daemon records its own episodes (adapt)")
            }
            _ = try ownedSession(r.session)
            return
        }
        guard e.binding != nil else {
            throw RequestFailure(.noPolicy, "session \(e.id) has no policy: take one first (adapt with 'policy'); the recorded actions must be its actions")
        }
        try e.record(frame.data, limit: core.configuration.maxRecordedTransitions)
        reply(.record, id: frame.header.id, e.recordReply)
    }
}
