import Foundation
import Logging
import MetaSimCore

/// A meta-learning algorithm, everything metasim knows about it in one place: how it trains (one
/// outer iteration at a time), how a policy it trained adapts to a task, what it records in and
/// reads from a checkpoint, and `metasim train`'s defaults for it. One file per algorithm
/// (Sources/MetaLearning/Learners/), registered in `MetaLearners.all`.
///
/// Nothing here assumes a feed-forward policy-gradient learner: adaptation is whatever the
/// learner does with a task's episodes (gradient steps, Q-learning rounds, or acting with memory);
/// the policy-gradient learners share `PolicyGradientLearner`'s defaults.
public protocol MetaLearner: Sendable {
    /// The algorithms it trains (`metasim train --algo`), which are also the `algorithm` its
    /// checkpoints record. MAML's family serves maml and fomaml.
    var algorithms: [MetaAlgorithm] { get }

    /// `metasim train`'s defaults for one of its algorithms.
    func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults

    /// The training options it understands beyond the common ones.
    var options: MetaLearnerOptions { get }

    /// Why it cannot train on a world with these specs, worded to follow "--algo NAME " (nil: it can).
    func problem(specs: WorldSpecs, world: String) -> String?

    // MARK: Training

    /// The policy it trains on a world whose specs call for `base`.
    func architecture(_ base: PolicyArchitecture, definition: WorldDefinition, config: MetaTrainingConfig) -> PolicyArchitecture

    /// Episodes sampled per task and iteration.
    func episodesPerTask(_ config: MetaTrainingConfig) -> Int

    /// A training run of `trainer`'s configuration, before its first iteration.
    func training(_ trainer: MetaTrainer, logger: Logger) throws -> any MetaTrainingRun

    // MARK: Checkpoints

    /// The training configuration as its checkpoints record it (`hyperparameters`).
    func hyperparameters(_ config: MetaTrainingConfig) -> String

    /// Whether a policy it trained is an initialization still to be adapted (list_policies'
    /// `adapt_first`), given whether it was already adapted to a task.
    func adaptFirst(adapted: Bool) -> Bool

    /// The inner steps per task its meta-training ran (list_policies' `trained_steps`), from the
    /// checkpoint's recorded training; nil when its training has no such inner loop.
    func trainedSteps(_ record: TrainingRecord?) -> Int?

    // MARK: Adaptation

    /// Whether it adapts `policy` (a checkpoint's policy, or a fresh baseline): the runner asks
    /// the checkpoint's learner first, then every learner in registration order.
    func canAdapt(_ policy: Policy) -> Bool

    /// The adaptation budget and per-step learning rates a checkpoint adapts with by default
    /// (the daemon's `adapt` without a budget; `list_policies`' `inner`).
    func adaptationDefaults(_ checkpoint: Checkpoint) -> AdaptationDefaults

    /// Adapts `policy`'s parameters `start` to the task of `program`, as `request` asks, looking
    /// at `cancel` between its steps and reporting each step to `progress` (steps done, its episodes).
    func adapt(_ policy: Policy, from start: [Double], on program: WorldProgram, _ request: AdaptationRequest,
               cancel: Cancellation?, progress: (Int, Episodes) -> Void) throws(WorldError) -> Adaptation

    /// Why it cannot learn from episodes recorded elsewhere (an external world), worded to follow
    /// "policy 'NAME' " (nil: it can, `learn(_:policy:from:inner:learningRate:cancel:)`).
    var recordedEpisodesRefusal: String? { get }

    /// One inner step of `theta` on recorded episodes (sampled with `theta`). nil, with `theta`
    /// unchanged, when `cancel` fires.
    func learn(_ theta: inout [Double], policy: Policy, from episodes: Episodes, inner: InnerLoop, learningRate: Double,
               cancel: Cancellation?) -> SampleBatch?

    // MARK: Evaluation

    /// The from-scratch baseline `metasim evaluate` gives the same budget as a checkpoint of this
    /// learner: a policy whose parameters the evaluator draws afresh per task. `learningRate`
    /// replaces the rate it adapts with (nil: the learner's choice).
    func scratchBaseline(for checkpoint: Checkpoint, learningRate: Double?) -> Policy
}

