import Foundation

/// Draws a world and one episode of it as a self-contained animated SVG (SMIL animation, shown
/// by any browser): static geometry, the track and goal, and every dynamic body moving along its
/// recorded poses. This is how people check a world they wrote.
public struct SVGRenderer {
    public struct Frame: Sendable {
        /// Pose (x, y, angle) of every dynamic body, in declaration order.
        public var poses: [SIMD3<Double>]
    }

    public let world: World
    /// 1.5 px in world units (set per drawing; user units are metres).
    private var strokeWidth = 0.05

    public init(world: World) {
        self.world = world
    }

    /// Resets with `seed`, runs up to `steps` steps with `policy` (stopping at the episode's end)
    /// and returns the SVG text.
    public mutating func render(seed: UInt64, steps: Int, policy: BaselinePolicy.Kind) -> String {
        var pi = BaselinePolicy(policy, specs: world.specs, seed: seed)
        return render(seed: seed, steps: steps) { pi.act() }
    }

    /// Replays `actions` (one array per step, e.g. streamed by the daemon) from episode `seed`:
    /// the same world, seed and actions give the same episode.
    public mutating func render(seed: UInt64, actions: [[Float]]) -> String {
        var k = 0
        return render(seed: seed, steps: actions.count) {
            defer { k += 1 }
            return actions[k]
        }
    }

