import Foundation
import Testing

@testable import MetaSimCore

/// The catalog's hidden-task families (docs/worlds.md, "Hidden-task families"): worlds whose task
/// changes the right behaviour but is not in the observation. For each: it loads from the catalog,
/// its hidden parameters are family parameters, and two tasks that differ only in them start from
/// the same observation (given the same episode draws) while the same actions earn different
/// returns. Plus each family's own property (cheetah-dir's reward is antisymmetric in the
/// direction, the discrete mirrored lander permutes its actions, a steering offset of 0 is
/// lane-keep, a feedback controller without the offset pays for it).
@Suite("Hidden-task worlds")
struct HiddenTaskWorldTests {
    /// A family: its catalog name, two values of its hidden parameters, and whether the hidden
    /// parameters change the dynamics (else only the reward).
    struct Family: Sendable, CustomTestStringConvertible {
        let name: String
        let a: [String: Double]
        let b: [String: Double]
        let dynamics: Bool
        var testDescription: String { name }
    }

    static let families: [Family] = [
        Family(name: "reacher-goal", a: ["goal_u": 0.8, "goal_v": 0.8], b: ["goal_u": -0.8, "goal_v": -0.8], dynamics: false),
        Family(name: "cheetah-dir", a: ["direction": 1], b: ["direction": -1], dynamics: false),
        Family(name: "lunar-lander-mirrored", a: ["side_sign": 1], b: ["side_sign": -1], dynamics: true),
        Family(name: "lunar-lander-mirrored-discrete", a: ["side_sign": 1], b: ["side_sign": -1], dynamics: true),
        Family(name: "lane-keep-lane", a: ["target_lane": -1], b: ["target_lane": 1], dynamics: false),
        Family(name: "lane-keep-speed", a: ["target_speed": 10], b: ["target_speed": 26], dynamics: false),
        Family(name: "lane-keep-reversed", a: ["steer_sign": 1], b: ["steer_sign": -1], dynamics: true),
        Family(name: "lane-keep-pull", a: ["pull_side": -1, "pull_angle": 0.2], b: ["pull_side": 1, "pull_angle": 0.2], dynamics: true),
    ]

    static func load(_ name: String) throws -> WorldDefinition {
        try WorldCatalog.resolve(name, root: TestSupport.worldsRoot)
    }

    // MARK: The same episode draws for two tasks

    /// The episode seed that gives a world of task identity `identity` the same episode draws
    /// (terrain, road, initial noise) as episode `seed` of a world of task identity `reference`.
    /// An episode's draws come from SplitMix64.mix(task identity, episode seed) (World+Build), so
    /// tasks that differ only in a hidden parameter draw different episodes from the same seed;
    /// this inverts `mix` for its second argument (every step of it is a bijection on UInt64).
    static func episodeSeed(for identity: UInt64, matching seed: UInt64, of reference: UInt64) -> UInt64 {
        let target = SplitMix64.mix(reference, seed)
        let golden: UInt64 = 0x9E37_79B9_7F4A_7C15
        // mix(a, b): state = K ^ a; o1 = next(); state ^= b; result = next() ^ (o1 &* P).
        var first = SplitMix64(state: 0x6A09_E667_F3BC_C908 ^ identity)
        let o1 = first.next()
        let s1 = first.state
        let s2 = unfinalize(target ^ (o1 &* 0x100_0000_01B3))
        return (s2 &- golden) ^ s1
    }

    /// The inverse of SplitMix64's output function z -> out.
    static func unfinalize(_ out: UInt64) -> UInt64 {
        func unshift(_ y: UInt64, _ s: UInt64) -> UInt64 {
            var x = y
            for _ in 0..<(64 / Int(s) + 1) { x = y ^ (x >> s) }
            return x
        }
        func inverse(_ c: UInt64) -> UInt64 {
            var x = c  // Newton's iteration for the inverse of an odd number modulo 2^64
            for _ in 0..<6 { x = x &* (2 &- c &* x) }
            return x
        }
        var z = unshift(out, 31)
        z = z &* inverse(0x94D0_49BB_1331_11EB)
        z = unshift(z, 27)
        z = z &* inverse(0xBF58_476D_1CE4_E5B9)
        return unshift(z, 30)
    }

