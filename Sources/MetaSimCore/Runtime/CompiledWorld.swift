import Foundation

/// The per-step program of a world, compiled once per task and shared by all its instances:
/// where every named quantity lives in the signal vector, how each observation entry, reward term,
/// termination and disturbance is computed. The step loop walks these flat tables.
final class CompiledWorld: Sendable {
    /// The definition with resolved scalars (`WorldProgram.resolved`).
    let resolved: WorldDefinition
    let names: [String]
    let slot: [String: Int]

    // Signal layout.
    let bodyBase: Int              // 8 slots per dynamic body: x y angle vx vy w awake contact
    let dynamicBodies: [Int]       // index in spec.bodies of each dynamic/kinematic body
    let dynamicIndex: [String: Int]
    let jointSlots: [(value: Int, speed: Int)?] // per joint in spec order
    let actionBase: Int
    let effortBase: Int
    let observationBase: Int
    let goalBase: Int?
    let trackBase: Int?
    let tSlot: Int, dtSlot: Int

    // Actions.
    let actionCount: Int
    let actionLow: [Float]
    let actionHigh: [Float]
    /// Per action entry, its actuator's `gain` (commands = gain × action); nil when every gain is 1.
    let actionGain: [Float]?
    let discrete: [[Float]]?
    let resetAction: [Float]

    // Observations.
    enum Source: Sendable {
        case signal(Int)
        case cos(Int), sin(Int)
        case bodyVelocity(body: Int, component: Int)     // body-frame velocity (0 forward-x, 1 y)
        case lidarRay(Int)                               // index within the lidar section
        case contactSensor(Int)                          // index among observation contact sensors
        case goalVector(body: Int, component: Int, bodyFrame: Bool)
        case goalDistance(body: Int)
        case curvatureAhead(distance: Double)
        case expression(Int)
    }
    let sources: [Source]
    let scale: [Double], offset: [Double]
    let low: [Double], high: [Double]
    let clip: [Bool]

    // Reward.
    enum RewardOp: Sendable {
        case expression(Int)
        case potential(Int, prev: Int)
        case progress(Int, prev: Int)
        case distance(x: Int, y: Int, tx: Double, ty: Double, goal: Bool)
        case alive
        case actionCost(norm: Int)
        case speedTracking(Int, target: Double)
        case contact(Int)
    }
    let rewardOps: [(op: RewardOp, weight: Double, name: String)]
    let potentialCount: Int

    // Termination.
    enum Condition: Sendable {
        case flag(Int, when: Double)                      // signal == when
        case outOfBounds(x: Int, y: Int, xr: ClosedRange<Double>?, yr: ClosedRange<Double>?)
        case goal(body: Int, radius: Double, angleTolerance: Double?)
        case offTrack(limitExtra: Double)
        case expression(Int)
    }
    let terminations: [(condition: Condition, truncate: Bool, reward: Double?, replace: Bool, name: String)]

    // Disturbances.
    enum DisturbanceOp: Sendable {
        case wind(power: Double, turbulence: Double, pause: Int?)
        case force(fx: Int, fy: Int, torque: Int?, when: Int?)
    }
    let disturbances: [DisturbanceOp]
    let expressions: [CompiledExpression]

    /// The body the `track.*` quantities follow (`place: track-start`, else the first dynamic body).
    let trackBody: Int?

