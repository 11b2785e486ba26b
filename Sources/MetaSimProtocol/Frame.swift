/// Protocol v1 framing (docs/protocol.md). All integers are little-endian.
///
///     u32 length      bytes after this field (FrameHeader.size ... maxFrame)
///     u16 kind        MessageKind
///     u16 flags       FrameFlags
///     u32 id          request id, chosen by the client and echoed in the response
///     u32 meta_len    bytes of JSON metadata that follow
///     meta            a UTF-8 JSON object (empty means {})
///     data            packed binary data: the rest of the frame
public struct FrameHeader: Sendable, Equatable {
    /// Bytes of the length prefix.
    public static let prefixSize = 4
    /// Bytes of kind, flags, id and meta_len (the smallest legal frame length).
    public static let size = 12
    /// The default and the hard ceiling of a frame's length.
    public static let defaultMaxFrame = 16 << 20

    public var kind: UInt16
    public var flags: FrameFlags
    public var id: UInt32
    public var metaLength: UInt32

    public init(kind: UInt16, flags: FrameFlags, id: UInt32, metaLength: UInt32) {
        self.kind = kind
        self.flags = flags
        self.id = id
        self.metaLength = metaLength
    }

    /// Reads the 12 header bytes after the length prefix.
    public init(_ p: UnsafeRawBufferPointer) {
        precondition(p.count >= Self.size)
        kind = p.loadLE(UInt16.self, at: 0)
        flags = FrameFlags(rawValue: p.loadLE(UInt16.self, at: 2))
        id = p.loadLE(UInt32.self, at: 4)
        metaLength = p.loadLE(UInt32.self, at: 8)
    }
}

/// Frame flags. A request has none; its response has `response` (and `error` when it failed);
/// an event (observer stream, progress) has `event` and the id of the request that asked for it.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let response = FrameFlags(rawValue: 1 << 0)
    public static let error = FrameFlags(rawValue: 1 << 1)
    public static let event = FrameFlags(rawValue: 1 << 2)
    /// On an event: the last event of its stream (the subscription ended).
    public static let final = FrameFlags(rawValue: 1 << 3)
}

/// The request kinds of protocol v1. A response carries the kind of its request.
public enum MessageKind: UInt16, Sendable, CaseIterable {
    case hello = 1
    case ping = 2
    case status = 3
    case listWorlds = 16
    case open = 17
    case reset = 18
    case step = 19
    case setTask = 20
    case close = 21
    case observe = 22
    case unobserve = 23
    // Protocol 1.1: the meta-policy (docs/protocol.md, "Policies").
    case listPolicies = 32
    case adapt = 33
    case act = 34
    case runEpisodes = 35
    case openExternal = 36
    case record = 37
    case savePolicy = 38
    // Later 1.1 servers (capability "render"): raster frames of a session's instances.
    case render = 39
    // Protocol 1.2: a recurrent policy's state (docs/protocol.md, "Policy state").
    case policyState = 40
    case resetPolicyState = 41
    case savePolicyState = 42
    case restorePolicyState = 43

    /// The minor protocol version that introduced this request.
    public var sinceMinor: Int { rawValue >= 40 ? 2 : rawValue >= 32 ? 1 : 0 }

    public var name: String {
        switch self {
        case .hello: "hello"
        case .ping: "ping"
        case .status: "status"
        case .listWorlds: "list_worlds"
        case .open: "open"
        case .reset: "reset"
        case .step: "step"
        case .setTask: "set_task"
        case .close: "close"
        case .observe: "observe"
        case .unobserve: "unobserve"
        case .listPolicies: "list_policies"
        case .adapt: "adapt"
        case .act: "act"
        case .runEpisodes: "run_episodes"
        case .openExternal: "open_external"
        case .record: "record"
        case .savePolicy: "save_policy"
        case .render: "render"
        case .policyState: "policy_state"
        case .resetPolicyState: "reset_policy_state"
        case .savePolicyState: "save_policy_state"
        case .restorePolicyState: "restore_policy_state"
        }
    }
}

/// The protocol version: a major mismatch is refused, a minor one accepted (the lower minor is
/// what both sides speak).
public struct ProtocolVersion: Sendable, Equatable, Codable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }

    public static let current = ProtocolVersion(major: 1, minor: 2)

    public var description: String { "\(major).\(minor)" }

    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        major = try c.decode(Int.self)
        minor = try c.decode(Int.self)
        guard c.isAtEnd else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "a version is [major, minor]")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(major)
        try c.encode(minor)
    }
}
