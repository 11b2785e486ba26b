import MetaSimYAML

/// Cross-reference checks over a decoded world: names are unique, references resolve, and every
/// per-step expression uses only names the world defines. Runs after a clean schema walk.
struct WorldValidator {
    let definition: WorldDefinition
    private var out: [Diagnostic] = []

    init(definition: WorldDefinition) {
        self.definition = definition
    }

    /// A problem at `origin`'s key path plus `key`, placed at that value when the file has it.
    mutating func report(_ origin: Origin, _ key: String, _ message: String) {
        let path = key.isEmpty ? origin.keyPath : join(origin.keyPath, key)
        if let mark = definition.marks[path] {
            out.append(Diagnostic(file: definition.markFiles[path] ?? definition.file, mark: mark, keyPath: path, message: message))
        } else {
            out.append(Diagnostic(file: origin.file, mark: origin.mark, keyPath: path, message: message))
        }
    }

    /// A problem at a top-level key path (`discrete_actions[1]`).
    mutating func report(path: String, _ message: String) {
        let top = String(path.prefix { $0 != "[" && $0 != "." })
        let at = definition.marks[path] != nil ? path : top
        let mark = definition.marks[at] ?? YAMLMark(line: 1, column: 1)
        out.append(Diagnostic(file: definition.markFiles[at] ?? definition.file, mark: mark, keyPath: path, message: message))
    }