    init(program: WorldProgram) throws(WorldError) {
        let spec = program.resolved
        self.resolved = spec
        names = spec.stepVariableNames()
        var slot: [String: Int] = [:]
        for (i, n) in names.enumerated() where slot[n] == nil { slot[n] = i }
        self.slot = slot
        tSlot = slot["t"]!
        dtSlot = slot["dt"]!

        var dyn: [Int] = []
        var dynIndex: [String: Int] = [:]
        for (i, b) in spec.bodies.enumerated() where b.type != .static {
            dynIndex[b.name] = dyn.count
            dyn.append(i)
        }
        dynamicBodies = dyn
        dynamicIndex = dynIndex
        let bodyBase = spec.parameters.count + 2
        self.bodyBase = bodyBase
        jointSlots = spec.joints.map { j in
            switch j.type {
            case .revolute: return (slot["\(j.name).angle"]!, slot["\(j.name).speed"]!)
            case .prismatic, .wheel: return (slot["\(j.name).position"]!, slot["\(j.name).speed"]!)
            case .weld, .distance: return nil
            }
        }
        let entryNames = spec.actions.actuators.flatMap(\.entryNames)
        actionBase = entryNames.first.map { slot["action.\($0)"]! } ?? 0
        effortBase = spec.actions.actuators.first.map { slot["\($0.name).effort"]! } ?? 0
        let obsEntries = spec.observations.flatMap(\.entryNames)
        observationBase = obsEntries.first.map { slot[$0]! } ?? 0
        goalBase = spec.goal == nil ? nil : slot["goal.x"]
        trackBase = spec.track == nil ? nil : slot["track.progress"]
        trackBody = spec.track == nil ? nil
            : (spec.bodies.firstIndex { $0.placeOnTrack }.flatMap { i in dyn.firstIndex(of: i) } ?? (dyn.isEmpty ? nil : 0))

        actionCount = entryNames.count
        actionLow = spec.actions.actuators.flatMap(\.low).map(Float.init)
        actionHigh = spec.actions.actuators.flatMap(\.high).map(Float.init)
        let gains = spec.actions.actuators.flatMap { a in a.entryNames.map { _ in Float(a.gain) } }
        actionGain = gains.allSatisfy { $0 == 1 } ? nil : gains
        discrete = spec.actions.discrete.map { $0.map { $0.map(Float.init) } }
        if let r = spec.episode.resetAction { resetAction = r.map(Float.init) }
        else { resetAction = [Float](repeating: 0, count: discrete == nil ? actionCount : 1) }

        var expressions: [CompiledExpression] = []
        func compile(_ e: Expression, _ origin: Origin) throws(WorldError) -> Int {
            do {
                expressions.append(try e.compile { slot[$0] })
            } catch {
                throw WorldError.invalid([origin.diagnostic(error.description)])
            }
            return expressions.count - 1
        }
        func lit(_ s: Scalar) -> Double { s.literalValue ?? 0 }
        func bodySlot(_ name: String?, _ field: Int) -> Int {
            bodyBase + 8 * (name.flatMap { dynIndex[$0] } ?? 0) + field
        }

        // Observations.
        var sources: [Source] = []
        var scale: [Double] = [], offset: [Double] = [], low: [Double] = [], high: [Double] = [], clip: [Bool] = []
        var lidarRay = 0, contactIndex = 0
        for o in spec.observations {
            let b = o.body.flatMap { dynIndex[$0] } ?? 0
            var entry: [Source] = []
            switch o.type {
            case .position:
                entry = o.quantity == "xy" ? [.signal(bodySlot(o.body, 0)), .signal(bodySlot(o.body, 1))]
                    : [.signal(bodySlot(o.body, o.quantity == "y" ? 1 : 0))]
            case .angle:
                let s = bodySlot(o.body, 2)
                entry = o.encoding == "cos-sin" ? [.cos(s), .sin(s)] : [.signal(s)]
            case .velocity:
                let comps = o.quantity == "xy" ? [0, 1] : [o.quantity == "y" ? 1 : 0]
                entry = comps.map { o.frame == "body" ? .bodyVelocity(body: b, component: $0) : .signal(bodySlot(o.body, 3 + $0)) }
            case .angularVelocity:
                entry = [.signal(bodySlot(o.body, 5))]
            case .jointAngle, .jointSpeed:
                let ji = spec.joints.firstIndex { $0.name == o.joint }!
                let s = o.type == .jointAngle ? jointSlots[ji]!.value : jointSlots[ji]!.speed
                entry = (o.type == .jointAngle && o.encoding == "cos-sin") ? [.cos(s), .sin(s)] : [.signal(s)]
            case .lidar:
                entry = (0..<o.rays).map { _ in defer { lidarRay += 1 }; return .lidarRay(lidarRay) }
            case .contact:
                entry = [.contactSensor(contactIndex)]
                contactIndex += 1
            case .goalVector:
                entry = [0, 1].map { .goalVector(body: b, component: $0, bodyFrame: o.frame == "body") }
            case .goalDistance:
                entry = [.goalDistance(body: b)]
            case .track:
                let base = slot["track.progress"]!
                switch o.quantity {
                case "progress": entry = [.signal(base)]
                case "lateral": entry = [.signal(base + 1)]
                case "heading": entry = [.signal(base + 2)]
                case "speed": entry = [.signal(base + 3)]
                default: entry = [.curvatureAhead(distance: max(lit(o.lookahead), 1))]
                }
            case .expression:
                entry = [.expression(try compile(o.expression!, o.origin))]
            }
            for e in entry {
                sources.append(e)
                scale.append(lit(o.scale)); offset.append(lit(o.offset))
                low.append(lit(o.low)); high.append(lit(o.high)); clip.append(o.clip)
            }
        }
        self.sources = sources
        self.scale = scale; self.offset = offset; self.clip = clip
        self.low = low.map(WorldSpecs.float32Low)
        self.high = high.map(WorldSpecs.float32High)

        // Reward.
        var ops: [(RewardOp, Double, String)] = []
        var potentials = 0
        for t in spec.reward {
            let w = lit(t.weight)
            let axisField = t.axis == "y" ? 1 : 0
            switch t.type {
            case .expression:
                ops.append((.expression(try compile(t.expression!, t.origin)), w, t.name))
            case .potential:
                ops.append((.potential(try compile(t.expression!, t.origin), prev: potentials), w, t.name)); potentials += 1
            case .progress:
                let s = t.useTrack ? slot["track.distance"]! : bodySlot(t.body, axisField)
                ops.append((.progress(s, prev: potentials), w, t.name)); potentials += 1
            case .distance:
                let tx = t.target.count == 2 ? lit(t.target[0]) : 0, ty = t.target.count == 2 ? lit(t.target[1]) : 0
                ops.append((.distance(x: bodySlot(t.body, 0), y: bodySlot(t.body, 1), tx: tx, ty: ty, goal: t.target.isEmpty), w, t.name))
            case .alive:
                ops.append((.alive, w, t.name))
            case .actionCost:
                ops.append((.actionCost(norm: t.norm == "l2" ? 2 : t.norm == "l1" ? 1 : 0), w, t.name))
            case .speedTracking:
                let s = t.useTrack ? slot["track.speed"]! : bodySlot(t.body, 3 + axisField)
                ops.append((.speedTracking(s, target: t.target.first.map(lit) ?? 0), w, t.name))
            case .contact:
                ops.append((.contact(bodySlot(t.body, 7)), w, t.name))
            }
        }
        rewardOps = ops.map { (op: $0.0, weight: $0.1, name: $0.2) }
        potentialCount = potentials

        // Termination.
        var terms: [(Condition, Bool, Double?, Bool, String)] = []
        for t in spec.termination {
            let c: Condition
            switch t.condition {
            case .contact(let b): c = .flag(bodySlot(b, 7), when: 1)
            case .asleep(let b): c = .flag(bodySlot(b, 6), when: 0)
            case .outOfBounds(let b, let x, let y):
                func range(_ v: [Scalar]?) -> ClosedRange<Double>? {
                    guard let v, v.count == 2 else { return nil }
                    return min(lit(v[0]), lit(v[1]))...max(lit(v[0]), lit(v[1]))
                }
                c = .outOfBounds(x: bodySlot(b, 0), y: bodySlot(b, 1), xr: range(x), yr: range(y))
            case .goalReached(let b):
                c = .goal(body: dynIndex[b] ?? 0, radius: lit(spec.goal!.radius), angleTolerance: spec.goal!.angleTolerance.map(lit))
            case .offTrack(_, let m): c = .offTrack(limitExtra: lit(m))
            case .expression(let e): c = .expression(try compile(e, t.origin))
            }
            terms.append((c, t.truncate, t.reward.map(lit), t.rewardMode == "replace", t.name))
        }
        terminations = terms.map { (condition: $0.0, truncate: $0.1, reward: $0.2, replace: $0.3, name: $0.4) }

        // Disturbances.
        var dist: [DisturbanceOp] = []
        for d in spec.disturbances {
            switch d.type {
            case .wind:
                dist.append(.wind(power: lit(d.power), turbulence: lit(d.turbulence),
                                  pause: try d.pause.map { e throws(WorldError) in try compile(e, d.origin) }))
            case .force:
                dist.append(.force(fx: try compile(d.force[0], d.origin), fy: try compile(d.force[1], d.origin),
                                   torque: try d.torque.map { e throws(WorldError) in try compile(e, d.origin) },
                                   when: try d.when.map { e throws(WorldError) in try compile(e, d.origin) }))
            }
        }
        disturbances = dist
        self.expressions = expressions
    }

    var observationCount: Int { sources.count }
}
