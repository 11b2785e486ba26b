import MetaSimProtocol

extension Connection {
    /// `hello`: agrees on the protocol version; the first request of every connection.
    func hello(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        let hello = try meta(HelloRequest.self, frame, keys: HelloRequest.keys)
        if greeted { throw RequestFailure(.badRequest, "hello was already sent on this connection") }
        let mine = ProtocolVersion.current
        guard hello.protocol.major == mine.major else {
            throw RequestFailure(.versionMismatch, "client speaks protocol \(hello.protocol), server speaks \(mine)", fatal: true)
        }
        greeted = true
        agreedMinor = min(mine.minor, hello.protocol.minor)
        if let client = hello.client { logger[metadataKey: "client"] = "\(client)" }
        let agreed = ProtocolVersion(major: mine.major, minor: min(mine.minor, hello.protocol.minor))
        // A 1.0 client is not told of what only 1.1 requests can do.
        let capabilities = agreed.minor >= 1 ? MetaSimServer.capabilities : Array(MetaSimServer.capabilities.prefix(6))
        reply(.hello, id: id, HelloReply(protocol: agreed, server: MetaSimServer.version,
                                         capabilities: capabilities, limits: core.limits))
    }
}
