import Testing

@testable import MetaSimCore

/// `WorldProgram.specs` comes from the resolved definition alone; these tests hold it to the
/// tables a built world steps with (its observation sources and clip bounds, its action bounds).
@Suite("World specs without a Box2D world")
struct WorldSpecsTests {
    /// The specs the compiled step tables of a built world imply (what `CompiledWorld.specs`
    /// returned before the specs moved to the program).
    static func specsOfTables(_ world: World) -> WorldSpecs {
        let c = world.compiled
        let names = c.resolved.observations.flatMap(\.entryNames)
        let observation = TensorSpec(name: "observation", shape: [c.sources.count], dtype: .float32,
                                     low: c.low, high: c.high, entries: names)
        if let d = c.discrete {
            return WorldSpecs(observation: observation,
                              action: TensorSpec(name: "action", shape: [], dtype: .int32, low: [0],
                                                 high: [Double(d.count - 1)], entries: ["action"]),
                              discreteActions: d.count, discreteTable: c.resolved.actions.discrete)
        }
        let entries = c.resolved.actions.actuators.flatMap(\.entryNames)
        return WorldSpecs(observation: observation,
                          action: TensorSpec(name: "action", shape: [c.actionCount], dtype: .float32,
                                             low: c.actionLow.map(Double.init), high: c.actionHigh.map(Double.init),
                                             entries: entries),
                          discreteActions: nil, discreteTable: nil)
    }

    @Test("every catalog world's program specs equal its built world's, for the nominal and sampled tasks",
          arguments: TestSupport.catalogFiles())
    func catalogSpecs(path: String) throws {
        let definition = try WorldDefinition.load(contentsOfFile: path)
        var tasks = [try definition.nominalTask()]
        for seed: UInt64 in [1, 2] { tasks.append(try definition.sampleTask(seed: seed)) }
        for task in tasks {
            let program = try WorldProgram(definition: definition, task: task)
            let world = try World(program: program)
            #expect(program.specs == Self.specsOfTables(world), "\(path), task \(task)")
            #expect(program.specs.observation.count == world.observationCount)
            #expect((program.specs.discreteActions == nil ? program.specs.action.count : 1) == world.actionCount)
        }
    }

    @Test("observation bounds are rounded inward to float32, infinities kept")
    func float32Bounds() throws {
        let d = try TestSupport.parse("""
            name: bounds
            bodies:
              ball:
                shapes: [{circle: 0.5}]
            actions:
              - {name: push, type: force, body: ball, max_force: 1, bounds: [-0.1, 0.1]}
            observations:
              - {name: x, type: position, body: ball, axis: xy, bounds: [-0.1, 0.1]}
              - {name: a, type: angle, body: ball}
            reward:
              - {name: alive, type: alive}
            """)
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let low = Double(Float(-0.1)) < -0.1 ? Double(Float(-0.1).nextUp) : Double(Float(-0.1))
        let high = Double(Float(0.1)) > 0.1 ? Double(Float(0.1).nextDown) : Double(Float(0.1))
        #expect(specs.observation.entries == ["x_x", "x_y", "a"])
        #expect(specs.observation.low.prefix(2).allSatisfy { $0 == low && $0 >= -0.1 })
        #expect(specs.observation.high.prefix(2).allSatisfy { $0 == high && $0 <= 0.1 })
        #expect(specs.action.low == [Double(Float(-0.1))] && specs.action.high == [Double(Float(0.1))])
    }
}
