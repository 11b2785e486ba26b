import MetaSimProtocol

extension Connection {
    /// `ping`: the data back.
    func ping(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        try requireEmptyMeta(frame)
        reply(.ping, id: id, meta: [], data: frame.data)
    }
}
