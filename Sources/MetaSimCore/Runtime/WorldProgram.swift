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
        self.resolved = try Resolver(lookup: lookup).resolve(definition)
        try ActuatorSpec.checkSteering(resolved.actions.actuators)
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

/// Maps every scalar of a definition through `Scalar.resolved`: the fields each type lists
/// (`ScalarFields`, beside its declaration), and the scalars of the geometry and termination
/// cases. `parameters` stay as declared (a task's values come from them).
private struct Resolver {
    let lookup: (String) -> Double?

    func s(_ x: Scalar) throws(WorldError) -> Scalar { try x.resolved(lookup) }
    func v(_ x: [Scalar]) throws(WorldError) -> [Scalar] {
        var out: [Scalar] = []
        out.reserveCapacity(x.count)
        for e in x { out.append(try s(e)) }
        return out
    }
    func ov(_ x: [Scalar]?) throws(WorldError) -> [Scalar]? { if let x { return try v(x) } else { return nil } }
    func fields<T: ScalarFields>(_ x: T) throws(WorldError) -> T { try x.mappingScalars(s) }
    func each<T: ScalarFields>(_ xs: [T]) throws(WorldError) -> [T] {
        var out: [T] = []
        out.reserveCapacity(xs.count)
        for x in xs { out.append(try fields(x)) }
        return out
    }

    func resolve(_ d: WorldDefinition) throws(WorldError) -> WorldDefinition {
        var out = d
        out.simulation = try fields(d.simulation)
        out.bodies = []
        for b in d.bodies {
            var rb = try fields(b)
            rb.shapes = []
            for shape in b.shapes { rb.shapes.append(try resolve(shape)) }
            out.bodies.append(rb)
        }
        out.joints = try each(d.joints)
        out.actions.actuators = try each(d.actions.actuators)
        out.observations = try each(d.observations)
        if let g = d.goal { out.goal = try fields(g) }
        if let t = d.track { out.track = try fields(t) }
        out.disturbances = try each(d.disturbances)
        out.reward = try each(d.reward)
        out.termination = []
        for t in d.termination {
            var rt = try fields(t)
            switch t.condition {
            case .outOfBounds(let b, let x, let y): rt.condition = .outOfBounds(body: b, x: try ov(x), y: try ov(y))
            case .offTrack(let b, let m): rt.condition = .offTrack(body: b, margin: try s(m))
            case .contact, .asleep, .goalReached, .expression: break
            }
            out.termination.append(rt)
        }
        return out
    }

    func resolve(_ shape: ShapeSpec) throws(WorldError) -> ShapeSpec {
        var out = shape
        out.material = try fields(shape.material)
        switch shape.geometry {
        case .box(let h, let c, let a): out.geometry = .box(halfExtents: try v(h), center: try v(c), angle: try s(a))
        case .circle(let r, let c): out.geometry = .circle(radius: try s(r), center: try v(c))
        case .polygon(let p): out.geometry = .polygon(points: try points(p))
        case .edge(let p): out.geometry = .edge(points: try points(p))
        case .chain(let p, let loop): out.geometry = .chain(points: try points(p), loop: loop)
        case .terrain(let t): out.geometry = .terrain(try fields(t))
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
