import Testing

@testable import MetaSimCore
import MetaSimYAML

/// `WorldProgram` resolves the fields each world type lists (`ScalarFields`, beside its
/// declaration in WorldDefinition.swift) and the scalars of the geometry and termination cases.
/// These tests walk every `Scalar` of a definition by reflection, so a field left out of a list,
/// or a field the fixture below does not exercise, fails here instead of being silently left
/// unresolved.
///
/// Adding a numeric field to a world type: list it in the type's `scalarFields`, and give it an
/// expression of `k` in `fixture` (the coverage test names the field until you do).
@Suite("Every world-definition field is resolved")
struct WorldResolutionTests {
    /// Every numeric field of every definition type, as an expression of the parameter `k`
    /// (k = 1: every value is legal). Not a world that runs: only parsed and resolved.
    static let fixture = """
        name: every-field
        parameters:
          k: 1
        simulation:
          timestep: k / 60
          gravity: [0, -9.8 * k]
        goal:
          position: [k, 2 * k]
          angle: 0.1 * k
          radius: 0.5 * k
          angle_tolerance: 0.2 * k
        track:
          generator: loop
          width: 8 * k
          checkpoints: 12 * k
          radius: [30 * k, 60 * k]
          spacing: 2 * k
          length: 400 * k
          curvature: {uniform: [-0.01 * k, 0.01 * k]}
          segment_length: 50 * k
        bodies:
          ground:
            type: static
            shapes:
              - terrain:
                  generator: smoothed-chunks
                  start: -k
                  end: 20 * k
                  step: 0.5 * k
                  count: 10 * k
                  height: k
                  flat: {from: k, to: 2 * k, height: 0.5 * k}
                  smoothing: k / 3
                  start_pad: k
                  roughness: 0.1 * k
                  damping: 0.8 * k
                  pull: 0.01 * k
                  segment: 10 * k
              - edge: [[-k, 0], [k, 0]]
              - chain: {points: [[0, 0], [k, 0], [k, k]], loop: true}
              - polygon: [[0, 0], [k, 0], [0, k]]
              - track_edges: true
          ball:
            position: [k, 2 * k]
            angle: 0.1 * k
            velocity: [k, -k]
            angular_velocity: 0.5 * k
            linear_damping: 0.1 * k
            angular_damping: 0.2 * k
            gravity_scale: k
            initial_force: [k, -k]
            initial_torque: 0.3 * k
            shapes:
              - box: {half_extents: [0.5 * k, 0.25 * k], center: [0.1 * k, 0], angle: 0.2 * k}
                density: k
                friction: 0.5 * k
                restitution: 0.1 * k
              - circle: {radius: 0.3 * k, center: [0, 0.1 * k]}
          arm:
            shapes: [{circle: 0.1}]
        joints:
          hinge:
            type: revolute
            bodies: [ball, arm]
            anchor_a: [k, 0]
            anchor_b: [0, k]
            reference_angle: 0.1 * k
            limits: [-k, k]
            motor: {speed: k, max_torque: 2 * k}
            spring: {frequency: 3 * k, damping_ratio: 0.5 * k}
          slide:
            type: prismatic
            bodies: [ball, arm]
            anchor: [k, k]
            axis: [k, 0]
            motor: {speed: k, max_force: 2 * k}
            spring: {stiffness: 3 * k, damping: 0.5 * k}
          rope:
            type: distance
            bodies: [ball, arm]
            length: 2 * k
        actions:
          - {name: turn, type: motor, joint: hinge, max_speed: 3 * k, max_torque: 2 * k}
          - name: jet
            type: thruster
            body: ball
            point: [k, 0]
            direction: [0, k]
            power: 2 * k
            nozzle: [0, -k]
            mount: [k, 0]
            dispersion: [0.1 * k, 0.2 * k]
            deadzone: 0.1 * k
            throttle: [0.1 * k, k]
          - name: car
            type: vehicle
            body: ball
            wheelbase_front: k
            wheelbase_rear: k
            track_half_width: k
            wheel_radius: k
            wheel_inertia: k
            engine_power: k
            brake_strength: k
            max_steer: k
            steer_rate: k
            tyre_stiffness: k
            friction_limit: k
            friction: k
            steer_offset: 0.5 * k
            steer_sign: -k
        observations:
          - {name: x, type: position, body: ball, scale: 2 * k, offset: k, bounds: [-10 * k, 10 * k]}
          - {name: scan, type: lidar, body: ball, rays: 2, angles: [0.1 * k, 0.2 * k], range: 10 * k, origin: [0.1 * k, 0]}
          - {name: ahead, type: track, body: ball, quantity: curvature, lookahead: 10 * k}
        disturbances:
          - {name: wind, type: wind, body: ball, power: k, turbulence: 0.5 * k}
        reward:
          - {name: near, type: distance, body: ball, target: [k, 2 * k], weight: 2 * k}
          - {name: pace, type: speed-tracking, body: ball, target: 3 * k}
        termination:
          - {name: out, type: out-of-bounds, body: ball, x: [-10 * k, 10 * k], y: [-5 * k, 5 * k], reward: -k}
          - {name: off, type: off-track, body: ball, margin: k}
        """

