import Foundation
import MetaSimCore

/// The batch runner's hook for the policies MetaSimCore cannot build itself: meta-learned
/// checkpoints live in MetaLearning, which depends on MetaSimCore. The caller makes one factory
/// per run and passes it to `BatchRunner` (the `metasim` CLI passes MetaLearning's
/// `CheckpointPolicies`, which loads every checkpoint of the plan once); baseline policies need none.
public protocol BatchPolicyFactory: Sendable {
    /// Identity of the files the policies come from (checkpoint contents), mixed into the output
    /// folder's fingerprint so that `--resume` and `merge` refuse results of other checkpoints.
    /// Nil when the factory holds no file (the fingerprint is then the plan's).
    var fingerprint: UInt64? { get }

    /// Checks that the factory can make the policy of every one of these units (for checkpoints:
    /// the file loaded and fits the unit's world). The runner calls it before it runs or writes
    /// anything; errors name the policy's place in the spec (`SPEC:LINE:COLUMN`).
    func check(_ units: [BatchUnit], plan: BatchPlan) throws(BatchError)

    /// The policy of one unit, on `world` (a fresh instance of the unit's task), ready for the
    /// unit's episodes: adapted to the task first when the spec asks. Called once per unit on a
    /// worker thread. The result must depend on the unit alone (its task, seeds and policy),
    /// never on the thread, the order of units, `--jobs` or sharding.
    func policy(for unit: BatchUnit, plan: BatchPlan, world: World) throws(BatchError) -> UnitPolicy
}

/// A unit's policy, ready for its episodes.
public struct UnitPolicy {
    /// Acts in the unit's episodes (reset with each episode's seed).
    public var policy: any EpisodePolicy
    /// For adapted policies: the mean return of the adaptation's own episodes with the parameters
    /// after 0, 1, …, S steps (S + 1 values). Nil for policies that were not adapted.
    public var adaptationReturns: [Double]?

    public init(policy: any EpisodePolicy, adaptationReturns: [Double]? = nil) {
        self.policy = policy
        self.adaptationReturns = adaptationReturns
    }
}

extension BatchPlan {
    /// A checkpoint path of the spec, resolved like world paths: relative to the spec's folder.
    public func checkpointPath(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: spec.file).absoluteURL.deletingLastPathComponent().appendingPathComponent(path).standardized.path
    }
}

extension PolicySpec {
    /// Whether MetaSimCore runs the policy itself (the baselines) or needs a `BatchPolicyFactory`.
    public var isBaseline: Bool {
        if case .baseline = self { return true }
        return false
    }

    /// Episodes an adapted checkpoint runs before the unit's own: `episodes` per step, S + 1
    /// times (the parameters after every step are scored, the last ones included).
    public var adaptationEpisodes: Int {
        if case .checkpoint(_, let a?) = self { return (a.steps + 1) * a.episodes }
        return 0
    }
}
