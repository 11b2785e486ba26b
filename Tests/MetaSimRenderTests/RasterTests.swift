import CGIF
import Foundation
import MetaSimCore
import MetaSimRender
import MetaSimTestSupport
import Testing

/// The raster renderer (MetaSimRender): frame size, pixels where the bodies are, determinism, the
/// default camera, size limits, PNG and GIF files.
@Suite struct RasterTests {
    static func catalogWorld(_ name: String) throws -> WorldDefinition {
        let folder = name.hasPrefix("lane") || name.hasPrefix("track") || name.hasPrefix("mountain") || name.hasPrefix("parking") ? "driving" : "robots"
        return try WorldDefinition.load(contentsOfFile: "\(TestPaths.worldsRoot)/\(folder)/\(name).yaml")
    }

    static func world(_ d: WorldDefinition) throws -> World {
        try World(definition: d, task: d.nominalTask())
    }

    /// The RGB of pixel (column, row).
    static func pixel(_ rgb: [UInt8], width: Int, _ x: Int, _ y: Int) -> [UInt8] {
        let i = 3 * (y * width + x)
        return Array(rgb[i..<(i + 3)])
    }

    /// The mean pixel (column, row) of every pixel of exactly colour `c`, and how many there are.
    static func centroid(_ rgb: [UInt8], width: Int, of c: [UInt8]) -> (SIMD2<Double>, Int) {
        var sum = SIMD2<Double>(0, 0), n = 0
        for i in 0..<(rgb.count / 3) where rgb[3 * i] == c[0] && rgb[3 * i + 1] == c[1] && rgb[3 * i + 2] == c[2] {
            sum += SIMD2(Double(i % width), Double(i / width)); n += 1
        }
        return (n > 0 ? sum / Double(n) : sum, n)
    }

    static let hull: [UInt8] = [0x80, 0x66, 0xe6]     // SVGRenderer.palette[0], the first dynamic body
    static let background: [UInt8] = [0xf7, 0xf7, 0xf2]

    @Test func lunarLanderFrameHasTheWorldsSizeAndIsNotBlank() throws {
        let w = try Self.world(Self.catalogWorld("lunar-lander"))
        let scene = try RasterScene(program: w.program, seed: 3)
        w.reset(seed: 3)
        let camera = try scene.camera(poses: w.dynamicPoses())
        #expect(camera.width == RenderSpec.defaultWidth && camera.height == RenderSpec.defaultHeight)
        let rgb = try Rasterizer().frame(scene, poses: w.dynamicPoses(), camera: camera)
        #expect(rgb.count == 600 * 400 * 3)
        var colours = Set<UInt32>()
        var backgroundPixels = 0
        for i in 0..<(600 * 400) {
            colours.insert(UInt32(rgb[3 * i]) << 16 | UInt32(rgb[3 * i + 1]) << 8 | UInt32(rgb[3 * i + 2]))
            if Array(rgb[(3 * i)..<(3 * i + 3)]) == Self.background { backgroundPixels += 1 }
        }
        #expect(colours.count > 10, "a frame of one or a few colours is blank")
        #expect(backgroundPixels > 600 * 400 / 2 && backgroundPixels < 600 * 400 * 99 / 100)
        // The moon's edges (#3f5a36, SVGRenderer's static stroke) are drawn: terrain is in the
        // frame, below the lander.
        let (moon, moonPixels) = Self.centroid(rgb, width: 600, of: [0x3f, 0x5a, 0x36])
        #expect(moonPixels > 300)
        #expect(moon.y > camera.pixel(SIMD2(w.dynamicPoses()[0].x, w.dynamicPoses()[0].y)).y)
    }

