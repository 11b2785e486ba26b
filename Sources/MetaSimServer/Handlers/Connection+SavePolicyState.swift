import MetaSimProtocol

extension Connection {
    /// `save_policy_state` (1.2): the session's recurrent policy state, float64 values. A state
    /// that would not fit in one frame (a large batch, a large GRU, a small `max_frame_bytes`) is
    /// refused with `limit_exceeded` rather than sent as a frame the client must reject.
    func savePolicyState(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        let (host, state) = try statefulHost(r.session)
        let metaBytes = MetaCoding.encode(state)
        let length = 12 + metaBytes.count + 8 * state.values
        guard length <= core.configuration.maxFrame else {
            throw RequestFailure(.limitExceeded, "session \(r.session)'s policy state (\(state.values) float64 values) makes a \(length)-byte reply; the server's maximum frame is \(core.configuration.maxFrame) bytes (max_frame_bytes): open the session with fewer instances")
        }
        let values = host.binding?.recurrent?.save() ?? []
        values.withUnsafeBytes { reply(.savePolicyState, id: frame.header.id, meta: metaBytes, data: $0) }
    }
}
