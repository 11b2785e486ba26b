import Foundation
import Testing

@testable import MetaSimCore

/// A world is a pure function of (file, task, episode seed, actions): same inputs, same bits,
/// whatever ran before and however a batch is split across threads.
@Suite("Determinism")
struct DeterminismTests {
    /// A small world that always exists: random task parameters, random initial state per
    /// episode, a horizon short enough that 300 steps cross several episode boundaries.
    static let inlineWorld = """
    name: determinism_fallback
    parameters:
      gravity: {uniform: [-12, -6]}
      push_scale: {uniform: [0.5, 2]}
    simulation:
      timestep: 1 / 60
      gravity: [0, gravity]
    episode:
      horizon: 40
    bodies:
      ground:
        type: static
        shapes:
          - box: {half_extents: [10, 0.5]}
      box:
        position: [{uniform: [-2, 2]}, {uniform: [1, 3]}]
        angle: {uniform: [-0.5, 0.5]}
        velocity: [{normal: {mean: 0, std: 1}}, 0]
        shapes:
          - box: {half_extents: [0.3, 0.2]}
            density: 1
            friction: 0.6
            restitution: 0.3
      ball:
        position: [{uniform: [-2, 2]}, 4]
        shapes:
          - circle: {radius: 0.25}
            density: 0.5
    actions:
      - name: push_x
        type: force
        body: box
        max_force: 20 * push_scale
        direction: [1, 0]
        frame: world
      - name: spin
        type: force
        body: ball
        max_force: 5
        point: [0, 0.25]
    observations:
      - name: box_pos
        type: position
        body: box
        axis: xy
      - name: box_angle
        type: angle
        body: box
        encoding: cos-sin
      - name: ball_v
        type: velocity
        body: ball
        axis: xy
      - name: box_contact
        type: contact
        body: box
    reward:
      - name: height
        type: expression
        value: box_pos_y - 0.1 * abs(box_pos_x)
      - name: effort
        type: action-cost
        weight: -0.01
    termination:
      - name: fell_off
        type: out-of-bounds
        body: ball
        x: [-6, 6]
        y: [-1, 20]
    """

    static let inlineName = "inline-fallback"

    /// Catalog worlds to check when they exist, plus the inline world (always).
    static let subjects: [String] = ["lunar-lander", "bipedal-walker"].filter { TestSupport.catalogPath(named: $0) != nil }
        + [inlineName]

    static func definition(_ subject: String) throws -> WorldDefinition {
        if subject == inlineName { return try TestSupport.parse(inlineWorld, file: "determinism_fallback.yaml") }
        let path = try #require(TestSupport.catalogPath(named: subject))
        return try WorldDefinition.load(contentsOfFile: path)
    }

    /// Everything one run produced, as bit patterns.
    struct Trace: Equatable {
        var observations: [UInt32] = []
        var rewards: [UInt64] = []
        var ends: [String] = []
        var episodes = 0

        mutating func record(_ observation: [Float]) { observations += observation.map(\.bitPattern) }
    }

    /// Random actions from a policy seed (reproducible, independent of any world).
    static func actions(_ specs: WorldSpecs, count: Int, seed: UInt64) -> [[Float]] {
        var policy = BaselinePolicy(.random, specs: specs, seed: seed)
        return (0..<count).map { _ in policy.act() }
    }

    /// Runs `actions` from `reset(seed:)`, resetting (next episode seed) whenever an episode ends.
    static func run(_ world: World, seed: UInt64, actions: [[Float]]) -> Trace {
        var trace = Trace()
        trace.record(world.reset(seed: seed))
        for a in actions {
            let r = world.step(a)
            trace.record(world.observation)
            trace.rewards.append(r.reward.bitPattern)
            trace.ends.append(r.end?.description ?? "")
            if r.terminated || r.truncated {
                trace.episodes += 1
                trace.record(world.reset())
            }
        }
        return trace
    }

    @Test("same world, task, seed and actions give bit-identical observations and rewards", arguments: subjects)
    func repeatRunsAreIdentical(subject: String) throws {
        let definition = try Self.definition(subject)
        let task = try definition.sampleTask(seed: 7)
        let a = try World(definition: definition, task: task)
        let b = try World(definition: definition, task: try definition.sampleTask(seed: 7))
        let actions = Self.actions(a.specs, count: 300, seed: 11)
        let first = Self.run(a, seed: 42, actions: actions)
        let second = Self.run(b, seed: 42, actions: actions)
        #expect(first.observations.count == 301 * a.observationCount + first.episodes * a.observationCount)
        #expect(first == second)
        // Also on the same instance, run again.
        let third = Self.run(a, seed: 42, actions: actions)
        #expect(first == third)
        // And the inputs matter: another episode seed gives another run.
        let other = Self.run(b, seed: 43, actions: actions)
        #expect(other.observations != first.observations)
    }

    @Test("reset(seed:) after a different history gives the same episode as a fresh instance", arguments: subjects)
    func resetForgetsHistory(subject: String) throws {
        let definition = try Self.definition(subject)
        let task = try definition.sampleTask(seed: 3)
        let used = try World(definition: definition, task: task)
        // Some history: other episodes, other actions, an episode cut short.
        _ = Self.run(used, seed: 5, actions: Self.actions(used.specs, count: 120, seed: 99))
        used.reset(seed: 6)
        for a in Self.actions(used.specs, count: 17, seed: 98) where used.episodeEnd == nil { _ = used.step(a) }

        let fresh = try World(definition: definition, task: task)
        let actions = Self.actions(fresh.specs, count: 200, seed: 12)
        let expected = Self.run(fresh, seed: 77, actions: actions)
        let got = Self.run(used, seed: 77, actions: actions)
        #expect(got == expected)
        #expect(used.episodeSeed == fresh.episodeSeed)
    }

