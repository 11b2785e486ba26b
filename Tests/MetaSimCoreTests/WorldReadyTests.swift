import CMetaSimPhysics
import Testing

/// `msp_world_ready` (the end of every episode build) does what the episode's first step would
/// have done, earlier: it must not change a single bit of the episode.
@Suite("Physics shim: msp_world_ready")
struct WorldReadyTests {
    static let steps = 240

    /// A static floor and a pile of boxes that overlap each other and the floor from the start,
    /// so the first step has contacts to find and the pile keeps making and breaking them.
    static func buildPile(_ world: OpaquePointer, ready: Bool) -> Int {
        var config = msp_world_config(gravity_x: 0, gravity_y: -10, dt: 1.0 / 60, velocity_iterations: 8,
                                      position_iterations: 3, substeps: 2, allow_sleep: 1)
        msp_world_clear(world, &config, 1)
        var floor = msp_body_def()
        floor.type = Int32(MSP_BODY_STATIC)
        let floorIndex = msp_body_add(world, &floor)
        let floorPoints: [Float] = [-20, 0, 20, 0, 20, -1, -20, -1]
        #expect(addPolygon(world, body: floorIndex, points: floorPoints) == MSP_OK)
        let box: [Float] = [-0.5, -0.5, 0.5, -0.5, 0.5, 0.5, -0.5, 0.5]
        for k in 0..<12 {
            var def = msp_body_def()
            def.type = Int32(MSP_BODY_DYNAMIC)
            def.x = Float(k % 4) * 0.8 - 1.2   // 0.8 m apart: neighbours overlap by 0.2 m
            def.y = 0.4 + Float(k / 4) * 0.8
            def.angle = Float(k) * 0.1
            def.gravity_scale = 1
            def.allow_sleep = 1
            def.awake = 1
            def.tracked = 1
            let index = msp_body_add(world, &def)
            #expect(index >= 0)
            #expect(addPolygon(world, body: index, points: box) == MSP_OK)
        }
        if ready { msp_world_ready(world) }
        return Int(msp_state_size(world))
    }

    static func addPolygon(_ world: OpaquePointer, body: Int32, points: [Float]) -> Int32 {
        points.withUnsafeBufferPointer { buffer in
            var def = msp_fixture_def()
            def.shape = Int32(MSP_SHAPE_POLYGON)
            def.points = buffer.baseAddress
            def.point_count = Int32(points.count / 2)
            def.density = 1
            def.friction = 0.6
            def.category_bits = 1
            def.mask_bits = 0xFFFF
            return msp_fixture_add(world, body, &def)
        }
    }

    /// Every state of the episode, as bit patterns.
    static func run(_ world: OpaquePointer, stateSize: Int) -> [UInt32] {
        var state = [Float](repeating: 0, count: stateSize)
        var trace: [UInt32] = []
        for _ in 0..<steps {
            state.withUnsafeMutableBufferPointer { msp_world_step(world, nil, $0.baseAddress) }
            trace += state.map(\.bitPattern)
        }
        return trace
    }

    @Test("it finds the starting contacts, and the episode is bit for bit the one without it")
    func unchangedEpisode() throws {
        let plain = try #require(msp_world_create()), readied = try #require(msp_world_create())
        defer { msp_world_destroy(plain); msp_world_destroy(readied) }
        let n = Self.buildPile(plain, ready: false)
        _ = Self.buildPile(readied, ready: false)
        let before = msp_world_footprint(readied)
        msp_world_ready(readied)
        // The footprint counts live contacts: the ones between overlapping boxes now exist.
        #expect(msp_world_footprint(readied) > before)
        #expect(msp_world_footprint(plain) == before)
        #expect(Self.run(readied, stateSize: n) == Self.run(plain, stateSize: n))
    }

    @Test("after an episode with many contacts, the next one is the same as in a fresh world")
    func historyFree() throws {
        let used = try #require(msp_world_create()), fresh = try #require(msp_world_create())
        defer { msp_world_destroy(used); msp_world_destroy(fresh) }
        let n = Self.buildPile(used, ready: true)
        let first = Self.run(used, stateSize: n)
        _ = Self.buildPile(used, ready: true)  // reserves blocks for the first episode's most contacts
        _ = Self.buildPile(fresh, ready: true)
        let second = Self.run(used, stateSize: n)
        #expect(second == first)
        #expect(Self.run(fresh, stateSize: n) == first)
    }
}
