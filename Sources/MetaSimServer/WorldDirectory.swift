import Logging
import MetaSimCore
import MetaSimProtocol

/// The worlds a server offers: the catalog loaded at start, with each world's specs and family
/// parameters ready for `list_worlds`. Immutable; a reload builds a new one.
final class WorldDirectory: Sendable {
    struct Entry: Sendable {
        let definition: WorldDefinition
        let info: WorldInfo
    }

    let root: String
    let entries: [String: Entry]
    let ordered: [WorldInfo]

    init(root: String, logger: Logger) {
        self.root = root
        let catalog = WorldCatalog(root: root)
        var entries: [String: Entry] = [:]
        var ordered: [WorldInfo] = []
        for e in catalog.entries {
            do {
                let info = try Self.info(e.definition, name: e.name, path: e.path)
                entries[e.name] = Entry(definition: e.definition, info: info)
                ordered.append(info)
            } catch {
                logger.warning("world skipped: \(e.path): \(error)")
            }
        }
        for f in catalog.failures {
            logger.warning("world skipped: \(f.error.description)")
        }
        self.entries = entries
        self.ordered = ordered
    }

    static func info(_ d: WorldDefinition, name: String, path: String) throws(WorldError) -> WorldInfo {
        let task = try d.nominalTask()
        let specs = try WorldProgram(definition: d, task: task).specs
        let params = d.familyParameters.map { p -> ParameterInfo in
            var dist = ""
            if case .random(let distribution) = p.value.kind { dist = distribution.summary }
            return ParameterInfo(name: p.name, distribution: dist, nominal: task[p.name] ?? 0)
        }
        return WorldInfo(name: name, kind: d.kind.rawValue, path: path, description: d.description,
                         observation: specs.observation.wire, action: specs.action.wire,
                         discreteActions: specs.discreteActions, parameters: params, horizon: d.episode.horizon,
                         rewardThreshold: d.episode.rewardThreshold)
    }
}

extension TensorSpec {
    var wire: WireTensorSpec {
        WireTensorSpec(name: name, shape: shape, dtype: dtype.rawValue, low: low, high: high, entries: entries)
    }
}
