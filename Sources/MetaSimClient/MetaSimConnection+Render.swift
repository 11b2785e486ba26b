import MetaSimProtocol

/// A frame of a session's instance, as `render` sends it (docs/protocol.md, "render").
public struct RenderedFrame: Sendable, Equatable {
    public var instance: Int
    public var width: Int
    public var height: Int
    /// height × width × 3 bytes, R G B, rows from the top.
    public var rgb: [UInt8]
}

extension MetaSimConnection {
    /// RGB frames of `instances` of a session (default: instance 0) at their current state, at the
    /// world's frame size or `size`.
    public func render(session: UInt32, instances: [Int]? = nil, size: (width: Int, height: Int)? = nil) throws(ClientError) -> [RenderedFrame] {
        let r = try request(.render, meta: RenderRequest(session: session, instances: instances, width: size?.width, height: size?.height),
                            as: RenderReply.self)
        let reply = r.meta
        guard reply.format == RenderReply.rgb24, reply.width > 0, reply.height > 0, !reply.instances.isEmpty,
              reply.width <= 1 << 16, reply.height <= 1 << 16, reply.instances.count <= 1 << 16,
              r.data.count == reply.dataSize else {
            throw .protocolViolation("render reply: \(r.data.count) bytes for \(reply.instances.count) \(reply.format) frame(s) of \(reply.width) × \(reply.height)")
        }
        let bytes = reply.width * reply.height * 3
        return reply.instances.enumerated().map { k, i in
            RenderedFrame(instance: i, width: reply.width, height: reply.height, rgb: Array(r.data[(k * bytes)..<((k + 1) * bytes)]))
        }
    }
}