    consuming func validate() -> [Diagnostic] {
        let d = definition
        let bodies = Dictionary(d.bodies.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let joints = Dictionary(d.joints.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let params = Set(d.parameters.map(\.name))

        func unique<T>(_ items: [T], _ name: (T) -> String, _ origin: (T) -> Origin, _ what: String) {
            var seen: Set<String> = []
            for item in items where !seen.insert(name(item)).inserted {
                report(origin(item), "", "\(what) '\(name(item))' is declared twice")
            }
        }
        unique(d.joints, \.name, \.origin, "joint")
        unique(d.actions.actuators, \.name, \.origin, "actuator")
        unique(d.observations, \.name, \.origin, "observation")
        unique(d.reward, \.name, \.origin, "reward term")
        unique(d.termination, \.name, \.origin, "termination")
        unique(d.disturbances, \.name, \.origin, "disturbance")

        func body(_ name: String?, _ origin: Origin, _ key: String, dynamic: Bool = false) {
            guard let name else { report(origin, "", "needs '\(key)'"); return }
            guard let b = bodies[name] else {
                report(origin, key, "no body named '\(name)'\(suggest(name, bodies.keys))")
                return
            }
            if dynamic, b.type == .static { report(origin, key, "body '\(name)' is static") }
        }

        if d.bodies.allSatisfy({ $0.type == .static }) {
            report(path: "bodies", "a world needs at least one dynamic or kinematic body")
        }
        for b in d.bodies {
            for (i, s) in b.shapes.enumerated() {
                if case .trackEdges = s.geometry, d.track == nil {
                    report(s.origin, "", "track_edges needs a 'track:' section")
                }
                if b.type != .static, case .terrain = s.geometry { report(s.origin, "", "terrain belongs on a static body (shape \(i))") }
            }
        }
        for j in d.joints {
            body(j.bodyA, j.origin, "bodies[0]")
            body(j.bodyB, j.origin, "bodies[1]")
            if j.bodyA == j.bodyB { report(j.origin, "bodies", "a joint connects two different bodies") }
            if let l = j.limits, let a = l[0].literalValue, let b = l[1].literalValue, a > b {
                report(j.origin, "limits", "lower limit \(formatNumber(a)) is above upper limit \(formatNumber(b))")
            }
            if j.motorSpeed != nil, j.type == .weld || j.type == .distance {
                report(j.origin, "motor", "a \(j.type.rawValue) joint has no motor")
            }
            if j.limits != nil, j.type == .weld { report(j.origin, "limits", "a weld joint has no limits") }
        }

        if d.actions.actuators.isEmpty {
            report(path: "actions", "a world needs at least one actuator")
        }
        for a in d.actions.actuators {
            switch a.type {
            case .motor:
                guard let jn = a.joint else { report(a.origin, "", "a motor needs 'joint'"); continue }
                guard let j = joints[jn] else { report(a.origin, "joint", "no joint named '\(jn)'\(suggest(jn, joints.keys))"); continue }
                if j.type == .weld || j.type == .distance { report(a.origin, "joint", "joint '\(jn)' (\(j.type.rawValue)) has no motor") }
            default:
                body(a.body, a.origin, "body", dynamic: true)
            }
        }
        let entries = d.actions.actuators.flatMap(\.entryNames)
        if let discrete = d.actions.discrete {
            for (i, v) in discrete.enumerated() where v.count != entries.count {
                report(path: "discrete_actions[\(i)]", "expected \(entries.count) values (\(entries.joined(separator: ", "))), found \(v.count)")
            }
        }
        if let r = d.episode.resetAction, r.count != (d.actions.discrete == nil ? entries.count : 1) {
            report(path: "episode.reset_action", "expected \(d.actions.discrete == nil ? entries.count : 1) values, found \(r.count)")
        }

        let names = d.stepVariableNames()
        var known = Set(names)
        var seenNames: Set<String> = []
        for n in names where !seenNames.insert(n).inserted {
            let path = d.observations.first { $0.entryNames.contains(n) }.map(\.origin.keyPath) ?? "parameters.\(n)"
            report(path: path, "the name '\(n)' is used twice (parameters, observation entries and body quantities share one namespace)")
        }
        // Observations may only use the entries declared before them.
        let laterObservations = Set(d.observations.flatMap(\.entryNames))
        known.subtract(laterObservations)
        for s in d.observations {
            switch s.type {
            case .position, .angle, .velocity, .angularVelocity, .contact, .goalDistance:
                body(s.body, s.origin, "body")
            case .lidar:
                body(s.body, s.origin, "body")
                if s.angles.count != s.rays { report(s.origin, "angles", "expected \(s.rays) angles") }
            case .jointAngle, .jointSpeed:
                guard let jn = s.joint else { report(s.origin, "", "needs 'joint'"); break }
                guard let j = joints[jn] else { report(s.origin, "joint", "no joint named '\(jn)'\(suggest(jn, joints.keys))"); break }
                if j.type == .weld || j.type == .distance { report(s.origin, "joint", "joint '\(jn)' (\(j.type.rawValue)) has no angle or speed") }
            case .goalVector:
                body(s.body, s.origin, "body")
                if d.goal == nil { report(s.origin, "type", "goal-vector needs a 'goal:' section") }
            case .track:
                body(s.body, s.origin, "body")
                if d.track == nil { report(s.origin, "type", "track observations need a 'track:' section") }
            case .expression:
                if let e = s.expression { checkVariables(e, known, s.origin, "value") }
            }
            if s.type == .goalDistance, d.goal == nil { report(s.origin, "type", "goal-distance needs a 'goal:' section") }
            known.formUnion(s.entryNames)
        }
        known = Set(names)
        for t in d.reward {
            switch t.type {
            case .expression, .potential:
                if let e = t.expression { checkVariables(e, known, t.origin, "value") }
            case .progress, .speedTracking, .contact:
                if !((t.type == .progress || t.type == .speedTracking) && t.useTrack) { body(t.body, t.origin, "body") }
                if t.useTrack, d.track == nil { report(t.origin, "track", "needs a 'track:' section") }
                if t.type == .speedTracking, t.target.isEmpty { report(t.origin, "", "speed-tracking needs 'target'") }
            case .distance:
                body(t.body, t.origin, "body")
                if t.target.isEmpty, d.goal == nil { report(t.origin, "target", "target 'goal' needs a 'goal:' section") }
            case .alive, .actionCost:
                break
            }
        }
        for t in d.termination {
            switch t.condition {
            case .contact(let b), .asleep(let b), .outOfBounds(let b, _, _):
                body(b, t.origin, "body", dynamic: true)
            case .goalReached(let b):
                body(b, t.origin, "body", dynamic: true)
                if d.goal == nil { report(t.origin, "type", "goal termination needs a 'goal:' section") }
            case .offTrack(let b, _):
                body(b, t.origin, "body", dynamic: true)
                if d.track == nil { report(t.origin, "type", "off-track needs a 'track:' section") }
            case .expression(let e):
                checkVariables(e, known, t.origin, "value")
            }
        }
        for w in d.disturbances {
            body(w.body, w.origin, "body", dynamic: true)
            for (i, e) in w.force.enumerated() { checkVariables(e, known, w.origin, "force[\(i)]") }
            if let e = w.torque { checkVariables(e, known, w.origin, "torque") }
            if let e = w.when { checkVariables(e, known, w.origin, "when") }
            if let e = w.pause { checkVariables(e, known, w.origin, "pause") }
        }
        if let follow = d.render.follow, let origin = d.render.origin {
            body(follow, origin, "follow", dynamic: true)
        }
        _ = params
        return out
    }

    mutating func checkVariables(_ e: Expression, _ known: Set<String>, _ origin: Origin, _ key: String) {
        for v in e.variables where !known.contains(v) {
            report(origin, key, "'\(v)' in '\(e.source)' is not a name this world defines\(suggest(v, known))")
        }
    }

    func suggest<S: Sequence>(_ name: String, _ candidates: S) -> String where S.Element == String {
        closest(name, in: Array(candidates)).map { " (did you mean '\($0)'?)" } ?? ""
    }
}

extension WorldDefinition {
    /// Every name a per-step expression can use, in slot order: parameters, `t` and `dt`, body
    /// quantities (`lander.x`, `.y`, `.angle`, `.vx`, `.vy`, `.angular_velocity`, `.awake`,
    /// `.contact`), joint quantities (`hip.angle` or `hip.position`, `hip.speed`), actions
    /// (`action.<entry>`), actuator efforts (`<actuator>.effort`), observation entries,
    /// `goal.x`/`goal.y`, and `track.progress`/`.lateral`/`.heading`/`.speed`/`.distance`.
    public func stepVariableNames() -> [String] {
        var names = parameters.map(\.name)
        names += ["t", "dt"]
        for b in bodies where b.type != .static {
            names += Self.bodyFields.map { "\(b.name).\($0)" }
        }
        for j in joints {
            switch j.type {
            case .revolute: names += ["\(j.name).angle", "\(j.name).speed"]
            case .prismatic, .wheel: names += ["\(j.name).position", "\(j.name).speed"]
            case .weld, .distance: break
            }
        }
        names += actions.actuators.flatMap(\.entryNames).map { "action.\($0)" }
        names += actions.actuators.map { "\($0.name).effort" }
        names += observations.flatMap(\.entryNames)
        if goal != nil { names += ["goal.x", "goal.y"] }
        if track != nil { names += ["track.progress", "track.lateral", "track.heading", "track.speed", "track.distance"] }
        return names
    }

    static let bodyFields = ["x", "y", "angle", "vx", "vy", "angular_velocity", "awake", "contact"]
}