    private mutating func render(seed: UInt64, steps: Int, next: () -> [Float]) -> String {
        world.recordsGeometry = true
        defer { world.recordsGeometry = false }
        world.reset(seed: seed)
        let geometry = world.geometry
        let spec = world.compiled.resolved
        let dynamic = world.compiled.dynamicBodies
        var frames: [Frame] = [Frame(poses: currentPoses())]
        var end = "running"
        for _ in 0..<max(0, steps) {
            let r = world.step(next())
            frames.append(Frame(poses: currentPoses()))
            if r.terminated || r.truncated { end = r.end?.description ?? "ended"; break }
        }

        // The view: the bodies' trajectories with a margin, plus the goal and the track; static
        // geometry is drawn in full but only framed when it is not much larger than the action.
        var box = Box()
        for f in frames { for p in f.poses { box.add(SIMD2(p.x, p.y)) } }
        var reach = 0.5
        for s in geometry.shapes where dynamic.contains(s.body) {
            for p in s.points { reach = max(reach, (p * p).sum().squareRoot()) }
            if case .circle(let r) = s.kind { reach = max(reach, r) }
        }
        box.expand(by: reach * 2.5)
        if let g = geometry.goal { box.add(g); box.expand(by: 0) }
        if let t = geometry.track { for p in t.left + t.right { box.add(p) } }
        var statics = Box()
        for s in geometry.shapes where !dynamic.contains(s.body) {
            for p in s.points { statics.add(transform(p, geometry.initialPoses[s.body])) }
        }
        if statics.valid, statics.area < 6 * max(box.area, 1e-9) { box.union(statics) }
        box.expand(by: 0.05 * max(box.width, box.height))
        if !box.valid { box = Box(min: SIMD2(-1, -1), max: SIMD2(1, 1)) }

        let family = Set(spec.familyParameters.map(\.name))
        let familyText = zip(world.task.names, world.task.values).filter { family.contains($0.0) }
            .map { "\($0.0)=\(String(format: "%.4g", $0.1))" }.joined(separator: " ")
        let dt = world.value(of: "dt") ?? 0.02
        let duration = max(Double(frames.count - 1) * dt, dt)
        let pxPerMetre = 900 / max(box.width, box.height)
        strokeWidth = 1.5 / pxPerMetre
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="\(n(box.min.x)) \(n(-box.max.y)) \(n(box.width)) \(n(box.height))" \
            width="\(Int(box.width * pxPerMetre))" height="\(Int(box.height * pxPerMetre))">
            <title>\(escape(spec.name)) — \(escape(familyText)), episode seed \(seed)</title>
            <rect x="\(n(box.min.x))" y="\(n(-box.max.y))" width="\(n(box.width))" height="\(n(box.height))" fill="#f7f7f2"/>
            <g transform="scale(1,-1)" stroke-linejoin="round">

            """
        if let t = geometry.track {
            svg += "<polyline points=\"\(pts(t.centre + [t.centre[0]]))\" fill=\"none\" stroke=\"#bbb\" stroke-dasharray=\"4 4\" stroke-width=\"\(n(strokeWidth))\" />\n"
        }
        for s in geometry.shapes where !dynamic.contains(s.body) {
            svg += shapeSVG(s, pose: geometry.initialPoses[s.body], fill: s.sensor ? "none" : "#6b8f5e", stroke: s.sensor ? "#999" : "#3f5a36")
        }
        if let g = geometry.goal {
            let r = spec.goal?.radius.literalValue ?? 0.1
            svg += "<circle cx=\"\(n(g.x))\" cy=\"\(n(g.y))\" r=\"\(n(max(r, 0.01)))\" fill=\"#f2c14e\" fill-opacity=\"0.6\" stroke=\"#c98f00\" stroke-width=\"\(n(strokeWidth))\" />\n"
        }
        let palette = Self.palette
        for (k, bi) in dynamic.enumerated() {
            let translate = frames.map { "\(n($0.poses[k].x)) \(n($0.poses[k].y))" }.joined(separator: ";")
            let rotate = frames.map { n($0.poses[k].z * 180 / Double.pi) }.joined(separator: ";")
            // The static transforms show the first frame where SMIL animation is not played.
            let p0 = frames[0].poses[k]
            svg += "<g transform=\"translate(\(n(p0.x)) \(n(p0.y)))\"><animateTransform attributeName=\"transform\" type=\"translate\" values=\"\(translate)\" dur=\"\(n(duration))s\" repeatCount=\"indefinite\"/>"
            svg += "<g transform=\"rotate(\(n(p0.z * 180 / Double.pi)))\"><animateTransform attributeName=\"transform\" type=\"rotate\" values=\"\(rotate)\" dur=\"\(n(duration))s\" repeatCount=\"indefinite\"/>\n"
            for s in geometry.shapes where s.body == bi {
                svg += shapeSVG(s, pose: nil, fill: palette[k % palette.count], stroke: "#222")
            }
            svg += "</g></g>\n"
        }
        svg += "</g>\n"
        let fontSize = n(box.height / 30)
        svg += "<text x=\"\(n(box.min.x + box.width / 60))\" y=\"\(n(-box.max.y + box.height / 22))\" font-family=\"monospace\" font-size=\"\(fontSize)\" fill=\"#333\">"
        svg += "\(escape(spec.name)) · episode seed \(seed) · \(frames.count - 1) steps · return \(String(format: "%.2f", world.episodeReturn)) · \(escape(end))</text>\n"
        svg += "</svg>\n"
        return svg
    }

    /// The fill of each dynamic body, in turn (the live view uses them too: `LiveScene`).
    public static let palette = ["#8066e6", "#4d4d80", "#d1495b", "#00798c", "#edae49", "#30638e"]

    private func currentPoses() -> [SIMD3<Double>] { world.dynamicPoses() }

    private func shapeSVG(_ s: EpisodeGeometry.Shape, pose: SIMD3<Double>?, fill: String, stroke: String) -> String {
        let points = pose.map { p in s.points.map { transform($0, p) } } ?? s.points
        let style = "stroke=\"\(stroke)\" stroke-width=\"\(n(strokeWidth))\" "
        switch s.kind {
        case .circle(let r):
            let c = points[0]
            var out = "<circle cx=\"\(n(c.x))\" cy=\"\(n(c.y))\" r=\"\(n(r))\" fill=\"\(fill)\" \(style)/>"
            // A spoke shows rotation.
            let a = pose?.z ?? 0
            out += "<line x1=\"\(n(c.x))\" y1=\"\(n(c.y))\" x2=\"\(n(c.x + r * cos(a)))\" y2=\"\(n(c.y + r * sin(a)))\" \(style)/>\n"
            return out
        case .polygon:
            return "<polygon points=\"\(pts(points))\" fill=\"\(fill)\" \(style)/>\n"
        case .polyline(let closed):
            let p = closed ? points + [points[0]] : points
            return "<polyline points=\"\(pts(p))\" fill=\"none\" \(style)/>\n"
        }
    }

    private func transform(_ p: SIMD2<Double>, _ pose: SIMD3<Double>) -> SIMD2<Double> {
        let c = cos(pose.z), s = sin(pose.z)
        return SIMD2(pose.x + c * p.x - s * p.y, pose.y + s * p.x + c * p.y)
    }

    private func pts(_ p: [SIMD2<Double>]) -> String {
        p.map { "\(n($0.x)),\(n($0.y))" }.joined(separator: " ")
    }

    private func n(_ v: Double) -> String {
        String(format: "%.4g", v)
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    struct Box {
        var min = SIMD2<Double>(.infinity, .infinity)
        var max = SIMD2<Double>(-.infinity, -.infinity)
        var valid: Bool { min.x <= max.x && min.y <= max.y }
        var width: Double { max.x - min.x }
        var height: Double { max.y - min.y }
        var area: Double { valid ? width * height : 0 }
        mutating func add(_ p: SIMD2<Double>) {
            guard p.x.isFinite, p.y.isFinite else { return }
            min = pointwiseMin(min, p); max = pointwiseMax(max, p)
        }
        mutating func union(_ b: Box) { if b.valid { add(b.min); add(b.max) } }
        mutating func expand(by m: Double) { if valid { min -= SIMD2(m, m); max += SIMD2(m, m) } }
    }
}