    @Test func theHullsPixelsAreWhereItsBodyIs() throws {
        let w = try Self.world(Self.catalogWorld("lunar-lander"))
        let scene = try RasterScene(program: w.program, seed: 5)
        w.reset(seed: 5)
        let raster = Rasterizer()
        var policy = BaselinePolicy(.random, specs: w.specs, seed: 5)
        var checked = 0
        for step in 0..<120 {
            if step % 40 == 0 {
                let poses = w.dynamicPoses()
                let camera = try scene.camera(poses: poses)
                let rgb = try raster.frame(scene, poses: poses, camera: camera)
                // The hull's origin is inside its polygon: drawn in the hull's colour, and the
                // hull's pixels are centred near it (the polygon spans y −10/30…17/30 m: its
                // centroid is a little above the origin, never more than 0.3 m away).
                let at = camera.pixel(SIMD2(poses[0].x, poses[0].y))
                #expect(Self.pixel(rgb, width: camera.width, Int(at.x), Int(at.y)) == Self.hull, "step \(step): no hull at \(at)")
                let (c, n) = Self.centroid(rgb, width: camera.width, of: Self.hull)
                #expect(n > 50)
                #expect(((c - at) * (c - at)).sum().squareRoot() < 0.3 * camera.scale, "step \(step): hull pixels at \(c), body at \(at)")
                checked += 1
            }
            if w.step(policy.act()).terminated { break }
        }
        #expect(checked == 3)
    }

    /// A world with an explicit camera: a box of known size at a known place lands on the pixels
    /// the transform W/2 + (x − cx)·s, H/2 − (y − cy)·s gives.
    static let boxWorld = """
        name: box-camera
        bodies:
          box:
            position: [3, 2]
            gravity_scale: 0
            shapes:
              - box: {half_extents: [0.5, 0.25]}
        actions:
          - {name: move, type: planar-velocity, body: box, max_speed: 1}
        observations:
          - {name: position, type: position, body: box, axis: xy}
        reward:
          - {name: zero, type: expression, value: 0}
        render:
          width: 200
          height: 100
          scale: 20
          centre: [1, 1]
        """

    @Test func anExplicitCameraPutsABoxOnItsPixels() throws {
        let d = try WorldDefinition.parse(Self.boxWorld, file: "box.yaml")
        #expect(d.render.width == 200 && d.render.height == 100 && d.render.scale == 20 && d.render.centre == SIMD2(1, 1))
        let w = try Self.world(d)
        w.reset(seed: 0)
        let scene = try RasterScene(program: w.program, seed: 0)
        let camera = try scene.camera(poses: w.dynamicPoses())
        #expect(camera == FrameCamera(width: 200, height: 100, scale: 20, centre: SIMD2(1, 1)))
        let rgb = try Rasterizer(antialias: false).frame(scene, poses: w.dynamicPoses(), camera: camera)
        // Box x 2.5…3.5, y 1.75…2.25 m: columns 100 + 30…50, rows 50 − 25…15.
        var inside = 0, outside = 0
        for y in 0..<100 {
            for x in 0..<200 {
                let isBox = Self.pixel(rgb, width: 200, x, y) == Self.hull
                let expected = (131..<149).contains(x) && (26..<34).contains(y)
                let near = (128..<152).contains(x) && (23..<37).contains(y)
                if expected { inside += isBox ? 1 : 0 } else if !near { outside += isBox ? 1 : 0 }
            }
        }
        #expect(inside == 18 * 8, "the box's interior is not all drawn in its colour")
        #expect(outside == 0, "box colour away from the box")
    }

    @Test func followingABodyKeepsItAtTheCentre() throws {
        let text = Self.boxWorld.replacingOccurrences(of: "  centre: [1, 1]", with: "  follow: box\n  follow_axes: x")
        let d = try WorldDefinition.parse(text, file: "follow.yaml")
        #expect(d.render.follow == "box" && d.render.followAxes == .x)
        let w = try Self.world(d)
        w.reset(seed: 0)
        let scene = try RasterScene(program: w.program, seed: 0)
        let camera = try scene.camera(poses: w.dynamicPoses())
        #expect(camera.centre.x == 3)
        #expect(camera.pixel(SIMD2(3, 0)).x == 100)
    }

