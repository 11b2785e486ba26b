import MetaSimCore
import MetaSimRender

/// What a session keeps for `render`: each drawn instance's scene (its episode's shapes, built
/// apart from the session's worlds: they record no geometry), rebuilt when the instance starts
/// another episode, and one raster surface. Owned by the session's owner thread; dropped when the
/// session changes task or closes.
final class SessionFrames {
    struct Entry {
        var episodeSeed: UInt64
        var scene: RasterScene
    }

    private var scenes: [Int: Entry] = [:]
    let raster = Rasterizer()

    /// The scene of `world`'s current episode (instance `i`).
    func scene(instance i: Int, world: World) throws(RenderError) -> RasterScene {
        if let e = scenes[i], e.episodeSeed == world.episodeSeed { return e.scene }
        let scene = try RasterScene(program: world.program, seed: world.episodeSeed)
        scenes[i] = Entry(episodeSeed: world.episodeSeed, scene: scene)
        return scene
    }
}

extension Session {
    /// The camera of instance `i`'s current frame (the world's `render:` section, `size` if given).
    func renderCamera(instance i: Int, size: (width: Int, height: Int)?) throws(RenderError) -> (RasterScene, [SIMD3<Double>], FrameCamera) {
        let frames = self.frames ?? SessionFrames()
        self.frames = frames
        let world = batch.world(i)
        let scene = try frames.scene(instance: i, world: world)
        let poses = world.dynamicPoses()
        return (scene, poses, try scene.camera(poses: poses, size: size))
    }

    /// Draws instance `i` into `out` (the camera's width × height × 3 bytes).
    func drawFrame(_ scene: RasterScene, poses: [SIMD3<Double>], camera: FrameCamera,
                   into out: UnsafeMutableRawBufferPointer) throws(RenderError) {
        let frames = self.frames ?? SessionFrames()
        self.frames = frames
        try frames.raster.draw(scene, poses: poses, camera: camera, into: out)
    }
}
