import Foundation
import MetaLearning
import MetaSimCore

/// The checkpoint policies of a batch (`{checkpoint: PATH, adapt: {steps: S, episodes: E}}`),
/// which the batch runner loads when it is made.
///
/// `init` reads every checkpoint file the plan names once (paths relative to the spec's folder),
/// decodes it and checks it against every world whose units use it, reporting each problem at the
/// policy's place in the spec; nothing runs before. Per unit, `policy(for:…)` adapts the policy to
/// the unit's task when asked, with the same inner loop as `metasim adapt`, and returns an
/// `EpisodePolicy` that samples its actions (see `CheckpointEpisodePolicy`).
public struct CheckpointPolicies: Sendable {
    /// One checkpoint file of the plan.
    public struct File: Sendable {
        /// The path as the spec writes it (the `policy` label of the outputs).
        public let name: String
        /// Resolved against the spec's folder.
        public let path: String
        /// FNV-1a 64 of the file's bytes.
        public let hash: UInt64
        public let checkpoint: Checkpoint
    }

    /// By resolved path.
    public let files: [String: File]
    /// Checkpoints trained on another version of a world file (they run, with this warning).
    public let warnings: [String]
    /// Identity of the checkpoint files (their contents), mixed into the output folder's
    /// fingerprint so that `--resume` and `merge` refuse results of other checkpoints. Nil when
    /// the plan names none (the fingerprint is then the plan's).
    public let fingerprint: UInt64?

    /// Loads and checks the checkpoints of every unit of the plan (all shards, so every shard
    /// fails or runs alike and they share the fingerprint). All problems are reported together.
    public init(plan: BatchPlan) throws(BatchError) {
        var diagnostics: [Diagnostic] = [], warnings: [String] = []
        var files: [String: File] = [:], failed: Set<String> = []
        var checked: Set<String> = [], refusedAdapt: Set<String> = []
        var hashes: [UInt64] = []
        func diagnose(_ o: Origin, _ message: String) {
            diagnostics.append(Diagnostic(file: o.file, mark: o.mark, keyPath: o.keyPath, message: message))
        }
        var specsOfWorld: [Int: WorldSpecs] = [:]
        for unit in plan.units {
            guard case .checkpoint(let name, let adapt) = unit.policy else { continue }
            let path = plan.checkpointPath(name)
            if files[path] == nil, !failed.contains(path) {
                do throws(CheckpointError) {
                    let bytes = try Checkpoint.readFile(path: path)
                    let checkpoint = try Checkpoint.decode(bytes, path: path)
                    let hash = fnv1a64(bytes)
                    files[path] = File(name: name, path: path, hash: hash, checkpoint: checkpoint)
                    hashes.append(hash)
                } catch {
                    failed.insert(path)
                    diagnose(unit.policyOrigin, Self.message(error, world: nil))
                }
            }
            // A policy with memory adapts by acting: across the unit's episodes, not by steps first.
            if adapt != nil, let file = files[path], file.checkpoint.policy.architecture.recurrent != nil, refusedAdapt.insert(path).inserted {
                diagnose(unit.policyOrigin, "\(name) is a policy with memory (\(file.checkpoint.metadata.algorithm)): it adapts by acting, its state "
                         + "carried across the unit's episodes, not by gradient steps first: drop `adapt`")
            }
            // Each checkpoint against each world it runs on, once.
            guard let file = files[path], checked.insert("\(path)\u{0}\(unit.worldIndex)").inserted else { continue }
            let definition = plan.definitions[unit.worldIndex]
            do {
                let specs: WorldSpecs
                if let s = specsOfWorld[unit.worldIndex] { specs = s } else {
                    specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
                    specsOfWorld[unit.worldIndex] = specs
                }
                if let warning = try file.checkpoint.check(against: definition, specs: specs, path: path, allowRecurrent: true) {
                    warnings.append(warning)
                }
            } catch let e as CheckpointError {
                diagnose(unit.policyOrigin, Self.message(e, world: definition.name))
            } catch {
                diagnose(unit.policyOrigin, "world '\(definition.name)': \(error)")
            }
        }
        guard diagnostics.isEmpty else { throw BatchError.invalid(diagnostics) }
        self.files = files
        self.warnings = warnings
        fingerprint = hashes.isEmpty ? nil : hashes.reduce(0xC4EC_4B01) { SplitMix64.mix($0, $1) }
    }

