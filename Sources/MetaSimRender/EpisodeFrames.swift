import MetaSimCore

/// One episode's frames as `metasim render --png/--gif` draws them: the world reset with a seed
/// and stepped by a baseline policy (as `SVGRenderer` does), each state rasterized.
public struct EpisodeFrames {
    public let scene: RasterScene
    /// The dynamic bodies' poses, one array per state: the first state, then after each step.
    public let poses: [[SIMD3<Double>]]
    /// Seconds between states (the world's `dt`).
    public let dt: Double
    /// How the episode stopped: "running" (the steps ran out), else its end.
    public let end: String

    /// Resets `world` with `seed` and runs up to `steps` steps with `policy`, stopping at the
    /// episode's end.
    public init(world: World, seed: UInt64, steps: Int, policy: BaselinePolicy.Kind) throws(RenderError) {
        scene = try RasterScene(program: world.program, seed: seed)
        do { try world.resetChecked(seed: seed) } catch { throw .world(error) }
        var pi = BaselinePolicy(policy, specs: world.specs, seed: seed)
        var states = [world.dynamicPoses()]
        var end = "running"
        for _ in 0..<max(0, steps) {
            let r = world.step(pi.act())
            states.append(world.dynamicPoses())
            if r.terminated || r.truncated { end = r.end?.description ?? "ended"; break }
        }
        poses = states
        dt = world.value(of: "dt") ?? 0.02
        self.end = end
    }

    /// The last state as a PNG file's bytes.
    public func png(size: (width: Int, height: Int)? = nil) throws(RenderError) -> [UInt8] {
        let last = poses[poses.count - 1]
        return try Rasterizer().png(scene, poses: last, camera: scene.camera(poses: last, size: size))
    }

    /// Every `every`-th state (and the last) as an animated GIF's bytes, at the episode's pace.
    public func gif(size: (width: Int, height: Int)? = nil, every: Int = 1) throws(RenderError) -> [UInt8] {
        let every = max(1, every)
        let first = try scene.camera(poses: poses[0], size: size)
        var encoder = try GIFEncoder(width: first.width, height: first.height,
                                     delayCentiseconds: Int((dt * Double(every) * 100).rounded()))
        let raster = Rasterizer()
        var picks = Array(stride(from: 0, to: poses.count, by: every))
        if picks.last != poses.count - 1 { picks.append(poses.count - 1) }
        for k in picks {
            try encoder.add(rgb: raster.frame(scene, poses: poses[k], camera: scene.camera(poses: poses[k], size: size)))
        }
        return try encoder.encode()
    }
}
