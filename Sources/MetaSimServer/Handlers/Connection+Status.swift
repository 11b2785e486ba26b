import MetaSimProtocol

extension Connection {
    /// `status`: the server's counters.
    func status(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        try requireEmptyMeta(frame)
        reply(.status, id: id, core.status())
    }
}