    /// A checkpoint problem as a spec diagnostic's message (the spec names the place).
    static func message(_ e: CheckpointError, world: String?) -> String {
        switch e {
        case .io(let p, let m): return "cannot read checkpoint \(p): \(m)"
        case .truncated(let p, let m): return "truncated checkpoint \(p): \(m)"
        case .malformed(let p, let m): return "\(p) is not a metasim policy checkpoint: \(m)"
        case .mismatch(let p, let m): return "checkpoint \(p) does not fit world '\(world ?? "?")': \(m)"
        }
    }

    /// The seed of a unit's adaptation: the spec's `seed` mixed with the task seed (the nominal
    /// task counts as seed 2^64 − 1), exactly as `metasim adapt --seed SEED --task-seed T` seeds
    /// its own. It depends on neither the checkpoint nor the number of steps: units that differ
    /// only in those adapt on the same episode seeds, so their curves share a prefix.
    public static func adaptationSeed(for unit: BatchUnit) -> UInt64 {
        SplitMix64.mix(unit.firstSeed, unit.task.seed ?? .max)
    }

    /// The inner loop of `adapt: {steps: S, episodes: E}`: `metasim adapt`'s defaults otherwise
    /// (learning rate 0.1 or the checkpoint's meta-learned rates, γ 0.99, λ 1).
    public static func innerLoop(_ a: PolicySpec.Adaptation) -> InnerLoop {
        InnerLoop(steps: a.steps, episodes: a.episodes)
    }

    /// The policy of one checkpoint unit, on `world` (a fresh instance of the unit's task), ready
    /// for the unit's episodes: adapted to the task first when the spec asks. Called once per unit
    /// on a worker thread; the result depends on the unit alone (its task, seeds and policy),
    /// never on the thread, the order of units, `--jobs` or sharding.
    func policy(for unit: BatchUnit, plan: BatchPlan, world: World) throws(BatchError) -> UnitPolicy {
        let o = unit.policyOrigin
        func unavailable(_ message: String) -> BatchError {
            .policyUnavailable(Diagnostic(file: o.file, mark: o.mark, keyPath: o.keyPath, message: "\(message) (unit '\(unit.key)')"))
        }
        guard case .checkpoint(let name, let adapt) = unit.policy else { throw unavailable("not a checkpoint policy") }
        guard let file = files[plan.checkpointPath(name)] else { throw unavailable("checkpoint \(plan.checkpointPath(name)) was not loaded") }
        // Cheap, and the Sampler's sizes must fit this task's instance (specs are per task).
        do throws(CheckpointError) {
            try file.checkpoint.check(against: plan.definitions[unit.worldIndex], specs: world.specs, path: file.path, allowRecurrent: true)
        } catch {
            throw unavailable(Self.message(error, world: unit.world))
        }
        var policy = file.checkpoint.policy
        if policy.architecture.recurrent != nil {
            guard adapt == nil else { throw unavailable("a policy with memory adapts by acting: drop `adapt`") }
            return UnitPolicy(policy: MemoryEpisodePolicy(policy), adaptationReturns: nil)
        }
        var returns: [Double]?
        if let adapt {
            do throws(WorldError) {
                let r = try AdaptationRunner(checkpoint: file.checkpoint)
                    .adapted(on: world.program, AdaptationRequest(inner: Self.innerLoop(adapt), seed: Self.adaptationSeed(for: unit), evaluateFinal: true))
                policy = r.policy
                returns = r.adaptation.returns
            } catch {
                throw unavailable("adaptation failed: \(error)")
            }
        }
        return UnitPolicy(policy: CheckpointEpisodePolicy(policy), adaptationReturns: returns)
    }
}

