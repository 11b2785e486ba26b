import MetaSimCore

/// One episode's scene, ready to draw frame after frame: `LiveScene`'s shapes, goal, track and
/// colours (those of `SVGRenderer`), the colours parsed, the world's `render:` section and the
/// index of its followed body among the dynamic bodies' poses.
public struct RasterScene: Sendable {
    public struct Colour: Sendable, Equatable {
        public var r: Double, g: Double, b: Double
    }

    struct Shape: Sendable {
        enum Kind: Sendable { case circle(radius: Double), polygon, polyline(closed: Bool) }
        var body: Int?
        var kind: Kind
        var points: [SIMD2<Double>]
        var fill: Colour?
        var stroke: Colour?
    }

    public let scene: LiveScene
    public let spec: RenderSpec
    /// The followed body's index into `World.dynamicPoses()`, when `render.follow` names one.
    public let followIndex: Int?
    let shapes: [Shape]
    let background: Colour
    let goal: (centre: SIMD2<Double>, radius: Double)?
    let track: [SIMD2<Double>]

    /// The scene of episode `seed` of `program`'s world (built apart: the caller's worlds are not
    /// touched; procedural terrain and tracks depend on the episode seed).
    public init(program: WorldProgram, seed: UInt64) throws(RenderError) {
        let live: LiveScene
        do { live = try LiveScene(program: program, seed: seed) } catch { throw .world(error) }
        self.init(scene: live, program: program)
    }

    public init(scene: LiveScene, program: WorldProgram) {
        self.scene = scene
        spec = program.definition.render
        if let name = spec.follow {
            followIndex = program.resolved.bodies.filter { $0.type != .static }.firstIndex { $0.name == name }
        } else {
            followIndex = nil
        }
        shapes = scene.shapes.map { s in
            let pts = s.points.map { SIMD2($0.count > 0 ? $0[0] : 0, $0.count > 1 ? $0[1] : 0) }
            let kind: Shape.Kind = switch s.kind {
            case "circle": .circle(radius: s.radius ?? 0)
            case "polyline": .polyline(closed: s.closed ?? false)
            default: .polygon
            }
            return Shape(body: s.body, kind: kind, points: pts, fill: Self.colour(s.fill), stroke: Self.colour(s.stroke))
        }
        background = Self.colour(scene.background) ?? Colour(r: 1, g: 1, b: 1)
        if let g = scene.goal, g.count == 3 { goal = (SIMD2(g[0], g[1]), g[2]) } else { goal = nil }
        track = (scene.track ?? []).map { SIMD2($0.count > 0 ? $0[0] : 0, $0.count > 1 ? $0[1] : 0) }
    }

    /// The camera for a frame whose dynamic bodies are at `poses` (`World.dynamicPoses()`).
    public func camera(poses: [SIMD3<Double>], size: (width: Int, height: Int)? = nil) throws(RenderError) -> FrameCamera {
        let follow = followIndex.flatMap { $0 < poses.count ? poses[$0] : nil }
        return try FrameCamera.resolve(spec, view: scene.view, follow: follow, size: size)
    }

    /// "#rrggbb" (nil for "none" or anything else).
    static func colour(_ text: String) -> Colour? {
        let hex = Array(text.utf8)
        guard hex.count == 7, hex[0] == UInt8(ascii: "#") else { return nil }
        var v: [Double] = []
        for i in stride(from: 1, to: 7, by: 2) {
            guard let byte = UInt8(String(decoding: hex[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            v.append(Double(byte) / 255)
        }
        return Colour(r: v[0], g: v[1], b: v[2])
    }
}
