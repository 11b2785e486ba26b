/// Element type of an observation or action tensor.
public enum DType: String, Sendable, Codable {
    case float32, int32
}

/// dm_env_rpc-style spec of a tensor: name, shape, dtype, bounds, and the name of every entry.
public struct TensorSpec: Sendable, Codable, Equatable {
    public var name: String
    public var shape: [Int]
    public var dtype: DType
    /// Per-entry bounds (infinite where unbounded). For a discrete action: [0] and [n - 1].
    public var low: [Double]
    public var high: [Double]
    /// Per-entry names (`lidar_3`, `engine.throttle`); for a discrete action, one name.
    public var entries: [String]

    public var count: Int { shape.reduce(1, *) }
}

/// The observation and action specs of a world.
public struct WorldSpecs: Sendable, Codable, Equatable {
    public var observation: TensorSpec
    public var action: TensorSpec
    /// Number of discrete actions, or nil for continuous actions.
    public var discreteActions: Int?
    /// The continuous vector each discrete action stands for.
    public var discreteTable: [[Double]]?
}

/// Why an episode ended.
public enum EpisodeEnd: Sendable, Equatable, CustomStringConvertible {
    /// A termination condition (by name) fired.
    case terminated(String)
    /// A truncation condition fired, or the horizon was reached ("horizon").
    case truncated(String)

    public var description: String {
        switch self {
        case .terminated(let n): return n
        case .truncated(let n): return n
        }
    }
}

/// The outcome of one step of one instance.
public struct StepResult: Sendable, Equatable {
    public var reward: Double
    public var terminated: Bool
    public var truncated: Bool
    public var end: EpisodeEnd?
}
