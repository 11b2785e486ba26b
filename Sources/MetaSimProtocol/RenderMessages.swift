/// `render` (docs/protocol.md, "render"): RGB frames of some of a session's instances.
public struct RenderRequest: Codable, Sendable {
    public var session: UInt32
    /// Instances to draw, in order (default: [0]); one frame each.
    public var instances: [Int]?
    /// Frame size in pixels; both or neither (default: the world's `render:` size).
    public var width: Int?
    public var height: Int?

    public init(session: UInt32, instances: [Int]? = nil, width: Int? = nil, height: Int? = nil) {
        self.session = session
        self.instances = instances
        self.width = width
        self.height = height
    }

    public static let keys: Set<String> = ["session", "instances", "width", "height"]
    /// The most instances one request draws.
    public static let maxInstances = 256
}

/// The reply's metadata; its data is `instances.count` frames of `height` rows of `width` pixels,
/// 3 bytes each (R, G, B), rows from the top, frame after frame.
public struct RenderReply: Codable, Sendable, Equatable {
    public var session: UInt32
    public var instances: [Int]
    public var width: Int
    public var height: Int
    /// "rgb24": 3 bytes a pixel.
    public var format: String
    /// The world's seconds per step (a video's frame rate is 1 / dt).
    public var dt: Double?

    public init(session: UInt32, instances: [Int], width: Int, height: Int, format: String = RenderReply.rgb24, dt: Double? = nil) {
        self.session = session
        self.instances = instances
        self.width = width
        self.height = height
        self.format = format
        self.dt = dt
    }

    public static let rgb24 = "rgb24"

    /// Bytes of data the reply carries.
    public var dataSize: Int { instances.count * width * height * 3 }
}
