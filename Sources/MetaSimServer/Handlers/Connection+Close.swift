import MetaSimProtocol

extension Connection {
    /// `close`: a session of this connection (simulated or external) closed. (Not `close(_:)`:
    /// that name would hide Glibc's `close` from the connection's code.)
    func closeRequest(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        if externals.removeValue(forKey: r.session) != nil {
            reply(.close, id: id, r)
            return
        }
        let session = try ownedSession(r.session)
        sessions.removeValue(forKey: session.id)
        closeSession(session)
        reply(.close, id: id, r)
    }
}
