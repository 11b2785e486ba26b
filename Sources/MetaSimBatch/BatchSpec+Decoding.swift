import Foundation
import MetaSimCore
import MetaSimYAML

extension BatchSpec {
    /// Loads and checks a batch spec file. Every problem is reported (compiler style, with the
    /// key path); no spec is returned when there is any.
    public static func load(contentsOfFile path: String) throws(BatchError) -> BatchSpec {
        do { return try decode(SchemaDocument(contentsOfFile: path)) } catch { throw .invalid(error.diagnostics) }
    }

    /// Parses a batch spec given as text (`file` names it in errors and anchors relative paths).
    public static func parse(_ text: String, file: String) throws(BatchError) -> BatchSpec {
        do { return try decode(SchemaDocument(text: text, file: file)) } catch { throw .invalid(error.diagnostics) }
    }

    private static func decode(_ document: SchemaDocument) throws(SchemaDocumentError) -> BatchSpec {
        let root = try document.requireRoot()
        let file = document.file
        let reader = SchemaReader(file: file)
        let spec = BatchSpecDecoder(reader: reader).decode(root, file: file)
        guard reader.diagnostics.isEmpty, let spec else {
            throw .invalid(reader.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return spec
    }
}

/// The schema walk of a batch spec.
struct BatchSpecDecoder {
    let reader: SchemaReader

    static let topKeys = ["name", "worlds", "tasks", "grid", "policies", "episodes", "seed"]
    static let entryKeys = ["world", "tasks", "grid"]
    /// Most seeds one `{from, count}` range may expand to.
    static let maxSeedCount = 1_000_000

    func decode(_ root: YAMLNode, file: String) -> BatchSpec? {
        guard let f = reader.mapping(root, "", allowed: Self.topKeys) else { return nil }
        let name = f["name"].flatMap { reader.string($0, "name") }
            ?? URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let tasks = f["tasks"].map { decodeTasks($0, "tasks") } ?? .nominalOnly
        let grid = f["grid"].map { decodeGrid($0, "grid") } ?? []
        let worlds = f.require("worlds", reader).map { decodeWorlds($0, tasks: tasks ?? .nominalOnly, grid: grid) }
        let policies = f["policies"].map { decodePolicies($0, "policies") }
            ?? [PolicyEntry(policy: .baseline(.random), origin: reader.origin(root, ""))]
        let episodes = f["episodes"].flatMap { reader.integer($0, "episodes", min: 1, max: 1_000_000) } ?? 10
        let seed = f["seed"].flatMap { reader.integer($0, "seed", min: 0) }.map(UInt64.init) ?? 0
        guard let worlds, tasks != nil else { return nil }
        return BatchSpec(name: name, worlds: worlds, policies: policies, episodes: episodes, seed: seed,
                         file: file)
    }

    /// `worlds: all`, or a list of names, paths, `all`, or `{world:, tasks:, grid:}` entries.
    private func decodeWorlds(_ node: YAMLNode, tasks: BatchSpec.TaskSelection, grid: [BatchSpec.GridAxis]) -> [BatchSpec.WorldEntry] {
        if let s = node.scalar, case .scalar = node.kind {
            guard s == "all" else {
                reader.error(node, "worlds", "expected a list of worlds, or 'all' for the whole catalog")
                return []
            }
            return [BatchSpec.WorldEntry(world: "all", tasks: tasks, grid: grid, origin: reader.origin(node, "worlds"))]
        }
        guard let items = reader.sequence(node, "worlds") else { return [] }
        if items.isEmpty { reader.error(node, "worlds", "needs at least one world") }
        var out: [BatchSpec.WorldEntry] = []
        for (i, item) in items.enumerated() {
            let path = "worlds[\(i)]"
            if item.mapping != nil {
                guard let f = reader.mapping(item, path, allowed: Self.entryKeys) else { continue }
                guard let worldNode = f.require("world", reader),
                      let world = worldName(worldNode, f.path("world")) else { continue }
                let entryTasks = f["tasks"].map { decodeTasks($0, f.path("tasks")) } ?? tasks
                let entryGrid = f["grid"].map { decodeGrid($0, f.path("grid")) } ?? grid
                guard let entryTasks else { continue }
                out.append(BatchSpec.WorldEntry(world: world, tasks: entryTasks, grid: entryGrid,
                                                origin: reader.origin(worldNode, f.path("world"))))
            } else if let world = worldName(item, path) {
                out.append(BatchSpec.WorldEntry(world: world, tasks: tasks, grid: grid, origin: reader.origin(item, path)))
            }
        }
        return out
    }

    private func worldName(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = reader.string(node, path) else { return nil }
        guard !s.isEmpty else { reader.error(node, path, "expected a world name or path, found ''"); return nil }
        return s
    }

    /// `nominal`, or `{nominal: BOOL, seeds: [..] | {from: A, count: N}}`. Nil after an error.
    private func decodeTasks(_ node: YAMLNode, _ path: String) -> BatchSpec.TaskSelection? {
        if case .scalar(let s, _) = node.kind {
            guard s == "nominal" else {
                reader.error(node, path, "expected 'nominal' or a mapping with seeds: and nominal:, found '\(s)'")
                return nil
            }
            return .nominalOnly
        }
        guard let f = reader.mapping(node, path, allowed: ["nominal", "seeds"]) else { return nil }
        var ok = true
        let nominal = f["nominal"].map { n -> Bool in
            guard let b = reader.bool(n, f.path("nominal")) else { ok = false; return false }
            return b
        } ?? false
        var seeds: [UInt64] = []
        if let s = f["seeds"] {
            if let list = decodeSeeds(s, f.path("seeds")) { seeds = list } else { ok = false }
        }
        guard ok else { return nil }
        guard nominal || !seeds.isEmpty else {
            reader.error(node, path, "selects no task: give seeds: (a list or {from:, count:}) or nominal: true")
            return nil
        }
        return BatchSpec.TaskSelection(nominal: nominal, seeds: seeds)
    }

    private func decodeSeeds(_ node: YAMLNode, _ path: String) -> [UInt64]? {
        if node.mapping != nil {
            guard let f = reader.mapping(node, path, allowed: ["from", "count"]) else { return nil }
            let from = f["from"].map { reader.integer($0, f.path("from"), min: 0) } ?? 0
            let count = f.require("count", reader).flatMap { reader.integer($0, f.path("count"), min: 1, max: Self.maxSeedCount) }
            guard let from, let count else { return nil }
            return (0..<count).map { UInt64(from) &+ UInt64($0) }
        }
        guard let items = reader.sequence(node, path) else { return nil }
        guard !items.isEmpty else { reader.error(node, path, "needs at least one seed"); return nil }
        var seeds: [UInt64] = []
        var seen: [UInt64: Int] = [:]
        for (i, item) in items.enumerated() {
            guard let v = reader.integer(item, "\(path)[\(i)]", min: 0) else { return nil }
            if let first = seen[UInt64(v)] {
                reader.error(item, "\(path)[\(i)]", "task seed \(v) is already listed (\(path)[\(first)])")
                return nil
            }
            seen[UInt64(v)] = i
            seeds.append(UInt64(v))
        }
        return seeds
    }

    /// `{PARAM: VALUE | [VALUES...], ...}`: the product of the axes, in file order.
    private func decodeGrid(_ node: YAMLNode, _ path: String) -> [BatchSpec.GridAxis] {
        var axes: [BatchSpec.GridAxis] = []
        for (name, value, p) in reader.namedEntries(node, path) {
            var values: [Double] = []
            if value.sequence != nil {
                guard let items = reader.sequence(value, p) else { continue }
                guard !items.isEmpty else { reader.error(value, p, "needs at least one value"); continue }
                let parsed = items.enumerated().compactMap { reader.literal($1, "\(p)[\($0)]") }
                guard parsed.count == items.count else { continue }
                values = parsed
            } else {
                guard let v = reader.literal(value, p) else { continue }
                values = [v]
            }
            axes.append(BatchSpec.GridAxis(parameter: name, values: values, origin: reader.origin(value, p)))
        }
        return axes
    }

    /// A list of `random`, `zero`, or `{checkpoint: PATH, adapt: {steps: S | [S...], episodes: K}}`.
    private func decodePolicies(_ node: YAMLNode, _ path: String) -> [PolicyEntry] {
        guard let items = reader.sequence(node, path) else { return [] }
        if items.isEmpty { reader.error(node, path, "needs at least one policy") }
        var out: [PolicyEntry] = []
        for (i, item) in items.enumerated() {
            let p = "\(path)[\(i)]"
            if item.mapping == nil {
                guard let s = reader.choice(item, p, BaselinePolicy.Kind.allCases.map(\.rawValue) + ["checkpoint"]) else { continue }
                guard let kind = BaselinePolicy.Kind(rawValue: s) else {
                    reader.error(item, p, "a checkpoint policy is a mapping: {checkpoint: PATH, adapt: {steps: S, episodes: K}}")
                    continue
                }
                out.append(PolicyEntry(policy: .baseline(kind), origin: reader.origin(item, p)))
                continue
            }
            guard let f = reader.mapping(item, p, allowed: ["checkpoint", "adapt"]),
                  let pathNode = f.require("checkpoint", reader),
                  let checkpoint = reader.string(pathNode, f.path("checkpoint")) else { continue }
            guard !checkpoint.isEmpty else { reader.error(pathNode, f.path("checkpoint"), "expected a file path, found ''"); continue }
            guard let adaptNode = f["adapt"] else {
                out.append(PolicyEntry(policy: .checkpoint(path: checkpoint, adapt: nil), origin: reader.origin(item, p)))
                continue
            }
            let ap = f.path("adapt")
            guard let a = reader.mapping(adaptNode, ap, allowed: ["steps", "episodes"]) else { continue }
            var steps: [Int]?
            if let s = a.require("steps", reader) {
                if s.sequence != nil, let list = reader.sequence(s, a.path("steps")) {
                    let parsed = list.enumerated().compactMap { reader.integer($1, "\(a.path("steps"))[\($0)]", min: 0) }
                    if list.isEmpty { reader.error(s, a.path("steps"), "needs at least one value") }
                    else if parsed.count == list.count { steps = parsed }
                } else if let v = reader.integer(s, a.path("steps"), min: 0) {
                    steps = [v]
                }
            }
            let episodes = a.require("episodes", reader).flatMap { reader.integer($0, a.path("episodes"), min: 1) }
            guard let steps, let episodes else { continue }
            for s in steps {
                out.append(PolicyEntry(policy: .checkpoint(path: checkpoint, adapt: .init(steps: s, episodes: episodes)),
                                       origin: reader.origin(item, p)))
            }
        }
        return out
    }
}