/// `metasim train`'s defaults for an algorithm.
public struct MetaLearnerDefaults: Sendable, Equatable {
    /// Inner steps per task (`--inner-steps`).
    public var innerSteps: Int
    /// `--outer-lr`.
    public var outerLearningRate: Double
    /// The Q-learning settings it trains with when none are given (nil: it does not use any).
    public var qLearning: QLearning?
    /// The trials and PPO settings it trains with when none are given (nil: it does not use any).
    public var recurrent: RecurrentTraining?

    public init(innerSteps: Int, outerLearningRate: Double, qLearning: QLearning? = nil, recurrent: RecurrentTraining? = nil) {
        self.innerSteps = innerSteps
        self.outerLearningRate = outerLearningRate
        self.qLearning = qLearning
        self.recurrent = recurrent
    }
}

/// Training options only some learners understand (`metasim train` refuses the others).
public struct MetaLearnerOptions: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Meta-learned per-step inner learning rates (`--learn-inner-lr`).
    public static let innerLearningRates = MetaLearnerOptions(rawValue: 1 << 0)
    /// Meta-SGD's per-parameter rate multipliers (`--learn-parameter-rates`).
    public static let parameterRates = MetaLearnerOptions(rawValue: 1 << 1)
    /// CAVIA's context parameters (`--context-parameters`).
    public static let contextParameters = MetaLearnerOptions(rawValue: 1 << 2)
    /// ProMP's outer loop (`--outer-epochs`, `--clip`).
    public static let proximalOuter = MetaLearnerOptions(rawValue: 1 << 3)
}

/// One training run: the learner's state between outer iterations.
public protocol MetaTrainingRun {
    /// Runs outer iteration `iteration` (0, 1, … in order).
    mutating func iterate(_ iteration: Int, logger: Logger) throws -> IterationStats
    /// The trained policy, once the last iteration ran.
    func finish(logger: Logger) -> Policy
}

/// What a checkpoint records of its training that adaptation uses: the inner loop and ProMP's
/// outer loop, where present (read leniently: a configuration that does not decode is not used).
public struct TrainingRecord: Sendable, Decodable, Equatable {
    public var inner: InnerLoop?
    public var proximal: ProximalOuter?

    public init(inner: InnerLoop? = nil, proximal: ProximalOuter? = nil) {
        self.inner = inner
        self.proximal = proximal
    }

    /// The record of a checkpoint's `hyperparameters` JSON (nil when it does not decode).
    public init?(hyperparameters json: String) {
        guard let r = try? JSONDecoder().decode(TrainingRecord.self, from: Data(json.utf8)) else { return nil }
        self = r
    }
}

/// The adaptation a checkpoint gets by default.
public struct AdaptationDefaults: Sendable, Equatable {
    public var inner: InnerLoop
    /// The learning rate of each inner step (the rate it adapts with, one per step when meta-learned).
    public var learningRates: [Double]
}

/// What one adaptation does: its budget, seeds and threads, and the rates it runs at.
public struct AdaptationRequest: Sendable {
    public var inner: InnerLoop
    public var seed: UInt64
    /// Threads stepping each inner step's episodes.
    public var threads: Int
    /// Also sample episodes with the final parameters (their mean return is `returns.last`).
    public var evaluateFinal: Bool
    /// Score every θ_k acting deterministically on this many separate episodes (0: none).
    public var deterministicEpisodes: Int
    /// The per-step learning rates still ahead (nil: the policy's own).
    public var learningRates: [Double]?
    /// A learning rate replacing the policy's for every step (the daemon's `learning_rate`).
    public var learningRate: Double?

    public init(inner: InnerLoop, seed: UInt64, threads: Int = 1, evaluateFinal: Bool = false, deterministicEpisodes: Int = 0,
                learningRates: [Double]? = nil, learningRate: Double? = nil) {
        self.inner = inner
        self.seed = seed
        self.threads = threads
        self.evaluateFinal = evaluateFinal
        self.deterministicEpisodes = deterministicEpisodes
        self.learningRates = learningRates
        self.learningRate = learningRate
    }
}

extension MetaLearner {
    public var options: MetaLearnerOptions { [] }
    public func problem(specs: WorldSpecs, world: String) -> String? { nil }
    public func architecture(_ base: PolicyArchitecture, definition: WorldDefinition, config: MetaTrainingConfig) -> PolicyArchitecture { base }
    public func hyperparameters(_ config: MetaTrainingConfig) -> String { Checkpoint.json(config) }
}