    @Test func aVariantOverridesTheRenderSectionKeyByKey() throws {
        let folder = TestPaths.temporaryFolder()
        try Self.boxWorld.write(toFile: folder + "/base.yaml", atomically: true, encoding: .utf8)
        try "extends: base.yaml\nname: wider\nrender:\n  width: 120\n".write(toFile: folder + "/wider.yaml", atomically: true, encoding: .utf8)
        let d = try WorldDefinition.load(contentsOfFile: folder + "/wider.yaml")
        #expect(d.render.width == 120 && d.render.height == 100 && d.render.scale == 20 && d.render.centre == SIMD2(1, 1))
        // Over a base without the section: the defaults, with the variant's keys.
        let plain = Self.boxWorld.components(separatedBy: "render:")[0]
        try plain.write(toFile: folder + "/plain.yaml", atomically: true, encoding: .utf8)
        try "extends: plain.yaml\nname: framed\nrender:\n  scale: 50\n".write(toFile: folder + "/framed.yaml", atomically: true, encoding: .utf8)
        let framed = try WorldDefinition.load(contentsOfFile: folder + "/framed.yaml")
        #expect(framed.render.width == 600 && framed.render.height == 400 && framed.render.scale == 50 && framed.render.centre == nil)
    }

    @Test func sameStateGivesTheSameBytes() throws {
        let w = try Self.world(Self.catalogWorld("bipedal-walker"))
        w.reset(seed: 9)
        let poses = w.dynamicPoses()
        let a = try RasterScene(program: w.program, seed: 9), b = try RasterScene(program: w.program, seed: 9)
        let one = try Rasterizer().frame(a, poses: poses, camera: a.camera(poses: poses))
        let raster = Rasterizer()
        _ = try raster.frame(b, poses: poses, camera: b.camera(poses: poses, size: (64, 48)))   // another size first
        let two = try raster.frame(b, poses: poses, camera: b.camera(poses: poses))
        #expect(one == two)
        var moved = poses
        moved[0].x += 0.5
        let three = try raster.frame(b, poses: moved, camera: b.camera(poses: poses))
        #expect(three != one)
    }

    @Test func aWorldWithoutARenderSectionGetsTheDefaultCamera() throws {
        for name in ["pendulum", "cartpole", "track-racer", "point-nav"] {
            let d = try Self.catalogWorld(name)
            #expect(d.render == RenderSpec(), "\(name) has a render: section; pick another world")
            let w = try Self.world(d)
            w.reset(seed: 1)
            let scene = try RasterScene(program: w.program, seed: 1)
            let camera = try scene.camera(poses: w.dynamicPoses())
            // The SVG renderer's framing of the first state, fitted into 600 × 400 and centred.
            let v = scene.scene.view
            #expect(camera.width == 600 && camera.height == 400)
            #expect(camera.centre == SIMD2((v[0] + v[2]) / 2, (v[1] + v[3]) / 2))
            #expect(abs(camera.scale - min(600 / (v[2] - v[0]), 400 / (v[3] - v[1]))) < 1e-9)
            let rgb = try Rasterizer().frame(scene, poses: w.dynamicPoses(), camera: camera)
            // The first dynamic body is drawn in its colour where it is.
            let (c, n) = Self.centroid(rgb, width: 600, of: Self.hull)
            let at = camera.pixel(SIMD2(w.dynamicPoses()[0].x, w.dynamicPoses()[0].y))
            #expect(n > 0, "\(name): its first body is not drawn")
            #expect(((c - at) * (c - at)).sum().squareRoot() < 40, "\(name): body pixels at \(c), body at \(at)")
        }
    }

