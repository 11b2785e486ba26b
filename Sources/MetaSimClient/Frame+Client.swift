import MetaSimProtocol

/// A frame the client received: header, metadata and data (copied out of the read buffer).
public struct ReceivedFrame: Sendable {
    public var header: FrameHeader
    public var meta: [UInt8]
    public var data: [UInt8]

    public var isError: Bool { header.flags.contains(.error) }
    public var isEvent: Bool { header.flags.contains(.event) }
}
