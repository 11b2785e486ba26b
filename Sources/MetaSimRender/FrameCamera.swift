import MetaSimCore

/// Where a raster frame looks: its size in pixels, pixels per metre, and the point (metres, y up)
/// at its centre. A world point (x, y) is drawn at pixel column W/2 + (x − cx)·s and row
/// H/2 − (y − cy)·s (row 0 is the top).
public struct FrameCamera: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Pixels per metre.
    public var scale: Double
    public var centre: SIMD2<Double>

    public init(width: Int, height: Int, scale: Double, centre: SIMD2<Double>) {
        self.width = width
        self.height = height
        self.scale = scale
        self.centre = centre
    }

    /// The pixel (column, row; fractional) where world point `p` is drawn.
    public func pixel(_ p: SIMD2<Double>) -> SIMD2<Double> {
        SIMD2(Double(width) / 2 + (p.x - centre.x) * scale, Double(height) / 2 - (p.y - centre.y) * scale)
    }

    /// The camera of one frame: the world's `render:` section over the default framing (`view`,
    /// [min x, min y, max x, max y]: `LiveScene`'s framing of the episode's first state), the
    /// followed body's pose when the section names one, and a size other than the world's
    /// (`size`: the view is kept, scaled to fit). A size beyond `RenderSpec`'s limits is refused.
    public static func resolve(_ spec: RenderSpec, view: [Double], follow: SIMD3<Double>?,
                               size: (width: Int, height: Int)? = nil) throws(RenderError) -> FrameCamera {
        let w = size?.width ?? spec.width, h = size?.height ?? spec.height
        if let problem = RenderSpec.sizeProblem(width: w, height: h) { throw .badSize(problem) }
        var lo = SIMD2(-1.0, -1.0), hi = SIMD2(1.0, 1.0)
        if view.count == 4, view.allSatisfy(\.isFinite), view[2] > view[0], view[3] > view[1] {
            lo = SIMD2(view[0], view[1]); hi = SIMD2(view[2], view[3])
        }
        let fitted = min(Double(spec.width) / (hi.x - lo.x), Double(spec.height) / (hi.y - lo.y))
        var scale = spec.scale ?? fitted
        var centre = spec.centre ?? (lo + hi) / 2
        if let p = follow, p.x.isFinite, p.y.isFinite {
            if spec.followAxes != .y { centre.x = p.x }
            if spec.followAxes != .x { centre.y = p.y }
        }
        if size != nil {
            scale *= min(Double(w) / Double(spec.width), Double(h) / Double(spec.height))
        }
        return FrameCamera(width: w, height: h, scale: scale, centre: centre)
    }
}
