import MetaSimYAML

extension WorldDefinition {
    /// Loads and validates a world file. Any problem anywhere in the file is an error: no world
    /// is returned half-loaded. All problems found are reported together. A variant
    /// (`extends:`) is merged over its base first; `catalogRoot` is where a base named by its
    /// catalog name is looked up when it is not next to the file.
    public static func load(contentsOfFile path: String, catalogRoot: String? = nil) throws(WorldError) -> WorldDefinition {
        let resolved = try resolved(contentsOfFile: path, catalogRoot: catalogRoot)
        return try decode(resolved.root, file: path, hash: resolved.hash)
    }

    /// The file's node tree with its variants merged (`WorldVariants`), not yet decoded.
    static func resolved(contentsOfFile path: String, catalogRoot: String?) throws(WorldError) -> WorldVariants.Resolved {
        let document: SchemaDocument
        do { document = try SchemaDocument(contentsOfFile: path) } catch { throw .invalid(error.diagnostics) }
        return try WorldVariants(catalogRoot: catalogRoot).resolve(document, onDisk: true)
    }

    /// Parses and validates world YAML given as text (`file` names it in errors). Text cannot
    /// extend another world (`extends:` is an error).
    public static func parse(_ text: String, file: String) throws(WorldError) -> WorldDefinition {
        let document: SchemaDocument
        do { document = try SchemaDocument(text: text, file: file) } catch { throw .invalid(error.diagnostics) }
        let resolved = try WorldVariants(catalogRoot: nil).resolve(document, onDisk: false)
        return try decode(resolved.root, file: document.file, hash: resolved.hash)
    }

    /// The world file as it resolves, as YAML: a variant merged over its base, top-level keys
    /// in the schema's order (`metasim validate --print`). Throws the world's errors if it is
    /// invalid; the text read again gives the same world.
    public static func resolvedText(contentsOfFile path: String, catalogRoot: String? = nil) throws(WorldError) -> String {
        let resolved = try resolved(contentsOfFile: path, catalogRoot: catalogRoot)
        _ = try decode(resolved.root, file: path, hash: resolved.hash)
        return resolved.root.yamlText(rootKeyOrder: WorldDecoder.topKeys)
    }

    private static func decode(_ root: YAMLNode, file: String, hash: UInt64) throws(WorldError) -> WorldDefinition {
        let reader = SchemaReader(file: file)
        var definition = WorldDecoder(reader: reader).decode(root)
        definition?.marks = reader.marks
        definition?.markFiles = reader.markFiles
        var diagnostics = reader.diagnostics
        if let definition, diagnostics.isEmpty {
            diagnostics += WorldValidator(definition: definition).validate()
        }
        guard diagnostics.isEmpty, var definition else {
            // The file's own problems first, then its bases', each in line order.
            throw .invalid(diagnostics.sorted { ($0.file != file ? 1 : 0, $0.file, $0.line, $0.column) < ($1.file != file ? 1 : 0, $1.file, $1.line, $1.column) })
        }
        definition.fileHash = hash
        return definition
    }
}

/// FNV-1a, 64 bit: a stable content hash for world and checkpoint files (identity, not security).
public func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
    return h
}

/// The schema walk: YAML nodes to a `WorldDefinition`, reporting every problem to the reader.
/// The world-specific reads (numbers, expressions, distributions) are in WorldDecoder+Values.swift.
final class WorldDecoder {
    let reader: SchemaReader
    /// Names an expression in a numeric field may use (task parameters declared so far).
    var parameterNames: Set<String> = []

    init(reader: SchemaReader) {
        self.reader = reader
    }

    static let topKeys = ["name", "kind", "description", "parameters", "simulation", "episode", "bodies", "joints",
                          "actions", "discrete_actions", "observations", "goal", "track", "disturbances", "reward",
                          "termination", "render"]

