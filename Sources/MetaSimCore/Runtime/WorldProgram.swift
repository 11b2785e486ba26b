/// A world definition specialised to one task: every expression evaluated with the task's
/// parameter values, leaving literals and the distributions drawn per episode. Immutable and
/// shared by every instance of the task (a batch of N instances holds one program).
public final class WorldProgram: Sendable {
    public let definition: WorldDefinition
    public let task: WorldTask
    /// The definition with every scalar resolved for the task: literals, and the distributions
    /// drawn per episode.
    public let resolved: WorldDefinition
    /// What one instance costs (estimated before any is built; see `WorldCost`).
    public let cost: WorldCost
    /// The task's observation and action specs, known without building a Box2D world.
    public let specs: WorldSpecs
    /// Parameter name -> index in `task.values` (constant-time lookups for every instance).
    private let parameterIndex: [String: Int]

    /// Resolves the definition for the task. Throws when a value is out of its range for this
    /// task (a count beyond `WorldLimits`, a negative size from a parameter override...) or
    /// when one instance would be too large: nothing is built for such a task.
    public init(definition: WorldDefinition, task: WorldTask) throws(WorldError) {
        self.definition = definition
        self.task = task
        var index: [String: Int] = [:]
        index.reserveCapacity(task.names.count)
        for (i, n) in task.names.enumerated() where index[n] == nil { index[n] = i }
        let values = task.values
        let lookup: (String) -> Double? = { index[$0].map { values[$0] } }
        var r = Resolver(lookup: lookup)
        self.resolved = try r.resolve(definition)
        self.cost = try WorldCost(resolved: resolved)
        self.specs = WorldSpecs(resolved: resolved)
        self.parameterIndex = index
    }

    /// The task's value of a parameter.
    func parameter(_ name: String) -> Double? {
        parameterIndex[name].map { task.values[$0] }
    }

    public var name: String { definition.name }
}

/// Maps every scalar of a definition through `Scalar.resolved`.
private struct Resolver {
    let lookup: (String) -> Double?

    func s(_ x: Scalar) throws(WorldError) -> Scalar { try x.resolved(lookup) }
    func v(_ x: [Scalar]) throws(WorldError) -> [Scalar] {
        var out: [Scalar] = []
        out.reserveCapacity(x.count)
        for e in x { out.append(try s(e)) }
        return out
    }
    func o(_ x: Scalar?) throws(WorldError) -> Scalar? { if let x { return try s(x) } else { return nil } }
    func ov(_ x: [Scalar]?) throws(WorldError) -> [Scalar]? { if let x { return try v(x) } else { return nil } }

