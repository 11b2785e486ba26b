import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimRender
import Testing

@Suite("render: RGB frames of a session's instances")
struct RenderTests {
    /// The error code of a failed call.
    static func code(_ body: () throws -> Void) -> ErrorCode? {
        do { try body() } catch { return (error as? ClientError)?.code }
        return nil
    }

    @Test("frames over the socket are the bytes the rasterizer draws in process, at each instance's state")
    func roundTripMatchesInProcess() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        #expect(c.hello.capabilities.contains("render"))
        let s = try c.open(OpenRequest(world: "lunar-lander", batch: 3, seed: 4))
        let local = try localBatch("lunar-lander", count: 3, seed: 4)
        var rng = SeededGenerator(seed: 8)
        for _ in 0..<30 {
            let a = randomActions(local.specs, count: 3, rng: &rng)
            try step(s, a)
            for (i, v) in a.enumerated() { local.actions[i] = v }
            local.step()
        }
        let frames = try c.render(session: s.id, instances: [2, 0])
        #expect(frames.map(\.instance) == [2, 0])
        let raster = Rasterizer()
        for f in frames {
            #expect(f.width == 600 && f.height == 400 && f.rgb.count == 600 * 400 * 3)
            let world = local.world(f.instance)
            let scene = try RasterScene(program: world.program, seed: world.episodeSeed)
            let poses = world.dynamicPoses()
            let expected = try raster.frame(scene, poses: poses, camera: scene.camera(poses: poses))
            #expect(f.rgb == expected, "instance \(f.instance)")
        }
        #expect(frames[0].rgb != frames[1].rgb, "two instances in different states drew the same frame")
        // The same state again: the same bytes; a step later: other bytes.
        #expect(try c.render(session: s.id, instances: [2])[0].rgb == frames[0].rgb)
        try step(s, randomActions(local.specs, count: 3, rng: &rng))
        #expect(try c.render(session: s.id, instances: [2])[0].rgb != frames[0].rgb)
        // Another size.
        let small = try c.render(session: s.id, size: (64, 48))
        #expect(small.count == 1 && small[0].instance == 0 && small[0].width == 64 && small[0].height == 48 && small[0].rgb.count == 64 * 48 * 3)
        try await server.stop()
    }

    @Test("unknown, foreign and external sessions, bad instances and sizes, and oversized replies get error replies")
    func errors() async throws {
        let server = try await TestServer { $0.maxFrame = 1 << 20 }
        let c = try server.connect(), other = try server.connect("other")
        let s = try c.open(OpenRequest(world: "cartpole", batch: 2))
        #expect(Self.code { _ = try c.render(session: 9999) } == .unknownSession)
        #expect(Self.code { _ = try other.render(session: s.id) } == .notOwner)
        #expect(Self.code { _ = try c.render(session: s.id, instances: [2]) } == .badRequest)
        #expect(Self.code { _ = try c.render(session: s.id, instances: [-1]) } == .badRequest)
        #expect(Self.code { _ = try c.render(session: s.id, instances: []) } == .badRequest)
        #expect(Self.code { _ = try c.render(session: s.id, instances: Array(repeating: 0, count: 257)) } == .badRequest)
        for size in [(0, 10), (10, 0), (5000, 10), (4096, 4096)] {
            #expect(Self.code { _ = try c.render(session: s.id, size: size) } == .badRequest, "\(size)")
        }
        // Width without height.
        #expect(Self.code { _ = try c.request(.render, meta: RenderRequest(session: s.id, width: 10), as: RenderReply.self) } == .badRequest)
        #expect(Self.code { _ = try c.request(.render, meta: ["session": Int(s.id), "zoom": 2], as: RenderReply.self) } == .badRequest)
        // 2 × 600 × 400 × 3 bytes is more than the 1 MiB frame this server allows; one frame is not.
        #expect(Self.code { _ = try c.render(session: s.id, instances: [0, 1]) } == .limitExceeded)
        // The connection is still usable, and so is the session.
        #expect(try c.render(session: s.id, instances: [1]).count == 1)
        try step(s, [0, 1])
        try await server.stop()
    }
}
