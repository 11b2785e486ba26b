import MetaSimYAML

/// The raster camera of a world (`render:`, docs/worlds.md §21): the frame size of the daemon's
/// `render` request, Gymnasium's `rgb_array` and `metasim render --png/--gif`, and where the camera
/// looks. Every key is optional; a world without the section renders 600 × 400 px framed as
/// `SVGRenderer` frames the episode's first state. Metadata only: it changes no step.
public struct RenderSpec: Sendable, Equatable {
    /// Which coordinates of the followed body the camera's centre tracks.
    public enum FollowAxes: String, Sendable, CaseIterable { case x, y, xy }

    /// The largest side of a frame, in pixels.
    public static let maxSide = 4096
    /// The most pixels of a frame (2048 × 2048: 12 MiB of RGB, within the default 16 MiB frame).
    public static let maxPixels = 2048 * 2048
    /// The largest scale, in pixels per metre, and the farthest centre from the origin, in metres.
    public static let maxScale = 100_000.0
    public static let maxCentre = 1e6

    public static let defaultWidth = 600
    public static let defaultHeight = 400

    public var width = RenderSpec.defaultWidth
    public var height = RenderSpec.defaultHeight
    /// Pixels per metre; nil: the scale that fits the default framing into the frame.
    public var scale: Double?
    /// The point (metres, y up) at the frame's centre; nil: the default framing's centre.
    public var centre: SIMD2<Double>?
    /// A dynamic or kinematic body whose position the camera's centre follows (on `followAxes`).
    public var follow: String?
    public var followAxes = FollowAxes.xy
    /// Where the section is (for the validator's messages); nil when the world has none.
    public var origin: Origin?

    public init() {}

    /// Why `width` × `height` is not a frame size metasim draws, or nil when it is.
    public static func sizeProblem(width: Int, height: Int) -> String? {
        guard (1...maxSide).contains(width), (1...maxSide).contains(height) else {
            return "a frame is 1…\(maxSide) pixels on each side, found \(width) × \(height)"
        }
        guard width * height <= maxPixels else {
            return "a frame has at most \(maxPixels) pixels (2048 × 2048), found \(width) × \(height) = \(width * height)"
        }
        return nil
    }
}

extension WorldDecoder {
    /// `render:`: frame size and camera (literal numbers only: the camera is the same for every task).
    func decodeRender(_ node: YAMLNode?) -> RenderSpec? {
        var spec = RenderSpec()
        guard let node else { return spec }
        let p = "render"
        guard let f = reader.mapping(node, p, allowed: ["width", "height", "scale", "centre", "follow", "follow_axes", "doc"]) else {
            return nil
        }
        spec.origin = reader.origin(node, p)
        var ok = true
        if let n = f["width"] {
            if let v = reader.integer(n, f.path("width"), min: 1, max: RenderSpec.maxSide) { spec.width = v } else { ok = false }
        }
        if let n = f["height"] {
            if let v = reader.integer(n, f.path("height"), min: 1, max: RenderSpec.maxSide) { spec.height = v } else { ok = false }
        }
        if ok, let problem = RenderSpec.sizeProblem(width: spec.width, height: spec.height) {
            reader.error(f["height"] ?? f["width"] ?? node, f["height"] != nil ? f.path("height") : f["width"] != nil ? f.path("width") : p, problem)
            ok = false
        }
        if let n = f["scale"] {
            if let v = reader.literal(n, f.path("scale")) {
                if v > 0, v <= RenderSpec.maxScale { spec.scale = v } else {
                    reader.error(n, f.path("scale"), "pixels per metre must be above 0 and at most \(formatNumber(RenderSpec.maxScale)), found \(formatNumber(v))")
                    ok = false
                }
            } else { ok = false }
        }
        if let n = f["centre"] {
            let path = f.path("centre")
            if let items = reader.sequence(n, path) {
                if items.count != 2 {
                    reader.error(n, path, "expected [x, y] in metres, found \(items.count) values")
                    ok = false
                } else {
                    let xy = items.enumerated().compactMap { reader.literal($1, "\(path)[\($0)]") }
                    if xy.count == 2, xy.allSatisfy({ abs($0) <= RenderSpec.maxCentre }) {
                        spec.centre = SIMD2(xy[0], xy[1])
                    } else {
                        if xy.count == 2 { reader.error(n, path, "each coordinate is within ±\(formatNumber(RenderSpec.maxCentre)) m") }
                        ok = false
                    }
                }
            } else { ok = false }
        }
        if let n = f["follow"] {
            if let s = reader.string(n, f.path("follow")) { spec.follow = s } else { ok = false }
        }
        if let n = f["follow_axes"] {
            if let s = reader.choice(n, f.path("follow_axes"), RenderSpec.FollowAxes.allCases.map(\.rawValue)) {
                spec.followAxes = RenderSpec.FollowAxes(rawValue: s) ?? .xy
            } else { ok = false }
        }
        if let d = f["doc"], reader.string(d, f.path("doc")) == nil { ok = false }
        return ok ? spec : nil
    }
}
