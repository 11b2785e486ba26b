import MetaSimProtocol

extension Connection {
    /// `save_policy_state` (1.2): the session's recurrent policy state, float64 values.
    func savePolicyState(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        let (host, state) = try statefulHost(r.session)
        let values = host.binding?.recurrent?.save() ?? []
        values.withUnsafeBytes { reply(.savePolicyState, id: frame.header.id, state, data: $0) }
    }
}
