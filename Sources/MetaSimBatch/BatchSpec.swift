import MetaSimCore
import MetaSimYAML

/// A batch of headless runs, as written in a batch spec file (YAML, strict like worlds):
/// worlds (or the whole catalog) × tasks × parameter grid × policies, each combination a unit of
/// `episodes` episodes. See docs/batch.md.
public struct BatchSpec: Sendable {
    /// One `worlds:` entry: a world or family with the tasks and grid to run it on.
    public struct WorldEntry: Sendable {
        /// A catalog name, a path to a world file (relative to the spec's folder), or "all".
        public var world: String
        public var tasks: TaskSelection
        public var grid: [GridAxis]
        /// Where the entry sits in the spec, for errors found when the world is loaded.
        public var origin: Origin
    }

    /// Which tasks of a family: the nominal task and/or task seeds.
    public struct TaskSelection: Sendable, Equatable {
        public var nominal: Bool
        public var seeds: [UInt64]
        public static let nominalOnly = TaskSelection(nominal: true, seeds: [])
    }

    /// One parameter of a grid and the values it takes (the grid is the product of its axes).
    public struct GridAxis: Sendable {
        public var parameter: String
        public var values: [Double]
        public var origin: Origin
    }

    public var name: String
    public var worlds: [WorldEntry]
    public var policies: [PolicyEntry]
    /// Episodes per unit.
    public var episodes: Int
    /// Episode k of every unit uses episode seed `seed + k` (and seeds its policy with it).
    public var seed: UInt64
    /// The spec file (relative world paths are resolved against its folder).
    public var file: String
}

/// A policy of a batch unit.
public enum PolicySpec: Sendable, Equatable, CustomStringConvertible {
    case baseline(BaselinePolicy.Kind)
    /// A meta-learned checkpoint, optionally adapted on the task first: `steps` adaptation steps
    /// on `episodes` episodes each (nil: evaluated as is).
    case checkpoint(path: String, adapt: Adaptation?)

    public struct Adaptation: Sendable, Equatable {
        public var steps: Int
        public var episodes: Int
    }

    /// The label written to the outputs (`random`, `checkpoint:ckpt/a.safetensors`,
    /// `checkpoint:ckpt/a.safetensors+adapt(steps=5,episodes=4)`).
    public var description: String {
        switch self {
        case .baseline(let k): return k.rawValue
        case .checkpoint(let path, nil): return "checkpoint:\(path)"
        case .checkpoint(let path, let a?): return "checkpoint:\(path)+adapt(steps=\(a.steps),episodes=\(a.episodes))"
        }
    }

    /// Adaptation steps (0 for policies that do not adapt).
    public var adaptationSteps: Int? {
        if case .checkpoint(_, let a) = self { return a?.steps ?? 0 }
        return nil
    }

    /// Episodes an adapted checkpoint runs before the unit's own: `episodes` per step, S + 1
    /// times (the parameters after every step are scored, the last ones included).
    public var adaptationEpisodes: Int {
        if case .checkpoint(_, let a?) = self { return (a.steps + 1) * a.episodes }
        return 0
    }
}

/// A located policy entry of the spec.
public struct PolicyEntry: Sendable {
    public var policy: PolicySpec
    public var origin: Origin
}