    /// One place in a definition that holds (or, empty or absent, could hold) scalars.
    struct Slot {
        /// The field's path by type, collections as `[]` (`bodies[].shapes[].geometry.box.angle`).
        let path: String
        /// nil for an empty collection or an absent optional.
        let scalar: Scalar?
    }

    /// Every scalar slot of `value`, in a fixed order (`parameters` are skipped: a program keeps
    /// them as declared; `WorldDefinition.makeTask` resolves them).
    static func slots(_ value: Any, _ path: String = "") -> [Slot] {
        var out: [Slot] = []
        walk(value, path, &out)
        return out
    }

    private static func walk(_ value: Any, _ path: String, _ out: inout [Slot]) {
        if let scalar = value as? Scalar { out.append(Slot(path: path, scalar: scalar)); return }
        if value is Expression || value is Origin || value is YAMLMark { return }
        // By name, in key order: two dictionaries with the same keys may iterate in different orders.
        if let named = value as? [String: Scalar], !named.isEmpty {
            for key in named.keys.sorted() { out.append(Slot(path: path + "[].value", scalar: named[key])) }
            return
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            if let some = mirror.children.first { walk(some.value, path, &out) }
            else if mayHoldScalars(type(of: value)) { out.append(Slot(path: path, scalar: nil)) }
        case .collection, .dictionary, .set:
            if mirror.children.isEmpty, mayHoldScalars(type(of: value)) { out.append(Slot(path: path, scalar: nil)) }
            for child in mirror.children { walk(child.value, path + "[]", &out) }
        default:
            for child in mirror.children {
                let label = child.label ?? "?"
                if path.isEmpty && label == "parameters" { continue }
                walk(child.value, path.isEmpty ? label : "\(path).\(label)", &out)
            }
        }
    }

    /// Whether a type may hold scalars: anything but the standard containers of these leaves.
    static func mayHoldScalars(_ type: Any.Type) -> Bool {
        let leaves: Set<Substring> = [
            "Swift.Optional", "Swift.Array", "Swift.Dictionary", "Swift.Set", "Swift.String", "Swift.Double",
            "Swift.Float", "Swift.Int", "Swift.Int16", "Swift.UInt16", "Swift.UInt64", "Swift.Bool", "Swift.SIMD2",
            "MetaSimCore.Expression", "MetaSimYAML.YAMLMark", "MetaSimYAML.Origin",
        ]
        let tokens = String(reflecting: type).split { "<>,:[]() ".contains($0) }
        return tokens.contains { !leaves.contains($0) }
    }

