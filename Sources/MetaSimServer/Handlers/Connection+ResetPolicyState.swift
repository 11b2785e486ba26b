import MetaSimProtocol

extension Connection {
    /// `reset_policy_state` (1.2): every instance's recurrent state back to a trial's start.
    func resetPolicyState(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        let (host, state) = try statefulHost(r.session)
        var binding = try host.takeBinding()
        binding.resetState()
        host.binding = binding
        reply(.resetPolicyState, id: frame.header.id, state)
    }
}