/// A checkpoint unit's policy, ready for its episodes.
struct UnitPolicy {
    /// Acts in the unit's episodes (reset with each episode's seed).
    var policy: any EpisodePolicy
    /// For adapted policies: the mean return of the adaptation's own episodes with the parameters
    /// after 0, 1, …, S steps (S + 1 values). Nil for policies that were not adapted.
    var adaptationReturns: [Double]?
}

extension BatchPlan {
    /// A checkpoint path of the spec, resolved like world paths: relative to the spec's folder.
    public func checkpointPath(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: spec.file).absoluteURL.deletingLastPathComponent().appendingPathComponent(path).standardized.path
    }
}

/// A policy acting in single-world episodes (the batch runner's `EpisodeRunner`): actions are
/// sampled from the policy (Gaussian: mean + σ·noise; categorical: drawn from the softmax), as in
/// the episodes `metasim evaluate` scores first (MAML's protocol) and the inner loop learns from.
/// The noise comes from the episode seed alone (`SeededGenerator(seed:, stream: .policy)`, like
/// the baselines). With `deterministic`, the mean (or most likely) action instead.
public struct CheckpointEpisodePolicy: EpisodePolicy {
    public let policy: Policy
    public let deterministic: Bool
    private let math: PolicyMath
    private let parameters: [Double]
    private var input: [Double]
    private var cache = MLP.Cache()
    private var rng: SeededGenerator

    public init(_ policy: Policy, deterministic: Bool = false) {
        self.policy = policy
        self.deterministic = deterministic
        math = PolicyMath(architecture: policy.architecture, normalizer: policy.normalizer)
        parameters = policy.parameters.map { Double($0) }
        input = [Double](repeating: 0, count: policy.architecture.observationCount)
        rng = SeededGenerator(seed: 0, stream: RandomStream.policy)
    }

    public mutating func reset(seed: UInt64) {
        rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
    }

    public mutating func act(observation: UnsafeBufferPointer<Float>, into action: UnsafeMutablePointer<Float>) {
        for i in 0..<input.count { input[i] = Double(observation[i]) }
        math.forward(parameters, observations: input, count: 1, cache: &cache)
        let arch = policy.architecture
        math.sampleAction(parameters, cache: cache, row: 0, deterministic: deterministic, rng: &rng) { k, v in
            action[k] = Float(arch.worldAction(v, component: k))
        }
    }
}

/// A policy with memory (rl2's GRU or a context policy) acting in a unit's episodes: one
/// `RecurrentActor` row whose state starts at zero with the unit and carries across its episodes
/// (the unit's episodes are one trial of its task, as `metasim adapt` and `evaluate --memory` run
/// them), told each step's reward and end. Sampled actions (or the mean with `deterministic`),
/// the noise reseeded from each episode's seed like `CheckpointEpisodePolicy`'s; so a unit's
/// episodes are a function of its seeds alone, whatever the thread or shard.
public struct MemoryEpisodePolicy: EpisodePolicy {
    public let policy: Policy
    public let deterministic: Bool
    private var actor: RecurrentActor
    private let parameters: [Double]
    private var rng: SeededGenerator

    public init(_ policy: Policy, deterministic: Bool = false) {
        precondition(policy.architecture.recurrent != nil, "a policy with memory")
        self.policy = policy
        self.deterministic = deterministic
        actor = RecurrentActor(math: RecurrentMath(architecture: policy.architecture, normalizer: policy.normalizer), rows: 1)
        parameters = policy.parameters.map { Double($0) }
        rng = SeededGenerator(seed: 0, stream: RandomStream.policy)
    }

    /// A new episode of the same task: the noise reseeded, the state kept (the episode-end flag
    /// set if the last step did not end an episode).
    public mutating func reset(seed: UInt64) {
        rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
        actor.noteReset(row: 0)
    }

    public mutating func act(observation: UnsafeBufferPointer<Float>, into action: UnsafeMutablePointer<Float>) {
        let arch = policy.architecture
        actor.act(parameters, deterministic: deterministic, rng: &rng, observation: { _, k in Double(observation[k]) }) { _, k, v in
            action[k] = Float(arch.worldAction(v, component: k))
        }
    }

    public mutating func observe(reward: Double, ended: Bool) {
        actor.noteStep(row: 0, reward: reward, ended: ended)
    }
}
