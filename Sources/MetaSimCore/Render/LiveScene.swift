import Foundation

/// What a live view needs to draw a world: its shapes (static ones in world coordinates, those
/// of each dynamic body in the body's frame), the goal, the track, and the camera and colours of
/// `SVGRenderer` (`metasim render`). Poses then come one frame at a time (`World.dynamicPoses`).
public struct LiveScene: Sendable, Encodable {
    public struct Shape: Sendable, Encodable {
        /// The dynamic body (index into the poses) the shape moves with; nil: static.
        public var body: Int?
        /// "circle", "polygon", "polyline".
        public var kind: String
        public var radius: Double?
        public var closed: Bool?
        /// [x, y] pairs: world coordinates for static shapes, the body's frame for dynamic ones.
        public var points: [[Double]]
        public var fill: String
        public var stroke: String
    }

    public var world: String
    public var shapes: [Shape] = []
    /// [x, y, radius]
    public var goal: [Double]?
    public var track: [[Double]]?
    /// The camera: [min x, min y, max x, max y] in metres (y up), framed as `SVGRenderer` frames
    /// an episode's first pose (a view grows it as the bodies move).
    public var view: [Double]
    public var background = "#f7f7f2"
    public var dynamicBodies: Int
    /// The first pose of each dynamic body: [x, y, angle] each.
    public var poses: [[Double]]

    /// Builds a world of `program` apart (the live session's worlds are not touched) and resets
    /// it with `seed` (procedural terrain and tracks depend on the episode seed).
    public init(program: WorldProgram, seed: UInt64) throws(WorldError) {
        let world = try World(program: program)
        world.recordsGeometry = true
        try world.resetChecked(seed: seed)
        let geometry = world.geometry
        let spec = world.compiled.resolved
        let dynamic = world.compiled.dynamicBodies
        let first = world.dynamicPoses()
        self.world = spec.name
        dynamicBodies = dynamic.count
        poses = first.map { [$0.x, $0.y, $0.z] }

        // SVGRenderer's framing, for the first frame.
        var box = SVGRenderer.Box()
        for p in first { box.add(SIMD2(p.x, p.y)) }
        var reach = 0.5
        for s in geometry.shapes where dynamic.contains(s.body) {
            for p in s.points { reach = max(reach, (p * p).sum().squareRoot()) }
            if case .circle(let r) = s.kind { reach = max(reach, r) }
        }
        box.expand(by: reach * 2.5)
        if let g = geometry.goal { box.add(g) }
        if let t = geometry.track { for p in t.left + t.right { box.add(p) } }
        var statics = SVGRenderer.Box()
        for s in geometry.shapes where !dynamic.contains(s.body) {
            for p in s.points { statics.add(Self.transform(p, geometry.initialPoses[s.body])) }
        }
        if statics.valid, statics.area < 6 * max(box.area, 1e-9) { box.union(statics) }
        box.expand(by: 0.05 * max(box.width, box.height))
        if !box.valid { box = SVGRenderer.Box(min: SIMD2(-1, -1), max: SIMD2(1, 1)) }
        view = [box.min.x, box.min.y, box.max.x, box.max.y]

        if let t = geometry.track { track = t.centre.map { [$0.x, $0.y] } }
        for s in geometry.shapes where !dynamic.contains(s.body) {
            let pts = s.points.map { Self.transform($0, geometry.initialPoses[s.body]) }
            shapes.append(Self.shape(s, points: pts, body: nil, fill: s.sensor ? "none" : "#6b8f5e", stroke: s.sensor ? "#999" : "#3f5a36"))
        }
        if let g = geometry.goal { goal = [g.x, g.y, max(spec.goal?.radius.literalValue ?? 0.1, 0.01)] }
        for (k, bi) in dynamic.enumerated() {
            for s in geometry.shapes where s.body == bi {
                shapes.append(Self.shape(s, points: s.points, body: k, fill: SVGRenderer.palette[k % SVGRenderer.palette.count], stroke: "#222"))
            }
        }
    }

    private static func shape(_ s: EpisodeGeometry.Shape, points: [SIMD2<Double>], body: Int?, fill: String, stroke: String) -> Shape {
        let pts = points.map { [$0.x, $0.y] }
        switch s.kind {
        case .circle(let r): return Shape(body: body, kind: "circle", radius: r, points: pts, fill: fill, stroke: stroke)
        case .polygon: return Shape(body: body, kind: "polygon", points: pts, fill: fill, stroke: stroke)
        case .polyline(let closed): return Shape(body: body, kind: "polyline", closed: closed, points: pts, fill: "none", stroke: stroke)
        }
    }

    private static func transform(_ p: SIMD2<Double>, _ pose: SIMD3<Double>) -> SIMD2<Double> {
        let c = cos(pose.z), s = sin(pose.z)
        return SIMD2(pose.x + c * p.x - s * p.y, pose.y + s * p.x + c * p.y)
    }
}

extension World {
    /// Dynamic bodies (those `dynamicPoses` reports, in declaration order).
    public var dynamicBodyCount: Int { compiled.dynamicBodies.count }

    /// The pose (x, y, angle) of every dynamic body, in declaration order.
    public func dynamicPoses() -> [SIMD3<Double>] {
        let c = compiled
        return (0..<c.dynamicBodies.count).map { k in
            let base = c.bodyBase + 8 * k
            return SIMD3(signals[base], signals[base + 1], signals[base + 2])
        }
    }

    /// The same, appended to `out` as x, y, angle triples (no allocation when `out` has room).
    public func appendDynamicPoses(to out: inout [Float]) {
        let c = compiled
        for k in 0..<c.dynamicBodies.count {
            let base = c.bodyBase + 8 * k
            out.append(Float(signals[base])); out.append(Float(signals[base + 1])); out.append(Float(signals[base + 2]))
        }
    }
}
