import Foundation
import MetaSimCore
import MetaSimYAML

/// A batch spec expanded into its units, in canonical order: worlds in spec order (the catalog
/// sorted by path for `all`), then tasks (nominal first, then seeds as listed), grid points
/// (the product of the axes, first axis slowest), policies as listed.
public struct BatchPlan: Sendable {
    public let spec: BatchSpec
    /// The worlds the units run, loaded once.
    public let definitions: [WorldDefinition]
    public let units: [BatchUnit]
    /// Identity of what the batch computes (unit keys, world file contents, episodes, seed):
    /// an output folder only resumes, and shards only merge, under the same fingerprint.
    public let fingerprint: UInt64

    /// Resolves the spec's worlds (catalog names in `worldsRoot`, paths relative to the spec's
    /// folder), draws the tasks and expands the grid. Every problem is reported together.
    public init(spec: BatchSpec, worldsRoot: String?) throws(BatchError) {
        self.spec = spec
        var diagnostics: [Diagnostic] = []
        var definitions: [WorldDefinition] = []
        var definitionIndex: [String: Int] = [:]
        var units: [BatchUnit] = []
        var firstOrigin: [String: Origin] = [:]
        let specFolder = URL(fileURLWithPath: spec.file).deletingLastPathComponent()

        func diagnose(_ origin: Origin, _ message: String) {
            diagnostics.append(Diagnostic(file: origin.file, mark: origin.mark, keyPath: origin.keyPath, message: message))
        }

        for entry in spec.worlds {
            var resolved: [WorldDefinition] = []
            if entry.world == "all" {
                guard let worldsRoot else { diagnose(entry.origin, "no worlds folder found for 'all' (use --worlds DIR)"); continue }
                let catalog = WorldCatalog(root: worldsRoot)
                for failure in catalog.failures { diagnostics += failure.error.diagnostics }
                if catalog.entries.isEmpty, catalog.failures.isEmpty { diagnose(entry.origin, "the catalog \(worldsRoot) holds no worlds") }
                resolved = catalog.entries.map(\.definition)
            } else {
                let isPath = entry.world.contains("/") || entry.world.hasSuffix(".yaml") || entry.world.hasSuffix(".yml")
                let target = isPath && !entry.world.hasPrefix("/") ? specFolder.appendingPathComponent(entry.world).path : entry.world
                do {
                    // A path's variant (extends:) may name its base in the catalog: the root goes along.
                    resolved = [try WorldCatalog.resolve(target, root: worldsRoot)]
                } catch {
                    switch error {
                    case .notFound:
                        var message = isPath ? "no world file at \(target)" : "no world named '\(entry.world)'"
                        if !isPath, let worldsRoot {
                            let names = WorldCatalog.yamlFiles(under: worldsRoot).map(WorldCatalog.worldName)
                            if let near = closest(entry.world, in: names) { message += " (did you mean '\(near)'?)" }
                            else { message += " in \(worldsRoot)" }
                        }
                        diagnose(entry.origin, message)
                    default:
                        diagnostics += error.diagnostics
                        diagnose(entry.origin, "world '\(entry.world)' does not load (see above)")
                    }
                    continue
                }
            }
            for definition in resolved {
                let key = "\(definition.name)#\(definition.fileHash)"
                let wi: Int
                if let i = definitionIndex[key] { wi = i } else {
                    wi = definitions.count
                    definitionIndex[key] = wi
                    definitions.append(definition)
                }
                var gridOK = true
                for axis in entry.grid where !definition.parameters.contains(where: { $0.name == axis.parameter }) {
                    let near = closest(axis.parameter, in: definition.parameters.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                    diagnose(axis.origin, "world '\(definition.name)' has no parameter '\(axis.parameter)'\(near)")
                    gridOK = false
                }
                guard gridOK else { continue }
                let taskSeeds: [UInt64?] = (entry.tasks.nominal ? [nil] : []) + entry.tasks.seeds.map { Optional($0) }
                let names = entry.grid.map(\.parameter)
                for taskSeed in taskSeeds {
                    for point in Self.product(entry.grid.map(\.values)) {
                        let overrides = Dictionary(uniqueKeysWithValues: zip(names, point))
                        let task: WorldTask
                        do throws(WorldError) {
                            if let taskSeed { task = try definition.sampleTask(seed: taskSeed, overrides: overrides) }
                            else { task = try definition.nominalTask(overrides: overrides) }
                        } catch {
                            diagnose(entry.origin, "world '\(definition.name)': \(error.description)")
                            continue
                        }
                        for p in spec.policies {
                            let key = BatchUnit.key(world: definition.name, task: task, overrides: names, values: point, policy: p.policy)
                            if let first = firstOrigin[key] {
                                diagnose(entry.origin, "unit '\(key)' is already in the batch (from \(first.keyPath) at line \(first.mark.line))")
                                continue
                            }
                            firstOrigin[key] = entry.origin
                            units.append(BatchUnit(index: units.count, key: key, worldIndex: wi, world: definition.name,
                                                   task: task, overrides: names, overrideValues: point, policy: p.policy,
                                                   policyOrigin: p.origin, episodes: spec.episodes, firstSeed: spec.seed))
                        }
                    }
                }
            }
        }
        guard diagnostics.isEmpty else {
            var seen = Set<String>()
            throw BatchError.invalid(diagnostics.filter { seen.insert($0.description).inserted })
        }
        self.definitions = definitions
        self.units = units
        var h = SplitMix64.mix(0xBA7C_4001, UInt64(spec.episodes), spec.seed, UInt64(units.count))
        for u in units { h = SplitMix64.mix(h, fnv1a64(Array(u.key.utf8)), definitions[u.worldIndex].fileHash) }
        fingerprint = h
    }

    /// The units of one shard, in canonical order.
    public func units(in shard: Shard) -> [BatchUnit] {
        units.filter { shard.contains($0.index) }
    }

    /// Total episodes of a list of units.
    public static func episodes(of units: [BatchUnit]) -> Int {
        units.reduce(0) { $0 + $1.episodes }
    }

    /// The cartesian product of value lists (first list slowest); one empty point for no lists.
    static func product(_ axes: [[Double]]) -> [[Double]] {
        axes.reduce([[]]) { points, values in points.flatMap { p in values.map { p + [$0] } } }
    }
}