    /// A scalar as text, values by bit pattern: equal texts, equal scalars.
    static func fingerprint(_ s: Scalar) -> String {
        switch s.kind {
        case .value(let v): return "v\(v.bitPattern)"
        case .expression(let e): return "expression(\(e.source))"
        case .random(let d):
            switch d {
            case .uniform(let a, let b): return "uniform(\(fingerprint(a)), \(fingerprint(b)))"
            case .integer(let a, let b): return "integer(\(fingerprint(a)), \(fingerprint(b)))"
            case .normal(let m, let sd, let a, let b):
                return "normal(\([m, sd, a, b].map(fingerprint).joined(separator: ", ")))"
            case .choice(let values, let weights):
                return "choice(\(values.map(fingerprint).joined(separator: ", ")); \(weights ?? []))"
            }
        }
    }

    /// The geometry and termination cases that carry scalars (exhaustive: a new case does not
    /// compile until it is listed here, and then `fixture` must use it).
    static func scalarCase(_ g: ShapeSpec.Geometry) -> String? {
        switch g {
        case .box: "box"
        case .circle: "circle"
        case .polygon: "polygon"
        case .edge: "edge"
        case .chain: "chain"
        case .terrain: "terrain"
        case .trackEdges: nil
        }
    }

    static func scalarCase(_ c: TerminationSpec.Condition) -> String? {
        switch c {
        case .outOfBounds: "outOfBounds"
        case .offTrack: "offTrack"
        case .contact, .asleep, .goalReached, .expression: nil
        }
    }

    static let requiredCases: Set<String> = [
        "box", "circle", "polygon", "edge", "chain", "terrain", "outOfBounds", "offTrack",
    ]

    @Test("the requirement list matches the scalar-carrying cases")
    func requiredCasesAreTheScalarCases() throws {
        let d = try TestSupport.parse(Self.fixture)
        var used: Set<String> = []
        for b in d.bodies { for s in b.shapes { if let c = Self.scalarCase(s.geometry) { used.insert(c) } } }
        for t in d.termination { if let c = Self.scalarCase(t.condition) { used.insert(c) } }
        #expect(used == Self.requiredCases, "cases the fixture does not use: \(Self.requiredCases.subtracting(used).sorted())")
    }

    @Test("the fixture gives every scalar field of every world type an expression of a parameter")
    func fixtureCoversEveryScalarField() throws {
        let d = try TestSupport.parse(Self.fixture)
        let slots = Self.slots(d)
        #expect(slots.count > 100)
        func exercised(_ s: Scalar?) -> Bool {
            guard let s else { return false }
            return Self.fingerprint(s).contains("expression(")
        }
        // A field, whatever it holds: `joints[].limits[]` and an absent `joints[].limits` are one.
        func field(_ path: String) -> String {
            var p = Substring(path)
            while true {
                if p.hasSuffix("[]") { p = p.dropLast(2) } else if p.hasSuffix("[].value") { p = p.dropLast(8) } else { break }
            }
            return String(p)
        }
        let all = Set(slots.map { field($0.path) })
        let covered = Set(slots.filter { exercised($0.scalar) }.map { field($0.path) })
        #expect(all.subtracting(covered).isEmpty,
                "fields with no expression in the fixture (give each one): \(all.subtracting(covered).sorted())")
    }

    @Test("resolution leaves no expression, and every scalar is its own resolution, bit for bit")
    func everyFieldIsResolved() throws {
        let d = try TestSupport.parse(Self.fixture)
        let task = try d.nominalTask()
        let program = try WorldProgram(definition: d, task: task)
        let before = Self.slots(d), after = Self.slots(program.resolved)
        try #require(before.map(\.path) == after.map(\.path))
        let lookup: (String) -> Double? = { task[$0] }
        for (b, a) in zip(before, after) {
            guard let bs = b.scalar, let as_ = a.scalar else { continue }
            let resolved = Self.fingerprint(as_)
            #expect(!resolved.contains("expression("), "\(a.path) is not resolved: \(resolved)")
            #expect(resolved == Self.fingerprint(try bs.resolved(lookup)), "\(a.path)")
        }
    }
}