    func decode(_ root: YAMLNode) -> WorldDefinition? {
        guard let f = reader.mapping(root, "", allowed: Self.topKeys) else { return nil }
        let name = f.require("name", reader).flatMap { node -> String? in
            guard let s = reader.string(node, "name") else { return nil }
            guard !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                reader.error(node, "name", "'\(s)' is not a valid world name (letters, digits, - and _)")
                return nil
            }
            return s
        }
        let kind = f["kind"].flatMap { reader.choice($0, "kind", WorldDefinition.Kind.allCases.map(\.rawValue)) }
            .flatMap(WorldDefinition.Kind.init(rawValue:)) ?? .robot
        let description = f["description"].flatMap { reader.string($0, "description") } ?? ""
        let parameters = f["parameters"].map(decodeParameters) ?? []
        let simulation = decodeSimulation(f["simulation"])
        let episode = decodeEpisode(f["episode"])
        let bodies = f.require("bodies", reader).map(decodeBodies) ?? []
        let joints = f["joints"].map(decodeJoints) ?? []
        let actuators = f.require("actions", reader).map(decodeActuators) ?? []
        let discrete = f["discrete_actions"].flatMap(decodeDiscrete)
        let observations = f.require("observations", reader).map(decodeSensors) ?? []
        let goal = f["goal"].flatMap(decodeGoal)
        let track = f["track"].flatMap(decodeTrack)
        let disturbances = f["disturbances"].map(decodeDisturbances) ?? []
        let reward = f.require("reward", reader).map(decodeReward) ?? []
        let termination = f["termination"].map(decodeTermination) ?? []
        let render = decodeRender(f["render"]) ?? RenderSpec()
        guard let name, let simulation, let episode else { return nil }
        var definition = WorldDefinition(
            name: name, kind: kind, description: description, file: reader.file, fileHash: 0,
            parameters: parameters, simulation: simulation, bodies: bodies, joints: joints,
            actions: ActionSpec(actuators: actuators, discrete: discrete), observations: observations,
            goal: goal, track: track, disturbances: disturbances, reward: reward, termination: termination,
            episode: episode)
        definition.render = render
        return definition
    }

    // MARK: Parameters

    func decodeParameters(_ node: YAMLNode) -> [Parameter] {
        var out: [Parameter] = []
        for (name, value, path) in reader.namedEntries(node, "parameters") {
            if ["t", "dt", "pi", "e", "inf"].contains(name) {
                reader.error(value, path, "'\(name)' is reserved")
                continue
            }
            var nominal: Scalar?
            var doc = ""
            let parameterValue: Scalar?
            if let pairs = value.mapping, pairs.contains(where: { ["nominal", "doc"].contains($0.key.scalar ?? "") }) {
                if let n = value["nominal"] { nominal = scalar(n, join(path, "nominal"), random: false) }
                if let d = value["doc"] { doc = reader.string(d, join(path, "doc")) ?? "" }
                parameterValue = distribution(value, path, extras: ["nominal", "doc"]).map {
                    Scalar(.random($0), origin: reader.origin(value, path))
                }
            } else {
                parameterValue = scalar(value, path)
            }
            if let parameterValue {
                if let n = nominal?.literalValue, case .random(let d) = parameterValue.kind, let support = d.support, !support.contains(n) {
                    reader.error(value, join(path, "nominal"), "nominal value \(formatNumber(n)) is outside the distribution (\(d.summary))")
                }
                out.append(Parameter(name: name, value: parameterValue, nominal: nominal, doc: doc))
            }
            parameterNames.insert(name)
        }
        return out
    }

    // MARK: Simulation and episode

    func decodeSimulation(_ node: YAMLNode?) -> SimulationSpec? {
        var spec = SimulationSpec(timestep: .literal(1.0 / 60), velocityIterations: 8, positionIterations: 3,
                                  substeps: 1, gravity: [.literal(0), .literal(-9.8)], allowSleep: true)
        guard let node else { return spec }
        let p = "simulation"
        guard let f = reader.mapping(node, p, allowed: ["timestep", "velocity_iterations", "position_iterations",
                                                         "substeps", "gravity", "allow_sleep"]) else { return nil }
        if let n = f["timestep"] { spec.timestep = scalar(n, f.path("timestep"), .positive, random: false) ?? spec.timestep }
        if let n = f["velocity_iterations"] { spec.velocityIterations = reader.integer(n, f.path("velocity_iterations"), min: 1, max: 10_000) ?? 8 }
        if let n = f["position_iterations"] { spec.positionIterations = reader.integer(n, f.path("position_iterations"), min: 1, max: 10_000) ?? 3 }
        if let n = f["substeps"] { spec.substeps = reader.integer(n, f.path("substeps"), min: 1, max: 1000) ?? 1 }
        if let n = f["gravity"] { spec.gravity = pair(n, f.path("gravity"), random: false) ?? spec.gravity }
        if let n = f["allow_sleep"] { spec.allowSleep = reader.bool(n, f.path("allow_sleep")) ?? true }
        return spec
    }

    func decodeEpisode(_ node: YAMLNode?) -> EpisodeSpec? {
        var spec = EpisodeSpec(horizon: 1000, resetSteps: 0, resetAction: nil)
        guard let node else { return spec }
        guard let f = reader.mapping(node, "episode", allowed: ["horizon", "reset_steps", "reset_action", "reward_threshold"]) else { return nil }
        if let n = f["horizon"] { spec.horizon = reader.integer(n, f.path("horizon"), min: 0, max: WorldDefinition.maxHorizon) ?? 1000 }
        if let n = f["reset_steps"] { spec.resetSteps = reader.integer(n, f.path("reset_steps"), min: 0, max: 10_000) ?? 0 }
        if let n = f["reset_action"], let items = reader.sequence(n, f.path("reset_action")) {
            spec.resetAction = items.enumerated().compactMap { reader.literal($1, "\(f.path("reset_action"))[\($0)]") }
        }
        if let n = f["reward_threshold"] { spec.rewardThreshold = reader.literal(n, f.path("reward_threshold")) }
        return spec
    }

    // MARK: Bodies and shapes

    static let materialKeys = ["density", "friction", "restitution", "category", "mask", "group", "sensor"]

    func decodeBodies(_ node: YAMLNode) -> [BodySpec] {
        reader.namedEntries(node, "bodies").compactMap { name, value, path in
            guard let f = reader.mapping(value, path, allowed: [
                "type", "position", "angle", "velocity", "angular_velocity", "linear_damping", "angular_damping",
                "gravity_scale", "fixed_rotation", "bullet", "allow_sleep", "initial_force", "initial_torque", "shapes", "doc",
                "place",
            ]) else { return nil }
            let type = f["type"].flatMap { reader.choice($0, f.path("type"), ["static", "kinematic", "dynamic"]) }
                .flatMap(BodySpec.BodyType.init(rawValue:)) ?? .dynamic
            let zero = Scalar.literal(0)
            let shapes = f.require("shapes", reader).flatMap { reader.sequence($0, f.path("shapes")) } ?? []
            if shapes.isEmpty, let n = f["shapes"] { reader.error(n, f.path("shapes"), "a body needs at least one shape") }
            return BodySpec(
                name: name, origin: reader.origin(value, path), type: type,
                position: f["position"].flatMap { pair($0, f.path("position")) } ?? [zero, zero],
                angle: f["angle"].flatMap { scalar($0, f.path("angle")) } ?? zero,
                velocity: f["velocity"].flatMap { pair($0, f.path("velocity")) } ?? [zero, zero],
                angularVelocity: f["angular_velocity"].flatMap { scalar($0, f.path("angular_velocity")) } ?? zero,
                linearDamping: f["linear_damping"].flatMap { scalar($0, f.path("linear_damping"), .nonNegative) } ?? zero,
                angularDamping: f["angular_damping"].flatMap { scalar($0, f.path("angular_damping"), .nonNegative) } ?? zero,
                gravityScale: f["gravity_scale"].flatMap { scalar($0, f.path("gravity_scale")) } ?? .literal(1),
                fixedRotation: f["fixed_rotation"].flatMap { reader.bool($0, f.path("fixed_rotation")) } ?? false,
                bullet: f["bullet"].flatMap { reader.bool($0, f.path("bullet")) } ?? false,
                allowSleep: f["allow_sleep"].flatMap { reader.bool($0, f.path("allow_sleep")) } ?? true,
                placeOnTrack: f["place"].flatMap { reader.choice($0, f.path("place"), ["track-start"]) } != nil,
                initialForce: f["initial_force"].flatMap { pair($0, f.path("initial_force")) },
                initialTorque: f["initial_torque"].flatMap { scalar($0, f.path("initial_torque")) },
                shapes: shapes.enumerated().compactMap { decodeShape($1, "\(f.path("shapes"))[\($0)]") })
        }
    }

    func decodeShape(_ node: YAMLNode, _ path: String) -> ShapeSpec? {
        let geometries = ["box", "circle", "polygon", "edge", "chain", "terrain", "track_edges"]
        guard let f = reader.mapping(node, path, allowed: geometries + Self.materialKeys + ["doc"]) else { return nil }
        let present = geometries.filter { f.has($0) }
        guard present.count == 1, let g = present.first, let gnode = f[g] else {
            reader.error(node, path, present.isEmpty ? "a shape needs one of: \(geometries.joined(separator: ", "))"
                                                     : "a shape has exactly one geometry, found \(present.joined(separator: " and "))")
            return nil
        }
        let gp = f.path(g)
        let zero = Scalar.literal(0)
        let geometry: ShapeSpec.Geometry?
        switch g {
        case "box":
            guard let b = reader.mapping(gnode, gp, allowed: ["half_extents", "size", "center", "angle"]) else { return nil }
            var half: [Scalar]?
            if let h = b["half_extents"] { half = pair(h, b.path("half_extents"), .positive) }
            else if let s = b["size"], let size = pair(s, b.path("size"), .positive, random: false) {
                half = size.map { halve($0) }
            } else { reader.error(gnode, gp, "a box needs half_extents or size") }
            let center = b["center"].flatMap { pair($0, b.path("center")) } ?? [zero, zero]
            let angle = b["angle"].flatMap { scalar($0, b.path("angle")) } ?? zero
            geometry = half.map { .box(halfExtents: $0, center: center, angle: angle) }
        case "circle":
            if gnode.mapping != nil {
                guard let c = reader.mapping(gnode, gp, allowed: ["radius", "center"]) else { return nil }
                let r = c.require("radius", reader).flatMap { scalar($0, c.path("radius"), .positive) }
                let center = c["center"].flatMap { pair($0, c.path("center")) } ?? [zero, zero]
                geometry = r.map { .circle(radius: $0, center: center) }
            } else {
                geometry = scalar(gnode, gp, .positive).map { .circle(radius: $0, center: [zero, zero]) }
            }
        case "polygon":
            geometry = points(gnode, gp, min: 3, max: 8).map { .polygon(points: $0) }
        case "edge":
            geometry = points(gnode, gp, min: 2, max: 2).map { .edge(points: $0) }
        case "chain":
            if gnode.mapping != nil {
                guard let c = reader.mapping(gnode, gp, allowed: ["points", "loop"]) else { return nil }
                let loop = c["loop"].flatMap { reader.bool($0, c.path("loop")) } ?? false
                geometry = c.require("points", reader).flatMap { points($0, c.path("points"), min: loop ? 3 : 2) }
                    .map { .chain(points: $0, loop: loop) }
            } else {
                geometry = points(gnode, gp, min: 2).map { .chain(points: $0, loop: false) }
            }
        case "terrain":
            geometry = decodeTerrain(gnode, gp).map { .terrain($0) }
        default:
            geometry = reader.bool(gnode, gp) == true ? .trackEdges : nil
        }
        guard let geometry else { return nil }
        return ShapeSpec(geometry: geometry, material: decodeMaterial(f), origin: reader.origin(node, path))
    }

    private func halve(_ s: Scalar) -> Scalar {
        switch s.kind {
        case .value(let v): return Scalar(.value(v / 2), origin: s.origin, constraint: s.constraint)
        case .expression(let e):
            // "(<expr>) / 2" always parses when <expr> did.
            return Scalar(.expression((try? Expression(parsing: "(\(e.source)) / 2")) ?? e), origin: s.origin, constraint: s.constraint)
        case .random: return s
        }
    }

    func decodeMaterial(_ f: Fields) -> Material {
        Material(
            density: f["density"].flatMap { scalar($0, f.path("density"), .nonNegative) } ?? .literal(1),
            friction: f["friction"].flatMap { scalar($0, f.path("friction"), .nonNegative) } ?? .literal(0.2),
            restitution: f["restitution"].flatMap { scalar($0, f.path("restitution"), .nonNegative) } ?? .literal(0),
            category: f["category"].flatMap { bits($0, f.path("category")) } ?? 0x0001,
            mask: f["mask"].flatMap { bits($0, f.path("mask")) } ?? 0xFFFF,
            group: f["group"].flatMap { reader.integer($0, f.path("group"), min: -32768, max: 32767) }.map(Int16.init) ?? 0,
            sensor: f["sensor"].flatMap { reader.bool($0, f.path("sensor")) } ?? false)
    }

    func decodeTerrain(_ node: YAMLNode, _ path: String) -> TerrainSpec? {
        guard let f = reader.mapping(node, path, allowed: [
            "generator", "start", "end", "step", "count", "height", "flat", "smoothing", "start_pad", "roughness",
            "damping", "pull", "segment", "function", "chain",
        ]) else { return nil }
        guard let gen = f.require("generator", reader).flatMap({
            reader.choice($0, f.path("generator"), ["smoothed-chunks", "random-walk", "function"])
        }).flatMap(TerrainSpec.Generator.init(rawValue:)) else { return nil }
        func s(_ key: String, _ c: ValueConstraint = .any, _ def: Double) -> Scalar {
            f[key].flatMap { scalar($0, f.path(key), c) } ?? .literal(def)
        }
        var spec = TerrainSpec(
            generator: gen, start: s("start", .any, 0), end: s("end", .any, 20), step: s("step", .positive, 0.5),
            count: s("count", .count(max: Double(WorldLimits.maxTerrainPoints)), 10), height: s("height", .any, 0), flatFrom: nil, flatTo: nil, flatHeight: nil,
            smoothing: s("smoothing", .nonNegative, 1.0 / 3), startPad: s("start_pad", .nonNegative, 0),
            roughness: s("roughness", .nonNegative, 0), damping: s("damping", .nonNegative, 0.8),
            pull: s("pull", .nonNegative, 0.01), segmentLength: s("segment", .positive, 10), function: nil,
            asChain: f["chain"].flatMap { reader.bool($0, f.path("chain")) } ?? false)
        for key in ["count", "start_pad", "segment"] where f.has(key) && f[key]?.mapping != nil {
            reader.error(f[key]!, f.path(key), "must be fixed for a task (not a distribution)")
        }
        if let flat = f["flat"], let fl = reader.mapping(flat, f.path("flat"), allowed: ["from", "to", "height"]) {
            spec.flatFrom = fl.require("from", reader).flatMap { scalar($0, fl.path("from"), .nonNegative, random: false) }
            spec.flatTo = fl.require("to", reader).flatMap { scalar($0, fl.path("to"), .nonNegative, random: false) }
            spec.flatHeight = fl.require("height", reader).flatMap { scalar($0, fl.path("height")) }
        }
        if gen == .function {
            guard let fn = f.require("function", reader) else { return nil }
            if let e = stepExpression(fn, f.path("function")) {
                let unknown = e.variables.filter { $0 != "x" && !parameterNames.contains($0) }
                if let u = unknown.first { reader.error(fn, f.path("function"), "'\(u)' is neither x nor a parameter") }
                else { spec.function = e }
            }
        }
        return spec
    }

    // MARK: Joints

    func decodeJoints(_ node: YAMLNode) -> [JointSpec] {
        reader.namedEntries(node, "joints").compactMap { name, value, path in
            guard let f = reader.mapping(value, path, allowed: [
                "type", "bodies", "anchor", "anchor_a", "anchor_b", "axis", "reference_angle", "collide_connected",
                "limits", "motor", "spring", "length", "doc",
            ]) else { return nil }
            guard let type = f.require("type", reader).flatMap({
                reader.choice($0, f.path("type"), ["revolute", "prismatic", "wheel", "weld", "distance"])
            }).flatMap(JointSpec.JointType.init(rawValue:)) else { return nil }
            guard let bodiesNode = f.require("bodies", reader), let items = reader.sequence(bodiesNode, f.path("bodies")) else { return nil }
            guard items.count == 2 else {
                reader.error(bodiesNode, f.path("bodies"), "a joint connects exactly 2 bodies, found \(items.count)")
                return nil
            }
            let names = items.enumerated().compactMap { reader.name($1, "\(f.path("bodies"))[\($0)]") }
            guard names.count == 2 else { return nil }
            var spec = JointSpec(
                name: name, origin: reader.origin(value, path), type: type, bodyA: names[0], bodyB: names[1],
                anchorA: f["anchor_a"].flatMap { pair($0, f.path("anchor_a")) },
                anchorB: f["anchor_b"].flatMap { pair($0, f.path("anchor_b")) },
                worldAnchor: f["anchor"].flatMap { pair($0, f.path("anchor")) },
                axis: f["axis"].flatMap { pair($0, f.path("axis")) } ?? [.literal(1), .literal(0)],
                referenceAngle: f["reference_angle"].flatMap { scalar($0, f.path("reference_angle")) },
                collideConnected: f["collide_connected"].flatMap { reader.bool($0, f.path("collide_connected")) } ?? false,
                limits: f["limits"].flatMap { pair($0, f.path("limits")) },
                motorSpeed: nil, maxMotorEffort: nil,
                length: f["length"].flatMap { scalar($0, f.path("length"), .positive) },
                frequency: nil, dampingRatio: nil, stiffness: nil, damping: nil)
            if spec.worldAnchor != nil, spec.anchorA != nil || spec.anchorB != nil {
                reader.error(value, path, "give either anchor (world) or anchor_a/anchor_b (local), not both")
            }
            if let a = spec.axis.compactMap(\.literalValue) as [Double]?, a.count == 2, a[0] == 0, a[1] == 0 {
                reader.error(f["axis"] ?? value, f.path("axis"), "the axis must not be zero")
            }
            if let m = f["motor"], let mf = reader.mapping(m, f.path("motor"), allowed: ["speed", "max_torque", "max_force"]) {
                spec.motorSpeed = mf["speed"].flatMap { scalar($0, mf.path("speed")) } ?? .literal(0)
                let effortKey = type == .prismatic ? "max_force" : "max_torque"
                if mf.has(type == .prismatic ? "max_torque" : "max_force") {
                    reader.error(m, mf.path(type == .prismatic ? "max_torque" : "max_force"),
                                 "a \(type.rawValue) joint motor takes \(effortKey)")
                }
                spec.maxMotorEffort = mf[effortKey].flatMap { scalar($0, mf.path(effortKey), .nonNegative) } ?? .literal(0)
            }
            if let s = f["spring"], let sf = reader.mapping(s, f.path("spring"), allowed: ["frequency", "damping_ratio", "stiffness", "damping"]) {
                spec.frequency = sf["frequency"].flatMap { scalar($0, sf.path("frequency"), .positive) }
                spec.dampingRatio = sf["damping_ratio"].flatMap { scalar($0, sf.path("damping_ratio"), .nonNegative) }
                spec.stiffness = sf["stiffness"].flatMap { scalar($0, sf.path("stiffness"), .nonNegative) }
                spec.damping = sf["damping"].flatMap { scalar($0, sf.path("damping"), .nonNegative) }
                if (sf.has("frequency") || sf.has("damping_ratio")) && (sf.has("stiffness") || sf.has("damping")) {
                    reader.error(s, f.path("spring"), "give frequency/damping_ratio or stiffness/damping, not both")
                }
            }
            return spec
        }
    }

    // MARK: Actions

    func decodeActuators(_ node: YAMLNode) -> [ActuatorSpec] {
        let vehicleKeys = ["wheelbase_front", "wheelbase_rear", "track_half_width", "wheel_radius", "wheel_inertia",
                           "engine_power", "brake_strength", "max_steer", "steer_rate", "tyre_stiffness",
                           "friction_limit", "friction", "steer_offset", "steer_sign"]
        return reader.listEntries(node, "actions").compactMap { item, path in
            guard let f = reader.mapping(item, path, allowed: [
                "name", "type", "body", "joint", "mode", "bounds", "gain", "max_speed", "max_torque", "max_force", "point",
                "direction", "frame", "power", "nozzle", "mount", "dispersion", "deadzone", "throttle",
                "throttle_curve", "bidirectional", "drive", "doc",
            ] + vehicleKeys) else { return nil }
            guard let name = f.require("name", reader).flatMap({ reader.name($0, f.path("name")) }),
                  let type = f.require("type", reader).flatMap({
                      reader.choice($0, f.path("type"), ["motor", "force", "thruster", "vehicle", "planar-velocity"])
                  }).flatMap(ActuatorSpec.ActuatorType.init(rawValue:))
            else { return nil }
            let zero = Scalar.literal(0)
            func s(_ key: String, _ c: ValueConstraint = .any, _ def: Double) -> Scalar {
                f[key].flatMap { scalar($0, f.path(key), c, random: false) } ?? .literal(def)
            }
            func v(_ key: String, _ def: [Double]) -> [Scalar] {
                f[key].flatMap { pair($0, f.path(key), random: false) } ?? def.map { .literal($0) }
            }
            let entries: Int = type == .vehicle ? 3 : type == .planarVelocity ? 2 : 1
            var low: [Double] = type == .vehicle ? [-1, 0, 0] : Array(repeating: -1, count: entries)
            var high: [Double] = Array(repeating: 1, count: entries)
            if let b = f["bounds"] { decodeBounds(b, f.path("bounds"), entries: entries, low: &low, high: &high) }
            var effort = s(type == .motor || type == .force ? "max_torque" : "max_torque", .nonNegative, 0)
            if f.has("max_force") { effort = s("max_force", .nonNegative, 0) }
            if f.has("max_force") && f.has("max_torque") {
                reader.error(item, path, "give max_torque or max_force, not both")
            }
            var vehicle: [String: Scalar] = [:]
            for key in vehicleKeys where f.has(key) {
                vehicle[key] = s(key, key == "friction" ? .nonNegative : ["steer_offset", "steer_sign"].contains(key) ? .any : .positive, 0)
            }
            for (key, problem) in ActuatorSpec.steeringProblems(vehicle) {
                if let k = f[key] { reader.error(k, f.path(key), problem) }
            }
            if type != .vehicle, let k = vehicleKeys.first(where: { f.has($0) }) {
                reader.error(f[k]!, f.path(k), "only vehicle actuators take \(k)")
            }
            let frame = f["frame"].flatMap { reader.choice($0, f.path("frame"), ["body", "world"]) } ?? "body"
            var gain = 1.0
            if let n = f["gain"], let g = reader.literal(n, f.path("gain")) {
                if g > 0 && g.isFinite { gain = g } else { reader.error(n, f.path("gain"), "must be a number > 0 (got \(formatNumber(g)))") }
            }
            var actuator = ActuatorSpec(
                name: name, origin: reader.origin(item, path), type: type,
                body: f["body"].flatMap { reader.name($0, f.path("body")) },
                joint: f["joint"].flatMap { reader.name($0, f.path("joint")) },
                mode: f["mode"].flatMap { reader.choice($0, f.path("mode"), ["torque", "velocity"]) }
                    .flatMap(ActuatorSpec.MotorMode.init(rawValue:)) ?? .torque,
                low: low, high: high,
                maxSpeed: s("max_speed", .nonNegative, 1), maxEffort: effort,
                point: v("point", [0, 0]), direction: v("direction", [1, 0]), worldFrame: frame == "world",
                power: s("power", .nonNegative, 1), nozzle: v("nozzle", [0, -1]), mount: v("mount", [0, 0]),
                dispersion: f["dispersion"].flatMap { pair($0, f.path("dispersion"), .nonNegative, random: false) } ?? [zero, zero],
                deadzone: s("deadzone", .nonNegative, 0),
                throttle: f["throttle"].flatMap { pair($0, f.path("throttle"), .nonNegative, random: false) } ?? [zero, .literal(1)],
                throttleCurve: f["throttle_curve"].flatMap { reader.choice($0, f.path("throttle_curve"), ["affine", "clip"]) } ?? "affine",
                bidirectional: f["bidirectional"].flatMap { reader.bool($0, f.path("bidirectional")) } ?? false,
                vehicle: vehicle,
                driveWheels: f["drive"].flatMap { reader.choice($0, f.path("drive"), ["rear", "front", "all"]) } ?? "rear")
            actuator.gain = gain
            return actuator
        }
    }

    /// `bounds: [lo, hi]` (every entry) or `[[lo, hi], ...]` (one pair per entry). Literal only.
    func decodeBounds(_ node: YAMLNode, _ path: String, entries: Int, low: inout [Double], high: inout [Double]) {
        guard let items = reader.sequence(node, path) else { return }
        let pairs: [(YAMLNode, String)]
        if items.first?.sequence != nil {
            guard items.count == entries else {
                reader.error(node, path, "expected \(entries) [low, high] pairs, found \(items.count)")
                return
            }
            pairs = items.enumerated().map { ($1, "\(path)[\($0)]") }
        } else {
            pairs = Array(repeating: (node, path), count: entries)
        }
        for (i, (n, p)) in pairs.enumerated() {
            guard let b = n.sequence, b.count == 2 else { reader.error(n, p, "expected [low, high]"); return }
            guard let lo = reader.literal(b[0], "\(p)[0]"), let hi = reader.literal(b[1], "\(p)[1]") else { return }
            guard lo < hi else { reader.error(n, p, "low (\(formatNumber(lo))) must be below high (\(formatNumber(hi)))"); return }
            low[i] = lo
            high[i] = hi
        }
    }

    func decodeDiscrete(_ node: YAMLNode) -> [[Double]]? {
        guard let items = reader.sequence(node, "discrete_actions") else { return nil }
        guard !items.isEmpty else { reader.error(node, "discrete_actions", "needs at least one action"); return nil }
        var out: [[Double]] = []
        for (i, item) in items.enumerated() {
            let p = "discrete_actions[\(i)]"
            guard let values = reader.sequence(item, p) else { return nil }
            let parsed = values.enumerated().compactMap { reader.literal($1, "\(p)[\($0)]") }
            guard parsed.count == values.count else { return nil }
            out.append(parsed)
        }
        return out
    }

    // MARK: Observations

    func decodeSensors(_ node: YAMLNode) -> [SensorSpec] {
        reader.listEntries(node, "observations").compactMap { item, path in
            guard let f = reader.mapping(item, path, allowed: [
                "name", "type", "body", "joint", "axis", "quantity", "frame", "encoding", "scale", "offset",
                "bounds", "clip", "rays", "angles", "range", "origin", "mask", "value", "lookahead", "flag", "doc",
            ]) else { return nil }
            guard let name = f.require("name", reader).flatMap({ reader.name($0, f.path("name")) }),
                  let type = f.require("type", reader).flatMap({
                      reader.choice($0, f.path("type"), ["position", "angle", "velocity", "angular-velocity",
                                                         "joint-angle", "joint-speed", "lidar", "contact", "goal-vector",
                                                         "goal-distance", "track", "expression"])
                  }).flatMap(SensorSpec.SensorType.init(rawValue:))
            else { return nil }
            func s(_ key: String, _ c: ValueConstraint = .any, _ def: Double) -> Scalar {
                f[key].flatMap { scalar($0, f.path(key), c, random: false) } ?? .literal(def)
            }
            var quantity = "x"
            if type == .track {
                quantity = f.require("quantity", reader).flatMap {
                    reader.choice($0, f.path("quantity"), ["progress", "lateral", "heading", "speed", "curvature"])
                } ?? "progress"
            } else if let a = f["axis"] {
                quantity = reader.choice(a, f.path("axis"), ["x", "y", "xy"]) ?? "x"
            }
            var bounds: [Scalar] = [.literal(-.infinity), .literal(.infinity)]
            if let b = f["bounds"] {
                bounds = pair(b, f.path("bounds"), random: false) ?? bounds
                if let lo = bounds[0].literalValue, let hi = bounds[1].literalValue, lo >= hi {
                    reader.error(b, f.path("bounds"), "low (\(formatNumber(lo))) must be below high (\(formatNumber(hi)))")
                }
            } else if type == .lidar || type == .contact {
                bounds = [.literal(0), .literal(1)]
            }
            let rays = type == .lidar ? (f.require("rays", reader).flatMap { reader.integer($0, f.path("rays"), min: 1, max: 1024) } ?? 1) : 0
            var angles: [Scalar] = []
            if type == .lidar, let a = f.require("angles", reader) {
                angles = decodeAngles(a, f.path("angles"), rays: rays)
            }
            var lastEvent = false
            if let n = f["flag"] {
                if type == .contact {
                    lastEvent = reader.choice(n, f.path("flag"), ["touching", "last-event"]) == "last-event"
                } else {
                    reader.error(n, f.path("flag"), "only contact observations take flag")
                }
            }
            var sensor = SensorSpec(
                name: name, origin: reader.origin(item, path), type: type,
                body: f["body"].flatMap { reader.name($0, f.path("body")) },
                joint: f["joint"].flatMap { reader.name($0, f.path("joint")) },
                quantity: quantity,
                frame: f["frame"].flatMap { reader.choice($0, f.path("frame"), ["world", "body"]) } ?? "world",
                encoding: f["encoding"].flatMap { reader.choice($0, f.path("encoding"), ["angle", "cos-sin"]) } ?? "angle",
                scale: s("scale", .any, 1), offset: s("offset", .any, 0), low: bounds[0], high: bounds[1],
                clip: f["clip"].flatMap { reader.bool($0, f.path("clip")) } ?? false,
                rays: rays, angles: angles, range: s("range", .positive, 10),
                origin2: f["origin"].flatMap { pair($0, f.path("origin"), random: false) } ?? [.literal(0), .literal(0)],
                mask: f["mask"].flatMap { bits($0, f.path("mask")) } ?? 0xFFFF,
                expression: type == .expression ? f.require("value", reader).flatMap { stepExpression($0, f.path("value")) } : nil,
                lookahead: s("lookahead", .nonNegative, 0))
            sensor.lastEvent = lastEvent
            return sensor
        }
    }

    /// `angles: [a0, a1, ...]` (one per ray) or `{from: a, to: b}` (evenly spaced, both included).
    func decodeAngles(_ node: YAMLNode, _ path: String, rays: Int) -> [Scalar] {
        if node.mapping != nil {
            guard let f = reader.mapping(node, path, allowed: ["from", "to"]),
                  let from = f.require("from", reader).flatMap({ scalar($0, f.path("from"), random: false) }),
                  let to = f.require("to", reader).flatMap({ scalar($0, f.path("to"), random: false) })
            else { return [] }
            guard let a = from.literalValue, let b = to.literalValue else {
                // Parameter-dependent spans are spaced at resolution time: keep the ends.
                return rays == 1 ? [from] : (0..<rays).map { i in
                    let t = Double(i) / Double(rays - 1)
                    return Scalar(.expression(try! Expression(parsing: "(\(source(from))) + ((\(source(to))) - (\(source(from)))) * \(t)")), origin: from.origin)
                }
            }
            return (0..<rays).map { i in .literal(rays == 1 ? a : a + (b - a) * Double(i) / Double(rays - 1)) }
        }
        guard let items = reader.sequence(node, path) else { return [] }
        guard items.count == rays else {
            reader.error(node, path, "expected \(rays) angles (one per ray), found \(items.count)")
            return []
        }
        return items.enumerated().compactMap { scalar($1, "\(path)[\($0)]", random: false) }
    }

    private func source(_ s: Scalar) -> String {
        switch s.kind {
        case .value(let v): return "\(v)"
        case .expression(let e): return e.source
        case .random: return "0"
        }
    }

    // MARK: Goal, track, disturbances

    func decodeGoal(_ node: YAMLNode) -> GoalSpec? {
        guard let f = reader.mapping(node, "goal", allowed: ["position", "angle", "radius", "angle_tolerance", "doc"]) else { return nil }
        guard let position = f.require("position", reader).flatMap({ pair($0, f.path("position")) }) else { return nil }
        return GoalSpec(
            position: position,
            angle: f["angle"].flatMap { scalar($0, f.path("angle")) },
            radius: f["radius"].flatMap { scalar($0, f.path("radius"), .positive) } ?? .literal(0.1),
            angleTolerance: f["angle_tolerance"].flatMap { scalar($0, f.path("angle_tolerance"), .positive) },
            origin: reader.origin(node, "goal"))
    }

    func decodeTrack(_ node: YAMLNode) -> TrackSpec? {
        guard let f = reader.mapping(node, "track", allowed: ["generator", "width", "checkpoints", "radius", "spacing",
                                                             "length", "curvature", "segment_length", "doc"]) else { return nil }
        guard let gen = f.require("generator", reader).flatMap({ reader.choice($0, f.path("generator"), ["loop", "road"]) })
            .flatMap(TrackSpec.Generator.init(rawValue:)) else { return nil }
        func s(_ key: String, _ c: ValueConstraint, _ def: Double, random: Bool = false) -> Scalar {
            f[key].flatMap { scalar($0, f.path(key), c, random: random) } ?? .literal(def)
        }
        return TrackSpec(
            generator: gen, width: s("width", .positive, 8),
            checkpoints: s("checkpoints", .count(max: Double(WorldLimits.maxTrackPoints)), 12),
            radius: f["radius"].flatMap { pair($0, f.path("radius"), .positive, random: false) } ?? [.literal(30), .literal(60)],
            spacing: s("spacing", .positive, 2), length: s("length", .positive, 400),
            curvature: s("curvature", .any, 0, random: true), segmentLength: s("segment_length", .positive, 50),
            origin: reader.origin(node, "track"))
    }

    func decodeDisturbances(_ node: YAMLNode) -> [DisturbanceSpec] {
        reader.listEntries(node, "disturbances").compactMap { item, path in
            guard let f = reader.mapping(item, path, allowed: ["name", "type", "body", "power", "turbulence", "pause",
                                                               "force", "torque", "when", "doc"]) else { return nil }
            guard let name = f.require("name", reader).flatMap({ reader.name($0, f.path("name")) }),
                  let type = f.require("type", reader).flatMap({ reader.choice($0, f.path("type"), ["wind", "force"]) })
                    .flatMap(DisturbanceSpec.DisturbanceType.init(rawValue:)),
                  let body = f.require("body", reader).flatMap({ reader.name($0, f.path("body")) })
            else { return nil }
            var force: [Expression] = []
            if type == .force, let fn = f.require("force", reader), let items = reader.sequence(fn, f.path("force")) {
                if items.count != 2 { reader.error(fn, f.path("force"), "expected 2 expressions [fx, fy], found \(items.count)") }
                force = items.enumerated().compactMap { stepExpression($1, "\(f.path("force"))[\($0)]") }
            }
            return DisturbanceSpec(
                name: name, origin: reader.origin(item, path), type: type, body: body,
                power: f["power"].flatMap { scalar($0, f.path("power"), .nonNegative, random: false) } ?? .literal(0),
                turbulence: f["turbulence"].flatMap { scalar($0, f.path("turbulence"), .nonNegative, random: false) } ?? .literal(0),
                pause: f["pause"].flatMap { stepExpression($0, f.path("pause")) },
                force: force,
                torque: f["torque"].flatMap { stepExpression($0, f.path("torque")) },
                when: f["when"].flatMap { stepExpression($0, f.path("when")) })
        }
    }

    // MARK: Reward and termination

    func decodeReward(_ node: YAMLNode) -> [RewardTermSpec] {
        reader.listEntries(node, "reward").compactMap { item, path in
            guard let f = reader.mapping(item, path, allowed: ["name", "type", "weight", "value", "body", "axis", "target",
                                                               "norm", "track", "doc"]) else { return nil }
            guard let name = f.require("name", reader).flatMap({ reader.name($0, f.path("name")) }),
                  let type = f.require("type", reader).flatMap({
                      reader.choice($0, f.path("type"), ["expression", "potential", "progress", "distance", "alive",
                                                         "action-cost", "speed-tracking", "contact"])
                  }).flatMap(RewardTermSpec.TermType.init(rawValue:))
            else { return nil }
            var target: [Scalar] = []
            if let t = f["target"] {
                if type == .distance {
                    if t.scalar == "goal" { target = [] } else { target = pair(t, f.path("target"), random: false) ?? [] }
                } else {
                    target = scalar(t, f.path("target"), random: false).map { [$0] } ?? []
                }
            }
            let needsValue = type == .expression || type == .potential
            return RewardTermSpec(
                name: name, origin: reader.origin(item, path), type: type,
                weight: f["weight"].flatMap { scalar($0, f.path("weight"), random: false) } ?? .literal(1),
                expression: needsValue ? f.require("value", reader).flatMap { stepExpression($0, f.path("value")) } : nil,
                body: f["body"].flatMap { reader.name($0, f.path("body")) },
                axis: f["axis"].flatMap { reader.choice($0, f.path("axis"), ["x", "y", "xy"]) } ?? "x",
                target: target,
                norm: f["norm"].flatMap { reader.choice($0, f.path("norm"), ["l2", "l1", "abs-clipped"]) } ?? "l2",
                useTrack: f["track"].flatMap { reader.bool($0, f.path("track")) } ?? false)
        }
    }

    func decodeTermination(_ node: YAMLNode) -> [TerminationSpec] {
        reader.listEntries(node, "termination").compactMap { item, path in
            guard let f = reader.mapping(item, path, allowed: ["name", "type", "body", "x", "y", "margin", "value",
                                                               "truncate", "reward", "reward_mode", "doc"]) else { return nil }
            guard let name = f.require("name", reader).flatMap({ reader.name($0, f.path("name")) }),
                  let type = f.require("type", reader).flatMap({
                      reader.choice($0, f.path("type"), ["contact", "out-of-bounds", "asleep", "goal", "off-track", "expression"])
                  })
            else { return nil }
            let body = type == "expression" ? nil : f.require("body", reader).flatMap { reader.name($0, f.path("body")) }
            let condition: TerminationSpec.Condition?
            switch type {
            case "contact": condition = body.map { .contact(body: $0) }
            case "asleep": condition = body.map { .asleep(body: $0) }
            case "goal": condition = body.map { .goalReached(body: $0) }
            case "off-track":
                let margin = f["margin"].flatMap { scalar($0, f.path("margin"), .nonNegative, random: false) } ?? .literal(0)
                condition = body.map { .offTrack(body: $0, margin: margin) }
            case "out-of-bounds":
                let x = f["x"].flatMap { pair($0, f.path("x"), random: false) }
                let y = f["y"].flatMap { pair($0, f.path("y"), random: false) }
                if x == nil && y == nil && !f.has("x") && !f.has("y") { reader.error(item, path, "out-of-bounds needs x or y limits") }
                condition = body.map { .outOfBounds(body: $0, x: x, y: y) }
            default:
                condition = f.require("value", reader).flatMap { stepExpression($0, f.path("value")) }.map { .expression($0) }
            }
            guard let condition else { return nil }
            return TerminationSpec(
                name: name, origin: reader.origin(item, path), condition: condition,
                truncate: f["truncate"].flatMap { reader.bool($0, f.path("truncate")) } ?? false,
                reward: f["reward"].flatMap { scalar($0, f.path("reward"), random: false) },
                rewardMode: f["reward_mode"].flatMap { reader.choice($0, f.path("reward_mode"), ["replace", "add"]) } ?? "replace")
        }
    }
}
