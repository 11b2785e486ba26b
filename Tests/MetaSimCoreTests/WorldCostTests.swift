import Foundation
import Testing

@testable import MetaSimCore

/// Issue 27, item 2: a world's cost is estimated before anything is built.
@Suite("World cost")
struct WorldCostTests {
    private func catalog(_ name: String) throws -> WorldDefinition {
        try WorldDefinition.load(contentsOfFile: #require(TestSupport.catalogPath(named: name)))
    }

    @Test("terrain points, fixtures and bytes grow with TERRAIN_LENGTH as the terrain does")
    func terrainScaling() throws {
        let d = try catalog("bipedal-walker")
        let small = try WorldProgram(definition: d, task: d.nominalTask(overrides: ["TERRAIN_LENGTH": 200])).cost
        let large = try WorldProgram(definition: d, task: d.nominalTask(overrides: ["TERRAIN_LENGTH": 2200])).cost
        #expect(large.terrainPoints - small.terrainPoints == 2000)
        #expect(large.fixtures - small.fixtures == 2000)  // one edge fixture per segment
        #expect(large.bytesPerInstance - small.bytesPerInstance == 2000 * (WorldCost.fixtureBytes + WorldCost.terrainPointBytes))
        // The built world has the fixtures counted: one instance's Box2D footprint grows by about as much.
        let a = try World(program: WorldProgram(definition: d, task: d.nominalTask(overrides: ["TERRAIN_LENGTH": 200])))
        let b = try World(program: WorldProgram(definition: d, task: d.nominalTask(overrides: ["TERRAIN_LENGTH": 2200])))
        let grown = b.footprint - a.footprint
        #expect(grown > 0 && grown <= large.bytesPerInstance - small.bytesPerInstance)
    }

    @Test("the estimate of a catalog instance is above its Box2D footprint and within a few times it")
    func estimateAboveFootprint() throws {
        for name in ["bipedal-walker", "lunar-lander", "track-racer", "cartpole", "lane-keep"] {
            let d = try catalog(name)
            let program = try WorldProgram(definition: d, task: d.nominalTask())
            let w = try World(program: program)
            #expect(program.cost.bytesPerInstance >= w.footprint, "\(name)")
            #expect(program.cost.bytesPerInstance <= 4 * w.footprint, "\(name)")
        }
    }

    @Test("reset work is reset_steps × substeps per instance, saturating")
    func resetWork() throws {
        let d = try catalog("valley-car")
        let cost = try WorldProgram(definition: d, task: d.nominalTask()).cost
        #expect(cost.resetSubsteps == d.episode.resetSteps * d.simulation.substeps)
        #expect(cost.resetWork(instances: 4096) == 4096 * cost.resetSubsteps)
        #expect(cost.bytes(instances: Int.max) == Int.max)
    }

    @Test("an instance estimated beyond 1 GiB is refused before it is built")
    func instanceLimit() throws {
        let base = try String(contentsOfFile: #require(TestSupport.catalogPath(named: "cartpole")), encoding: .utf8)
        let terrain = (0..<4).map { i in
            "  ground\(i):\n    type: static\n    shapes:\n      - terrain: {generator: random-walk, count: 1000000, step: 0.1, start: \(i * 10)}\n"
        }.joined()
        let text = base.replacingOccurrences(of: "\nbodies:\n", with: "\nbodies:\n" + terrain)
        #expect(text != base)
        let d = try TestSupport.parse(text)
        #expect {
            try WorldProgram(definition: d, task: d.nominalTask())
        } throws: { error in
            guard case WorldError.limitExceeded(let message) = error else { return false }
            return message.contains("GiB")
        }
    }

    @Test("a batch beyond the machine's memory is refused before any instance is built")
    func batchLimit() throws {
        let d = try catalog("bipedal-walker")
        let program = try WorldProgram(definition: d, task: d.nominalTask())
        let count = WorldLimits.maxBatchBytes / program.cost.bytesPerInstance + 1
        #expect {
            try WorldBatch(program: program, count: count)
        } throws: { error in
            if case WorldError.limitExceeded = error { return true }
            return false
        }
    }
}