    /// Steps a batch for `steps` steps with per-instance actions (a function of the instance and
    /// step), recording everything the batch exposes.
    static func runBatch(_ batch: WorldBatch, steps: Int, actions: [[[Float]]]) -> (Trace, [Trace]) {
        var all = Trace()
        var perInstance = [Trace](repeating: Trace(), count: batch.count)
        let n = batch.observationCount
        for i in 0..<batch.count {
            perInstance[i].record(Array(batch.observations[(i * n)..<((i + 1) * n)]))
        }
        for s in 0..<steps {
            for i in 0..<batch.count {
                for (k, v) in actions[i][s].enumerated() { batch.actions[i * batch.actionCount + k] = v }
            }
            batch.step()
            all.record(Array(batch.observations))
            for i in 0..<batch.count {
                let obs = Array(batch.observations[(i * n)..<((i + 1) * n)])
                perInstance[i].rewards.append(batch.rewards[i].bitPattern)
                let ended = batch.terminated[i] != 0 || batch.truncated[i] != 0
                if ended {
                    perInstance[i].episodes += 1
                    perInstance[i].record(Array(batch.finalObservations[(i * n)..<((i + 1) * n)]))
                    perInstance[i].ends.append("end")
                } else {
                    perInstance[i].ends.append("")
                }
                perInstance[i].record(obs)
                all.rewards.append(batch.rewards[i].bitPattern)
                all.ends.append("\(batch.terminated[i])\(batch.truncated[i])")
            }
        }
        return (all, perInstance)
    }

    @Test("WorldBatch: 1, 2 or 3 threads and individual instances give identical outputs over 300 steps", arguments: subjects)
    func batchesAreThreadIndependent(subject: String) throws {
        let definition = try Self.definition(subject)
        let program = try WorldProgram(definition: definition, task: try definition.sampleTask(seed: 21))
        let count = 4, steps = 300, batchSeed: UInt64 = 1234
        let one = try WorldBatch(program: program, count: count, threads: 1, seed: batchSeed)
        let two = try WorldBatch(program: program, count: count, threads: 2, seed: batchSeed)
        let three = try WorldBatch(program: program, count: count, threads: 3, seed: batchSeed)
        #expect(two.threads == 2 && three.threads == 3)
        let actions = (0..<count).map { i in Self.actions(one.specs, count: steps, seed: 500 + UInt64(i)) }

        let (r1, p1) = Self.runBatch(one, steps: steps, actions: actions)
        let (r2, _) = Self.runBatch(two, steps: steps, actions: actions)
        let (r3, _) = Self.runBatch(three, steps: steps, actions: actions)
        #expect(r1 == r2)
        #expect(r1 == r3)

        // The same instances stepped one by one, each from WorldBatch.episodeSeed(batchSeed:instance:),
        // resetting to the next episode seed whenever an episode ends.
        for i in 0..<count {
            let world = try World(program: program)
            var trace = Trace()
            trace.record(world.reset(seed: WorldBatch.episodeSeed(batchSeed: batchSeed, instance: i)))
            for s in 0..<steps {
                let r = world.step(actions[i][s])
                trace.rewards.append(r.reward.bitPattern)
                if r.terminated || r.truncated {
                    trace.episodes += 1
                    trace.record(world.observation)   // the batch's finalObservations
                    trace.ends.append("end")
                    trace.record(world.reset())
                } else {
                    trace.ends.append("")
                    trace.record(world.observation)
                }
            }
            #expect(trace == p1[i], "instance \(i) differs from its batch run")
        }

        // Auto-reset was exercised: the fallback world's horizon is 40 steps.
        if subject == Self.inlineName {
            #expect(p1.allSatisfy { $0.episodes >= 7 }, "episodes: \(p1.map(\.episodes))")
        }
        // Instances are distinct episodes, not copies.
        #expect(p1[0].observations != p1[1].observations)
    }

    @Test("sampleTask(seed:) is deterministic and different seeds give different tasks", arguments: subjects)
    func taskSampling(subject: String) throws {
        let definition = try Self.definition(subject)
        let family = definition.familyParameters
        try #require(!family.isEmpty, "\(subject) has no random task parameters")
        var seen: Set<[UInt64]> = []
        for seed: UInt64 in 0..<20 {
            let a = try definition.sampleTask(seed: seed)
            let b = try definition.sampleTask(seed: seed)
            #expect(a.values.map(\.bitPattern) == b.values.map(\.bitPattern))
            #expect(a == b && a.identity == b.identity && a.seed == seed)
            // Each random parameter lies in its distribution's support.
            for p in family {
                let v = try #require(a[p.name])
                if case .random(let d) = p.value.kind, let support = d.support {
                    #expect(support.contains(v), "\(p.name) = \(v) outside \(d.summary)")
                }
            }
            let randomValues = family.map { a[$0.name]!.bitPattern }
            #expect(seen.insert(randomValues).inserted, "seed \(seed) repeats an earlier task")
        }
        #expect(try definition.sampleTask(seed: 1).identity != definition.sampleTask(seed: 2).identity)
        // The nominal task is deterministic too and has no seed.
        let n1 = try definition.nominalTask(), n2 = try definition.nominalTask()
        #expect(n1 == n2 && n1.seed == nil)
    }
}
