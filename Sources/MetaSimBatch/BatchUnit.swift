import MetaSimCore
import MetaSimYAML

/// One unit of a batch: a world's task (with grid overrides) run by one policy for a number of
/// episodes. Its results are a function of the unit alone, so scheduling, `--jobs` and sharding
/// cannot change them.
public struct BatchUnit: Sendable {
    /// Position in the plan's canonical order.
    public let index: Int
    /// Stable, readable identity: `WORLD|TASK|GRID|POLICY` (`pendulum|task=3|gravity=-5|random`).
    public let key: String
    /// Index into `BatchPlan.definitions`.
    public let worldIndex: Int
    public let world: String
    public let task: WorldTask
    /// The grid point: parameter overrides, in grid order.
    public let overrides: [String]
    public let overrideValues: [Double]
    public let policy: PolicySpec
    public let policyOrigin: Origin
    public let episodes: Int
    /// Episode k uses episode seed `firstSeed + k`.
    public let firstSeed: UInt64

    public func episodeSeed(_ k: Int) -> UInt64 { firstSeed &+ UInt64(k) }

    static func key(world: String, task: WorldTask, overrides: [String], values: [Double], policy: PolicySpec) -> String {
        let t = task.seed.map { "task=\($0)" } ?? "nominal"
        let g = overrides.isEmpty ? "-" : zip(overrides, values).map { "\($0)=\(formatNumber($1))" }.joined(separator: ",")
        return "\(world)|\(t)|\(g)|\(policy)"
    }
}
