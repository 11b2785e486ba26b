import MetaSimProtocol

extension Connection {
    /// `policy_state` (1.2): the size of the session's recurrent policy state and its architecture tag.
    func policyState(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        let (_, state) = try statefulHost(r.session)
        reply(.policyState, id: frame.header.id, state)
    }
}