    mutating func resolve(_ d: WorldDefinition) throws(WorldError) -> WorldDefinition {
        var out = d
        out.simulation.timestep = try s(d.simulation.timestep)
        out.simulation.gravity = try v(d.simulation.gravity)
        out.bodies = []
        for b in d.bodies {
            var rb = b
            rb.position = try v(b.position)
            rb.angle = try s(b.angle)
            rb.velocity = try v(b.velocity)
            rb.angularVelocity = try s(b.angularVelocity)
            rb.linearDamping = try s(b.linearDamping)
            rb.angularDamping = try s(b.angularDamping)
            rb.gravityScale = try s(b.gravityScale)
            rb.initialForce = try ov(b.initialForce)
            rb.initialTorque = try o(b.initialTorque)
            rb.shapes = []
            for shape in b.shapes { rb.shapes.append(try resolve(shape)) }
            out.bodies.append(rb)
        }
        out.joints = []
        for j in d.joints {
            var rj = j
            rj.anchorA = try ov(j.anchorA)
            rj.anchorB = try ov(j.anchorB)
            rj.worldAnchor = try ov(j.worldAnchor)
            rj.axis = try v(j.axis)
            rj.referenceAngle = try o(j.referenceAngle)
            rj.limits = try ov(j.limits)
            rj.motorSpeed = try o(j.motorSpeed)
            rj.maxMotorEffort = try o(j.maxMotorEffort)
            rj.length = try o(j.length)
            rj.frequency = try o(j.frequency)
            rj.dampingRatio = try o(j.dampingRatio)
            rj.stiffness = try o(j.stiffness)
            rj.damping = try o(j.damping)
            out.joints.append(rj)
        }
        out.actions.actuators = []
        for a in d.actions.actuators {
            var ra = a
            ra.maxSpeed = try s(a.maxSpeed)
            ra.maxEffort = try s(a.maxEffort)
            ra.point = try v(a.point)
            ra.direction = try v(a.direction)
            ra.power = try s(a.power)
            ra.nozzle = try v(a.nozzle)
            ra.mount = try v(a.mount)
            ra.dispersion = try v(a.dispersion)
            ra.deadzone = try s(a.deadzone)
            ra.throttle = try v(a.throttle)
            var vehicle: [String: Scalar] = [:]
            for (k, x) in a.vehicle { vehicle[k] = try s(x) }
            ra.vehicle = vehicle
            out.actions.actuators.append(ra)
        }
        out.observations = []
        for o in d.observations {
            var ro = o
            ro.scale = try s(o.scale)
            ro.offset = try s(o.offset)
            ro.low = try s(o.low)
            ro.high = try s(o.high)
            ro.angles = try v(o.angles)
            ro.range = try s(o.range)
            ro.origin2 = try v(o.origin2)
            ro.lookahead = try s(o.lookahead)
            out.observations.append(ro)
        }
        if let g = d.goal {
            out.goal = GoalSpec(position: try v(g.position), angle: try o(g.angle), radius: try s(g.radius),
                                angleTolerance: try o(g.angleTolerance), origin: g.origin)
        }
        if let t = d.track {
            var rt = t
            rt.width = try s(t.width)
            rt.checkpoints = try s(t.checkpoints)
            rt.radius = try v(t.radius)
            rt.spacing = try s(t.spacing)
            rt.length = try s(t.length)
            rt.curvature = try s(t.curvature)
            rt.segmentLength = try s(t.segmentLength)
            out.track = rt
        }
        out.disturbances = []
        for w in d.disturbances {
            var rw = w
            rw.power = try s(w.power)
            rw.turbulence = try s(w.turbulence)
            out.disturbances.append(rw)
        }
        out.reward = []
        for t in d.reward {
            var rt = t
            rt.weight = try s(t.weight)
            rt.target = try v(t.target)
            out.reward.append(rt)
        }
        out.termination = []
        for t in d.termination {
            var rt = t
            rt.reward = try o(t.reward)
            switch t.condition {
            case .outOfBounds(let b, let x, let y): rt.condition = .outOfBounds(body: b, x: try ov(x), y: try ov(y))
            case .offTrack(let b, let m): rt.condition = .offTrack(body: b, margin: try s(m))
            default: break
            }
            out.termination.append(rt)
        }
        return out
    }

    func resolve(_ shape: ShapeSpec) throws(WorldError) -> ShapeSpec {
        var out = shape
        out.material.density = try s(shape.material.density)
        out.material.friction = try s(shape.material.friction)
        out.material.restitution = try s(shape.material.restitution)
        switch shape.geometry {
        case .box(let h, let c, let a): out.geometry = .box(halfExtents: try v(h), center: try v(c), angle: try s(a))
        case .circle(let r, let c): out.geometry = .circle(radius: try s(r), center: try v(c))
        case .polygon(let p): out.geometry = .polygon(points: try points(p))
        case .edge(let p): out.geometry = .edge(points: try points(p))
        case .chain(let p, let loop): out.geometry = .chain(points: try points(p), loop: loop)
        case .terrain(let t):
            var rt = t
            rt.start = try s(t.start); rt.end = try s(t.end); rt.step = try s(t.step); rt.count = try s(t.count)
            rt.height = try s(t.height); rt.flatFrom = try o(t.flatFrom); rt.flatTo = try o(t.flatTo)
            rt.flatHeight = try o(t.flatHeight); rt.smoothing = try s(t.smoothing); rt.startPad = try s(t.startPad)
            rt.roughness = try s(t.roughness); rt.damping = try s(t.damping); rt.pull = try s(t.pull)
            rt.segmentLength = try s(t.segmentLength)
            out.geometry = .terrain(rt)
        case .trackEdges: break
        }
        return out
    }

    func points(_ p: [[Scalar]]) throws(WorldError) -> [[Scalar]] {
        var out: [[Scalar]] = []
        for q in p { out.append(try v(q)) }
        return out
    }
}
