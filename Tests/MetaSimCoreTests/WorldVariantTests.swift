import Foundation
import MetaSimTestSupport
import MetaSimYAML
import Testing

@testable import MetaSimCore

/// World variants (`extends:`): the merge, the errors that involve several files, the identity
/// of a variant, `metasim validate --print`'s text, and the catalog's variant
/// (`lunar-lander-discrete`). Single-file mistakes are cases of `Malformed/` (33 and later).
@Suite("World variants")
struct WorldVariantTests {
    static let base = """
        name: ball
        parameters:
          G: -9.8
          mass:
            uniform: [0.5, 2]
            doc: Ball mass (kg).
        simulation:
          timestep: 0.02
          gravity: [0, G]
        bodies:
          ground:
            type: static
            shapes:
              - box: {half_extents: [5, 0.5]}
          ball:
            position: [0, 2]
            shapes:
              - circle: 0.5
                density: mass
        actions:
          - name: push
            type: force
            body: ball
            max_force: 10
        observations:
          - name: ball_y
            type: position
            body: ball
            axis: y
          - name: ball_vy
            type: velocity
            body: ball
            axis: y
        reward:
          - name: alive
            type: alive
        termination:
          - name: fell
            type: contact
            body: ball

        """

    /// A folder with `files` written in it (names may hold subfolders).
    static func folder(_ files: [String: String]) throws -> String {
        let folder = TestPaths.temporaryFolder()
        for (name, text) in files {
            let path = "\(folder)/\(name)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return folder
    }

    /// The diagnostics of loading `path` (an issue if it loads).
    static func diagnostics(_ path: String, catalogRoot: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> [Diagnostic] {
        do {
            let d = try WorldDefinition.load(contentsOfFile: path, catalogRoot: catalogRoot)
            Issue.record("\(path) loaded as '\(d.name)'", sourceLocation: sourceLocation)
            return []
        } catch {
            return error.diagnostics
        }
    }

    @Test("a variant replaces parameters by name, merges list entries key by key, keeps the base's order")
    func merge() throws {
        let folder = try Self.folder([
            "ball.yaml": Self.base,
            "heavy.yaml": """
                extends: ball
                name: ball-heavy
                description: A heavier ball.
                parameters:
                  mass: {uniform: [3, 4], nominal: 3.5}
                actions:
                  - name: push
                    max_force: 20
                observations:
                  - name: ball_vy
                    scale: 0.5
                discrete_actions:
                  - [0]
                  - [1]

                """,
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let base = try WorldDefinition.load(contentsOfFile: "\(folder)/ball.yaml")
        let d = try WorldDefinition.load(contentsOfFile: "\(folder)/heavy.yaml")
        #expect(d.name == "ball-heavy")
        #expect(d.description == "A heavier ball.")
        #expect(d.file == "\(folder)/heavy.yaml")
        #expect(d.parameters.map(\.name) == ["G", "mass"])
        #expect(d.parameters[1].nominal?.literalValue == 3.5)
        #expect(d.parameters[1].doc == "", "a parameter is replaced whole, its doc too")
        #expect(d.actions.actuators.count == 1)
        #expect(d.actions.actuators[0].body == "ball", "keys the override does not give are the base's")
        #expect(d.actions.actuators[0].maxEffort.literalValue == 20)
        #expect(d.observations.map(\.name) == ["ball_y", "ball_vy"])
        #expect(d.observations[1].scale.literalValue == 0.5)
        #expect(d.observations[1].quantity == "y")
        #expect(d.actions.discrete == [[0], [1]])
        #expect(d.reward.map(\.name) == base.reward.map(\.name))
        #expect(d.termination.map(\.name) == base.termination.map(\.name))
        // A value from the base keeps its place in the base file; an override's is in the variant.
        #expect(d.parameters[0].value.origin.file == "\(folder)/ball.yaml")
        #expect(d.parameters[1].value.origin.file == "\(folder)/heavy.yaml")
    }

    @Test("add: appends entries the base lacks, remove: drops the base's, after the overrides")
    func addAndRemove() throws {
        let folder = try Self.folder([
            "ball.yaml": Self.base,
            "mirrored.yaml": """
                extends: ball
                name: ball-mirrored
                actions:
                  - name: push
                    direction: [push_sign, 0]
                remove:
                  observations: [ball_vy]
                  termination: [fell]
                add:
                  parameters:
                    push_sign: {choice: [-1, 1], doc: Which way a positive action pushes.}
                  observations:
                    - {name: ball_x, type: position, body: ball, axis: x}
                  reward:
                    - {name: right, type: expression, value: ball_x}

                """,
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let d = try WorldDefinition.load(contentsOfFile: "\(folder)/mirrored.yaml")
        #expect(d.parameters.map(\.name) == ["G", "mass", "push_sign"])
        #expect(d.familyParameters.map(\.name) == ["mass", "push_sign"])
        #expect(d.observations.map(\.name) == ["ball_y", "ball_x"])
        #expect(d.reward.map(\.name) == ["alive", "right"])
        #expect(d.termination.isEmpty)
        #expect(d.parameters[2].value.origin.file == "\(folder)/mirrored.yaml")
        // The hidden sign changes what an action does: the same push moves the ball the other way.
        var moved: [Double] = []
        for sign in [-1.0, 1.0] {
            let world = try World(definition: d, task: d.nominalTask(overrides: ["push_sign": sign]))
            _ = world.reset(seed: 1)
            for _ in 0..<10 { _ = world.step([1]) }
            moved.append(world.required("ball.x"))
        }
        #expect(moved[0] < 0 && moved[1] > 0, "\(moved)")

        // Removing what is not there, or something already removed, is an error at its line.
        try "extends: ball\nname: b\nremove:\n  reward: [alive, alive]\n  bodies: [ground]\n"
            .write(toFile: "\(folder)/bad.yaml", atomically: true, encoding: .utf8)
        let errors = Self.diagnostics("\(folder)/bad.yaml")
        #expect(errors.count == 2, "\(errors)")
        #expect(errors.contains { $0.line == 4 && $0.column == 19 && $0.keyPath == "remove.reward[1]" && $0.message.contains("removed twice") }, "\(errors)")
        #expect(errors.contains { $0.line == 5 && $0.column == 3 && $0.keyPath == "remove.bodies" && $0.message.contains("no entries to remove by name") }, "\(errors)")
    }

    @Test("episode: and goal: merge key by key: the keys a variant gives replace the base's, the others stay")
    func episodeAndGoal() throws {
        let withGoal = Self.base + """
            episode:
              horizon: 50
              reset_steps: 2
            goal:
              position: [1, 2]
              radius: 0.3

            """
        let folder = try Self.folder([
            "ball.yaml": Self.base,
            "goal-ball.yaml": withGoal,
            "hidden.yaml": """
                extends: goal-ball
                name: ball-hidden-goal
                episode:
                  horizon: 20
                goal:
                  position: [gx, 0]
                add:
                  parameters:
                    gx: {uniform: [-2, 2], nominal: 1.5}

                """,
            "short.yaml": "extends: ball\nname: ball-short\nepisode:\n  horizon: 30\n  reward_threshold: 25\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let base = try WorldDefinition.load(contentsOfFile: "\(folder)/goal-ball.yaml")
        let d = try WorldDefinition.load(contentsOfFile: "\(folder)/hidden.yaml")
        #expect(base.episode.horizon == 50 && d.episode.horizon == 20)
        #expect(d.episode.resetSteps == 2, "a key the variant does not give is the base's")
        let goal = try #require(d.goal)
        #expect(goal.radius.literalValue == 0.3)
        #expect(goal.origin.file == "\(folder)/goal-ball.yaml", "the goal section is the base's, merged")
        #expect(goal.position[1].literalValue == 0 && goal.position[0].literalValue == nil, "x is the new parameter")
        #expect(goal.position[0].origin.file == "\(folder)/hidden.yaml")
        // The goal is per task now: two tasks put it at their own gx.
        for gx in [-1.0, 1.5] {
            let program = try WorldProgram(definition: d, task: d.nominalTask(overrides: ["gx": gx]))
            #expect(program.resolved.goal?.position.map(\.literalValue) == [gx, 0])
        }

        // Over a base without an episode: section, the variant's keys are added to the defaults.
        let short = try WorldDefinition.load(contentsOfFile: "\(folder)/short.yaml")
        #expect(short.episode.horizon == 30 && short.episode.rewardThreshold == 25)
        #expect(short.episode.resetSteps == 0)

        // Not a mapping; an unknown key (found by the schema walk, in the variant); a goal over a
        // base that has none (Malformed/44).
        try "extends: ball\nname: b\nepisode: 5\n".write(toFile: "\(folder)/bad.yaml", atomically: true, encoding: .utf8)
        let notMapping = Self.diagnostics("\(folder)/bad.yaml")
        #expect(notMapping.count == 1 && notMapping.first.map { $0.line == 3 && $0.column == 10 && $0.keyPath == "episode"
                                                              && $0.message.contains("expected a mapping") } == true, "\(notMapping)")
        try "extends: goal-ball\nname: b\nepisode:\n  horizn: 5\n".write(toFile: "\(folder)/bad.yaml", atomically: true, encoding: .utf8)
        let unknown = Self.diagnostics("\(folder)/bad.yaml")
        #expect(unknown.count == 1 && unknown.first.map { $0.file == "\(folder)/bad.yaml" && $0.line == 4 && $0.column == 3
                                                         && $0.keyPath == "episode.horizn" } == true, "\(unknown)")
    }

    @Test("a cycle through several files is an error naming every file in it")
    func cycle() throws {
        let folder = try Self.folder([
            "a.yaml": "extends: b.yaml\nname: a\n",
            "b.yaml": "name: b\nextends: c\n",
            "c.yaml": "name: c\nextends: ./a.yaml\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let d = Self.diagnostics("\(folder)/a.yaml")
        #expect(d.count == 1)
        let e = try #require(d.first)
        // Found when c.yaml (line 2, column 10) names a.yaml again.
        #expect(e.file == "\(folder)/c.yaml" && e.line == 2 && e.column == 10 && e.keyPath == "extends", "\(e)")
        #expect(e.message.contains("cycle: \(folder)/a.yaml -> \(folder)/b.yaml -> \(folder)/c.yaml -> \(folder)/a.yaml"), "\(e)")
    }

    @Test("extends chains are bounded")
    func depth() throws {
        var files = ["w0.yaml": Self.base]
        for i in 1...(WorldVariants.maxDepth + 2) {
            files["w\(i).yaml"] = "extends: w\(i - 1)\nname: w\(i)\n"
        }
        let folder = try Self.folder(files)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A chain within the limit loads; one beyond it is an error at an extends: line.
        let ok = try WorldDefinition.load(contentsOfFile: "\(folder)/w\(WorldVariants.maxDepth - 1).yaml")
        #expect(ok.name == "w\(WorldVariants.maxDepth - 1)")
        let d = Self.diagnostics("\(folder)/w\(WorldVariants.maxDepth + 2).yaml")
        #expect(d.count == 1 && d[0].keyPath == "extends" && d[0].line == 1 && d[0].column == 10, "\(d)")
        #expect(d.first?.message.contains("limited to \(WorldVariants.maxDepth) files") == true, "\(d)")
    }

    @Test("a mistake in a base points into the base file; one in an override into the variant")
    func diagnosticsPointAtTheirFile() throws {
        let brokenBase = Self.base.replacingOccurrences(of: "max_force: 10", with: "max_force: -10")
        let folder = try Self.folder([
            "worlds/ball.yaml": brokenBase,
            "variants/deep/heavy.yaml": "extends: ../../worlds/ball.yaml\nname: heavy\nparameters:\n  mass: 3\n",
            "variants/deep/heavier.yaml": "extends: heavy\nname: heavier\nobservations:\n  - name: ball_y\n    body: grund\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let d = Self.diagnostics("\(folder)/variants/deep/heavier.yaml")
        let report = d.map(\.description).joined(separator: "\n")
        #expect(d.count == 1, "\(report)")
        // The base's own mistake is found by the schema walk (before any cross reference).
        #expect(d.first.map { $0.file.hasSuffix("/variants/deep/../../worlds/ball.yaml") && $0.line == 24 && $0.column == 16
                              && $0.keyPath == "actions[0].max_force" } == true, "\(report)")

        // With the base fixed, the override's dangling body is reported in the variant, at its line.
        try Self.base.write(toFile: "\(folder)/worlds/ball.yaml", atomically: true, encoding: .utf8)
        let fixed = Self.diagnostics("\(folder)/variants/deep/heavier.yaml")
        #expect(fixed.count == 1, "\(fixed)")
        #expect(fixed.first.map { $0.file == "\(folder)/variants/deep/heavier.yaml" && $0.line == 5 && $0.column == 11
                                  && $0.keyPath == "observations[0].body" && $0.message.contains("no body named 'grund'") } == true,
                "\(fixed)")

        // A base value that a variant's override makes wrong is reported where the base wrote it:
        // a termination on the body the variant made static.
        try Self.base.replacingOccurrences(of: "type: static", with: "type: static\n    doc: ground")
            .write(toFile: "\(folder)/worlds/ball.yaml", atomically: true, encoding: .utf8)
        try "extends: ../../worlds/ball.yaml\nname: heavy\ntermination:\n  - name: fell\n    body: ground\n"
            .write(toFile: "\(folder)/variants/deep/heavy.yaml", atomically: true, encoding: .utf8)
        let staticBody = Self.diagnostics("\(folder)/variants/deep/heavier.yaml")
        #expect(staticBody.contains { $0.file == "\(folder)/variants/deep/heavy.yaml" && $0.line == 5 && $0.keyPath == "termination[0].body"
                                      && $0.message.contains("is static") }, "\(staticBody)")
    }

    @Test("a base named by its catalog name is found in the catalog when it is not next to the file")
    func catalogBase() throws {
        let folder = try Self.folder([
            "catalog/robots/ball.yaml": Self.base,
            "mine/heavy.yaml": "extends: ball\nname: heavy\nparameters:\n  mass: 3\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let d = Self.diagnostics("\(folder)/mine/heavy.yaml")
        #expect(d.first?.message.contains("no world 'ball' to extend") == true, "\(d)")
        let world = try WorldDefinition.load(contentsOfFile: "\(folder)/mine/heavy.yaml", catalogRoot: "\(folder)/catalog")
        #expect(world.name == "heavy" && world.familyParameters.isEmpty)
        // The catalog lists a variant like any other world.
        let catalog = WorldCatalog(root: "\(folder)/catalog")
        #expect(catalog.entries.map(\.name) == ["ball"] && catalog.failures.isEmpty)
    }

    @Test("a variant's identity covers its base: changing the base changes the variant's hash")
    func identity() throws {
        let folder = try Self.folder(["ball.yaml": Self.base, "heavy.yaml": "extends: ball\nname: heavy\n"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let base = try WorldDefinition.load(contentsOfFile: "\(folder)/ball.yaml")
        #expect(base.fileHash == fnv1a64(Array(Self.base.utf8)), "a world that extends nothing keeps the hash of its bytes")
        let before = try WorldDefinition.load(contentsOfFile: "\(folder)/heavy.yaml").fileHash
        #expect(before != base.fileHash && before != fnv1a64(Array("extends: ball\nname: heavy\n".utf8)))
        try (Self.base + "# a comment\n").write(toFile: "\(folder)/ball.yaml", atomically: true, encoding: .utf8)
        let after = try WorldDefinition.load(contentsOfFile: "\(folder)/heavy.yaml").fileHash
        #expect(after != before)
    }

    @Test("inline world text cannot extend a file")
    func inline() {
        #expect {
            _ = try WorldDefinition.parse("name: x\nextends: lunar-lander\n", file: "inline.yaml")
        } throws: { error in
            guard let e = error as? WorldError, case .invalid(let d) = e else { return false }
            return d.count == 1 && d[0].line == 2 && d[0].column == 1 && d[0].keyPath == "extends" && d[0].message.contains("inline")
        }
    }

    /// Steps `world` through `steps` fixed actions from episode seed 5, returning every observation and reward.
    static func trace(_ world: World, actions: [[Float]]) -> ([[Float]], [Double]) {
        var observations = [world.reset(seed: 5)]
        var rewards: [Double] = []
        for a in actions {
            let r = world.step(a)
            observations.append(world.observation)
            rewards.append(r.reward)
            if r.terminated || r.truncated { break }
        }
        return (observations, rewards)
    }

    @Test("--print's text, read again, is the same world: same specs, parameters and episodes",
          arguments: TestSupport.catalogFiles().map(WorldCatalog.worldName))
    func printedWorld(name: String) throws {
        let path = try #require(TestSupport.catalogPath(named: name))
        let text = try WorldDefinition.resolvedText(contentsOfFile: path, catalogRoot: TestSupport.worldsRoot)
        #expect(!text.contains("extends"))
        let original = try WorldDefinition.load(contentsOfFile: path, catalogRoot: TestSupport.worldsRoot)
        let printed = try WorldDefinition.parse(text, file: "printed.yaml")
        #expect(printed.name == original.name && printed.description == original.description)
        #expect(printed.parameters.map(\.name) == original.parameters.map(\.name))
        func summaries(_ d: WorldDefinition) -> [String] {
            d.familyParameters.map { p in if case .random(let r) = p.value.kind { r.summary } else { "" } }
        }
        #expect(summaries(printed) == summaries(original))
        for seed: UInt64 in [1, 1_000_000_005] {
            let a = try World(definition: original, task: original.sampleTask(seed: seed))
            let b = try World(definition: printed, task: printed.sampleTask(seed: seed))
            #expect(a.specs == b.specs)
            let actions: [[Float]] = (0..<60).map { i in
                a.specs.discreteActions.map { [Float(i % $0)] } ?? (0..<a.specs.action.count).map { j in Float(((i + j) % 5) - 2) / 2 }
            }
            let (oa, ra) = Self.trace(a, actions: actions)
            let (ob, rb) = Self.trace(b, actions: actions)
            #expect(oa == ob && ra == rb)
        }
        // The text holds the merged tree: every key, every scalar (plain stays plain, a quoted one
        // stays a string), in the same order below the top level.
        let tree = try WorldDefinition.resolved(contentsOfFile: path, catalogRoot: TestSupport.worldsRoot).root
        let reread = try #require(try YAML.parse(text, file: "printed.yaml"))
        let difference = Self.difference(tree, reread, ordered: false)
        #expect(difference == nil, "the printed tree differs from the merged one at \(difference ?? "")")
        // Printing is stable: the printed world prints as itself.
        let folder = try Self.folder(["printed.yaml": text])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try WorldDefinition.resolvedText(contentsOfFile: "\(folder)/printed.yaml") == text)
    }

    /// The first place where two trees differ in keys or scalars (marks, files and quoting
    /// style aside, except that a plain scalar must stay plain), or nil. The root's keys may be
    /// reordered.
    static func difference(_ a: YAMLNode, _ b: YAMLNode, _ path: String = "", ordered: Bool = true) -> String? {
        switch (a.kind, b.kind) {
        case (.scalar(let x, let sx), .scalar(let y, let sy)):
            if a.isNull && b.isNull { return nil }
            return x == y && (sx == .plain) == (sy == .plain) && a.isNull == b.isNull ? nil : "\(path): '\(x)' (\(sx)) vs '\(y)' (\(sy))"
        case (.sequence(let xs), .sequence(let ys)):
            guard xs.count == ys.count else { return "\(path): \(xs.count) vs \(ys.count) items" }
            return zip(xs, ys).enumerated().lazy.compactMap { difference($1.0, $1.1, "\(path)[\($0)]") }.first
        case (.mapping(let xs), .mapping(let ys)):
            guard xs.map(\.key.scalar).sorted(by: { ($0 ?? "") < ($1 ?? "") }) == ys.map(\.key.scalar).sorted(by: { ($0 ?? "") < ($1 ?? "") }),
                  !ordered || xs.map(\.key.scalar) == ys.map(\.key.scalar) else {
                return "\(path): keys \(xs.compactMap(\.key.scalar)) vs \(ys.compactMap(\.key.scalar))"
            }
            return xs.lazy.compactMap { x in
                ys.first { $0.key.scalar == x.key.scalar }.flatMap { difference(x.value, $0.value, "\(path).\(x.key.scalar ?? "")") }
            }.first
        default:
            return "\(path): a \(a.kindName) vs a \(b.kindName)"
        }
    }

    @Test("lunar-lander-discrete is lunar-lander with Gymnasium's four actions: each index steps as its row")
    func lunarLanderDiscrete() throws {
        let root = TestSupport.worldsRoot
        let continuous = try WorldCatalog.resolve("lunar-lander", root: root)
        let discrete = try WorldCatalog.resolve("lunar-lander-discrete", root: root)
        let text = try String(contentsOfFile: try #require(TestSupport.catalogPath(named: "lunar-lander-discrete")), encoding: .utf8)
        #expect(text.contains("extends: lunar-lander\n"), "a variant, not a copy")
        #expect(discrete.name == "lunar-lander-discrete")
        let table = try #require(discrete.actions.discrete)
        #expect(table == [[0, 0], [0, -1], [1, 0], [0, 1]])
        #expect(discrete.parameters.map(\.name) == continuous.parameters.map(\.name))
        for seed: UInt64 in [3, 1_000_000_005] {
            let a = try World(definition: continuous, task: continuous.sampleTask(seed: seed))
            let b = try World(definition: discrete, task: discrete.sampleTask(seed: seed))
            #expect(a.specs.observation == b.specs.observation)
            let indices = (0..<200).map { ($0 * 7 + $0 / 3) % 4 }
            let (oa, ra) = Self.trace(a, actions: indices.map { table[$0].map(Float.init) })
            let (ob, rb) = Self.trace(b, actions: indices.map { [Float($0)] })
            #expect(oa == ob && ra == rb)
        }
    }
}