    @Test("the episode seed helper gives the same episode stream seed")
    func episodeSeedHelper() {
        for (a, b, s): (UInt64, UInt64, UInt64) in [(1, 2, 3), (0xDEAD_BEEF, 0x1234_5678_9ABC, 5), (.max, 0, .max)] {
            let matched = Self.episodeSeed(for: b, matching: s, of: a)
            #expect(SplitMix64.mix(b, matched) == SplitMix64.mix(a, s))
        }
    }

    /// Two worlds of `definition` whose tasks differ only in `a` vs `b` (the rest drawn from task
    /// seed 7), reset to the same episode draws.
    static func pair(_ definition: WorldDefinition, _ a: [String: Double], _ b: [String: Double],
                     seed: UInt64 = 5) throws -> (World, World, [Float], [Float]) {
        let taskA = try definition.sampleTask(seed: 7, overrides: a)
        let taskB = try definition.sampleTask(seed: 7, overrides: b)
        let changed = zip(taskA.names, zip(taskA.values, taskB.values)).filter { $1.0 != $1.1 }.map(\.0)
        #expect(Set(changed).isSubset(of: Set(a.keys).union(b.keys).union(["STEER_OFFSET", "TARGET_OFFSET"])),
                "the tasks differ in \(changed)")
        let worldA = try World(definition: definition, task: taskA)
        let worldB = try World(definition: definition, task: taskB)
        let firstA = worldA.reset(seed: seed)
        let firstB = worldB.reset(seed: episodeSeed(for: taskB.identity, matching: seed, of: taskA.identity))
        return (worldA, worldB, firstA, firstB)
    }

    /// A fixed action sequence within the world's action space (continuous: a deterministic
    /// pseudo-random walk over the bounds; discrete: indices).
    static func actions(_ specs: WorldSpecs, count: Int) -> [[Float]] {
        (0..<count).map { i in
            if let n = specs.discreteActions { return [Float((i * 7 + i / 3) % n)] }
            return (0..<specs.action.count).map { j in
                let u = 0.5 + 0.5 * sin(Double(i) * 0.37 + Double(j) * 1.91 + Double(i * j) * 0.13)
                return Float(specs.action.low[j] + u * (specs.action.high[j] - specs.action.low[j]))
            }
        }
    }

    /// Steps the same actions in both worlds (while neither episode has ended): the observations
    /// and rewards of each.
    static func run(_ a: World, _ b: World, _ actions: [[Float]]) -> (obsA: [[Float]], obsB: [[Float]], retA: Double, retB: Double) {
        var obsA: [[Float]] = [], obsB: [[Float]] = []
        var retA = 0.0, retB = 0.0
        for action in actions {
            let ra = a.step(action), rb = b.step(action)
            obsA.append(a.observation); obsB.append(b.observation)
            retA += ra.reward; retB += rb.reward
            if ra.terminated || ra.truncated || rb.terminated || rb.truncated { break }
        }
        return (obsA, obsB, retA, retB)
    }

    // MARK: Every family

    @Test("a hidden-task world loads from the catalog; its hidden parameters are family parameters, not observations",
          arguments: families)
    func loads(family: Family) throws {
        let path = try #require(TestSupport.catalogPath(named: family.name), "no catalog world \(family.name)")
        let d = try Self.load(family.name)
        #expect(d.name == family.name)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("\nextends: "), "a variant of a catalog world")
        let hidden = Set(family.a.keys)
        #expect(hidden.isSubset(of: Set(d.familyParameters.map(\.name))), "\(d.familyParameters.map(\.name))")
        let world = try World(definition: d, task: d.nominalTask())
        #expect(Set(world.specs.observation.entries).isDisjoint(with: hidden))
    }

    @Test("two tasks that differ only in the hidden parameter start alike; the same actions earn different returns",
          arguments: families)
    func hiddenButPays(family: Family) throws {
        let d = try Self.load(family.name)
        let (a, b, firstA, firstB) = try Self.pair(d, family.a, family.b)
        #expect(firstA == firstB, "the first observation shows the hidden parameter")
        let (obsA, obsB, retA, retB) = Self.run(a, b, Self.actions(a.specs, count: 120))
        #expect(obsA.count >= 10, "episodes of \(obsA.count) steps")
        #expect(abs(retA - retB) > 1e-3 * max(1, abs(retA)), "returns \(retA) and \(retB)")
        if family.dynamics {
            #expect(obsA != obsB, "the hidden parameter changes no observation")
        } else {
            #expect(obsA == obsB, "a reward-only hidden parameter changed the dynamics")
        }
    }

    // MARK: Each family's own property

    @Test("cheetah-dir: the direction negates the running reward, the control cost stays")
    func cheetahDirection() throws {
        let d = try Self.load("cheetah-dir")
        let (a, b, _, _) = try Self.pair(d, ["direction": 1], ["direction": -1])
        let start = a.required("torso.x")
        let actions = Self.actions(a.specs, count: 200)
        let (obsA, _, forward, backward) = Self.run(a, b, actions)
        let control = -0.05 * actions.prefix(obsA.count).reduce(0.0) { $0 + $1.reduce(0.0) { $0 + Double($1) * Double($1) } }
        // forward = F + C and backward = -F + C for the same F (running) and C (control).
        #expect(abs((forward + backward) - 2 * control) < 1e-6 * max(1, abs(control)), "\(forward) \(backward) \(control)")
        // F is the torso's displacement over the episode divided by dt (0.05 s).
        let run = (forward - backward) / 2
        #expect(abs(run) > 1, "the running reward is \(run)")
        #expect(abs(run - (a.required("torso.x") - start) / 0.05) < 1e-6 * max(1, abs(run)), "\(run)")
    }

    @Test("lunar-lander-mirrored-discrete: the mirror swaps actions 1 and 3 and leaves 0 and 2")
    func mirroredDiscretePermutes() throws {
        let d = try Self.load("lunar-lander-mirrored-discrete")
        #expect(d.actions.discrete == [[0, 0], [0, -1], [1, 0], [0, 1]])
        let (normal, mirrored, _, _) = try Self.pair(d, ["side_sign": 1], ["side_sign": -1])
        let indices = (0..<200).map { ($0 * 7 + $0 / 3) % 4 }
        let swapped = indices.map { [0, 3, 2, 1][$0] }
        var obsN: [[Float]] = [], obsM: [[Float]] = [], rewN: [Double] = [], rewM: [Double] = []
        for (i, j) in zip(indices, swapped) {
            let rn = normal.step([Float(j)]), rm = mirrored.step([Float(i)])
            obsN.append(normal.observation); obsM.append(mirrored.observation)
            rewN.append(rn.reward); rewM.append(rm.reward)
            if rn.terminated || rn.truncated || rm.terminated || rm.truncated { break }
        }
        #expect(obsN.count > 20)
        #expect(obsN == obsM && rewN == rewM, "the mirrored lander does not act as the normal one with 1 and 3 swapped")
    }

    @Test("lane-keep-pull: a steering offset of 0 drives exactly as lane-keep, bit for bit")
    func noPullIsLaneKeep() throws {
        let base = try Self.load("lane-keep")
        let pull = try Self.load("lane-keep-pull")
        let taskBase = try base.sampleTask(seed: 11)
        let overrides = ["max_curvature": taskBase["max_curvature"]!, "friction": taskBase["friction"]!, "pull_angle": 0]
        let taskPull = try pull.sampleTask(seed: 11, overrides: overrides)
        #expect(taskPull["STEER_OFFSET"] == 0)
        let a = try World(definition: base, task: taskBase)
        let b = try World(definition: pull, task: taskPull)
        let firstA = a.reset(seed: 3)
        let firstB = b.reset(seed: Self.episodeSeed(for: taskPull.identity, matching: 3, of: taskBase.identity))
        #expect(firstA == firstB)
        let (obsA, obsB, _, _) = Self.run(a, b, Self.actions(a.specs, count: 300))
        #expect(obsA.count > 50 && obsA == obsB, "(the rewards differ: lane-keep-pull's centring cost is linear)")
        // And an offset moves the car: the same actions with the pull give another trace.
        let pulled = try World(definition: pull, task: pull.sampleTask(seed: 11, overrides: overrides.merging(["pull_angle": 0.1]) { $1 }))
        _ = pulled.reset(seed: 3)
        #expect(Self.run(a, pulled, Self.actions(a.specs, count: 10)).obsB != obsA.prefix(10).map { $0 })
    }

    /// Mean |lateral offset| over steps 200..<600 of a lane-keep-pull road with gentle curves,
    /// the pull as given, under a PD controller on lateral offset and heading error (gains 2 and
    /// 5 per metre and radian: about the highest that hold the lane at every pull of the family)
    /// with a curvature feed-forward, with or without the feed-forward that cancels the pull.
    static func meanOffset(pullSide: Double, pullAngle: Double, feedForward: Bool) throws -> (offset: Double, steps: Int) {
        let d = try load("lane-keep-pull")
        let task = try d.nominalTask(overrides: ["pull_side": pullSide, "pull_angle": pullAngle, "max_curvature": 0.004])
        let world = try World(definition: d, task: task)
        var obs = world.reset(seed: 1)
        let offset = try #require(task["STEER_OFFSET"])
        var sum = 0.0, count = 0, steps = 0
        for t in 0..<600 {
            // obs: lateral_offset, heading_error, speed, curvature_near, curvature_far
            let y = Double(obs[0]), heading = Double(obs[1]), speed = Double(obs[2]), curvature = Double(obs[3])
            var steer = -2 * y - 5 * heading + 2.8 * curvature / 0.4
            if feedForward { steer -= offset / 0.4 }
            let throttle = speed < 20 ? 0.5 : 0.0
            let r = world.step([Float(max(-1, min(1, steer))), Float(throttle), 0])
            obs = world.observation
            steps += 1
            if t >= 200 { sum += abs(Double(obs[0])); count += 1 }
            if r.terminated || r.truncated { break }
        }
        return (count > 0 ? sum / Double(count) : .infinity, steps)
    }

    @Test("lane-keep-pull: a feedback controller that does not know the pull holds the car off centre; one told it does not")
    func pullCostsABlindController() throws {
        for side in [-1.0, 1.0] {
            for angle in [0.1, 0.25] {
                let blind = try Self.meanOffset(pullSide: side, pullAngle: angle, feedForward: false)
                let told = try Self.meanOffset(pullSide: side, pullAngle: angle, feedForward: true)
                #expect(told.steps == 600 && told.offset < 0.05, "told the pull: \(told)")
                // Steady state without the pull's feed-forward: y = angle / (MAX_STEER * 2).
                #expect(blind.steps == 600 && abs(blind.offset - angle / 0.8) < 0.25 * angle / 0.8, "blind \(blind)")
                #expect(blind.offset > 3 * told.offset, "blind \(blind), told \(told)")
            }
        }
    }

    /// Steps lane-keep-reversed's nominal road (gentle curves) under the PD controller of
    /// `meanOffset`, its steer multiplied by `flip`: the steps it stays in the lane (of 600).
    static func stepsInLane(sign: Double, flip: Double) throws -> Int {
        let d = try load("lane-keep-reversed")
        let world = try World(definition: d, task: d.nominalTask(overrides: ["steer_sign": sign, "max_curvature": 0.004]))
        var obs = world.reset(seed: 1)
        for t in 0..<600 {
            let y = Double(obs[0]), heading = Double(obs[1]), speed = Double(obs[2]), curvature = Double(obs[3])
            let steer = flip * (-2 * y - 5 * heading + 2.8 * curvature / 0.4)
            let r = world.step([Float(max(-1, min(1, steer))), Float(speed < 20 ? 0.5 : 0.0), 0])
            obs = world.observation
            if r.terminated || r.truncated { return t + 1 }
        }
        return 600
    }

    @Test("lane-keep-reversed: the controller that keeps the lane leaves it when the steering is reversed, unless told")
    func reversedSteering() throws {
        #expect(try Self.stepsInLane(sign: 1, flip: 1) == 600)
        let blind = try Self.stepsInLane(sign: -1, flip: 1)
        #expect(blind < 100, "reversed, not told: \(blind) steps in the lane")
        #expect(try Self.stepsInLane(sign: -1, flip: -1) == 600)
    }

    @Test("lane-keep-pull: a pull beyond max_steer is an error for that task, at the steer_offset line")
    func pullBeyondMaxSteer() throws {
        let d = try Self.load("lane-keep-pull")
        let task = try d.nominalTask(overrides: ["pull_angle": 0.5])
        #expect {
            _ = try WorldProgram(definition: d, task: task)
        } throws: { error in
            guard let e = error as? WorldError, case .invalid(let diagnostics) = e, let x = diagnostics.first else { return false }
            return diagnostics.count == 1 && x.file.hasSuffix("lane-keep-pull.yaml") && x.keyPath == "actions[0].steer_offset"
                && x.message.contains("must be at most max_steer (0.4 rad), found 0.5")
        }
    }
}
