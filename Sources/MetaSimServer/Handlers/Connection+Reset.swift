import MetaSimProtocol

extension Connection {
    /// `reset`: new episodes for some or all of a session's instances.
    func reset(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        let r = try meta(ResetRequest.self, frame, keys: ResetRequest.keys)
        let session = try ownedSession(r.session)
        try session.reset(instances: r.instances, seeds: r.seeds, seed: r.seed)
        session.withObservationBytes { reply(.reset, id: id, SessionRequest(session: session.id), data: $0) }
        session.publish(event: "reset")
    }
}