    @Test func badSizesAreRefused() throws {
        for (w, h) in [(0, 10), (10, 0), (-1, 5), (4097, 10), (4096, 4096), (2049, 2048)] {
            #expect(RenderSpec.sizeProblem(width: w, height: h) != nil, "\(w) × \(h)")
            #expect(throws: RenderError.self) { try FrameCamera.resolve(RenderSpec(), view: [0, 0, 1, 1], follow: nil, size: (w, h)) }
        }
        #expect(RenderSpec.sizeProblem(width: 2048, height: 2048) == nil)
        #expect(RenderSpec.sizeProblem(width: 4096, height: 1) == nil)
        #expect(throws: RenderError.self) { try Rasterizer().draw(try RasterScene(program: Self.world(Self.catalogWorld("pendulum")).program, seed: 0),
                                                                  poses: [], camera: FrameCamera(width: 4, height: 4, scale: 1, centre: .zero),
                                                                  into: UnsafeMutableRawBufferPointer(start: nil, count: 0)) }
    }

    @Test(arguments: [
        ("  width: 0", "render.width", "must be at least 1"),
        ("  width: 5000", "render.width", "must be at most 4096"),
        ("  width: 4096\n  height: 4096", "render.height", "at most 4194304 pixels"),
        ("  scale: -2", "render.scale", "above 0"),
        ("  centre: [1]", "render.centre", "expected [x, y]"),
        ("  follow: hull", "render.follow", "no body named 'hull'"),
        ("  follow_axes: z", "render.follow_axes", "'z'"),
        ("  zoom: 2", "render.zoom", "unknown key 'zoom'"),
    ])
    func aBadRenderSectionNamesFileLineAndKey(line: String, keyPath: String, message: String) throws {
        var text = Self.boxWorld
        text = String(text[..<text.range(of: "render:\n")!.upperBound]) + line + "\n"
        // The line of the key the message names.
        let key = "  " + keyPath.split(separator: ".").last! + ":"
        let lineNumber = try #require(text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix(key) }) + 1
        do {
            _ = try WorldDefinition.parse(text, file: "bad.yaml")
            Issue.record("'\(line)' was accepted")
        } catch {
            let d = error.description
            #expect(d.contains("bad.yaml:\(lineNumber):"), "\(d)")
            #expect(d.contains(keyPath) && d.contains(message), "\(d)")
        }
    }

    @Test func pngFileHasTheFramesSize() throws {
        let w = try Self.world(Self.catalogWorld("lunar-lander"))
        let frames = try EpisodeFrames(world: w, seed: 2, steps: 10, policy: .zero)
        #expect(frames.poses.count == 11)
        let png = try frames.png(size: (120, 80))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
        // IHDR: width and height, big-endian, at bytes 16 and 20.
        #expect(png[16..<20].reduce(0) { $0 << 8 | Int($1) } == 120)
        #expect(png[20..<24].reduce(0) { $0 << 8 | Int($1) } == 80)
    }

    @Test func gifHasEveryPickedFrameAndDecodesToTheFrames() throws {
        let w = try Self.world(Self.catalogWorld("lunar-lander"))
        let frames = try EpisodeFrames(world: w, seed: 2, steps: 9, policy: .random)
        let bytes = try frames.gif(size: (90, 60), every: 4)    // states 0, 4, 8 and the last, 9
        #expect(Array(bytes.prefix(6)) == Array("GIF89a".utf8))
        let path = TestPaths.temporaryFolder() + "/frames.gif"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var error: Int32 = 0
        let gif = try #require(DGifOpenFileName(path, &error))
        defer { DGifCloseFile(gif, &error) }
        #expect(DGifSlurp(gif) == GIF_OK)
        #expect(gif.pointee.SWidth == 90 && gif.pointee.SHeight == 60)
        #expect(gif.pointee.ImageCount == 4)
        // The first image's pixels are the first frame's colours, up to the quantizer.
        let scene = frames.scene
        let rgb = try Rasterizer().frame(scene, poses: frames.poses[0], camera: scene.camera(poses: frames.poses[0], size: (90, 60)))
        let image = gif.pointee.SavedImages[0]
        let map = try #require(image.ImageDesc.ColorMap ?? gif.pointee.SColorMap)
        var far = 0
        for i in 0..<(90 * 60) {
            let c = map.pointee.Colors[Int(image.RasterBits[i])]
            let d = abs(Int(c.Red) - Int(rgb[3 * i])) + abs(Int(c.Green) - Int(rgb[3 * i + 1])) + abs(Int(c.Blue) - Int(rgb[3 * i + 2]))
            if d > 48 { far += 1 }
        }
        #expect(far < 90 * 60 / 100, "\(far) pixels far from the frame's colour")
    }
}
