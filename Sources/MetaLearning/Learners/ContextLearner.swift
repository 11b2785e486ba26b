import Foundation
import Logging
import MetaSimCore

extension MetaAlgorithm {
    /// A context policy (PEARL's structure, Rakelly et al. 2019, with a deterministic encoder):
    /// the mean code of the transitions seen of a task conditions the policy (`ContextNetwork`).
    public static let context = MetaAlgorithm(declaring: "context")
}

/// The context meta-learner: a `ContextNetwork` trained, like RL²'s GRU, with PPO on trials of K
/// episodes per task (`RecurrentTrainingRun`, on-policy, end to end through the encoder), and
/// adapting, like it, by acting: its pooled code is its memory of the task, its parameters
/// never change after training. Only the architecture differs from `RecurrentLearner`, which
/// does everything else.
public struct ContextLearner: MetaLearner {
    /// The latent task vector's size when `--latent` is not given.
    public static let defaultLatentSize = 8
    /// The decoder loss's weight when `--decoder-coef` is not given.
    public static let defaultDecoderCoefficient = 1.0

    private let memory = RecurrentLearner()

    public init() {}

    public var algorithms: [MetaAlgorithm] { [.context] }

    /// RL²'s: Adam 0.001; trials of 2 episodes, 4 PPO epochs of 4 minibatches, ε 0.2.
    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults { memory.defaults(for: .rl2) }

    /// An encoder and a policy of `config.hidden`'s first size (64 when empty) with a latent
    /// vector of `config.recurrent.latentSize` (8 when unset) on the world's observations and actions.
    public func architecture(_ base: PolicyArchitecture, definition: WorldDefinition, config: MetaTrainingConfig) -> PolicyArchitecture {
        .context(base, hiddenSize: config.hidden.first ?? 64, latentSize: config.recurrent?.latentSize ?? Self.defaultLatentSize,
                 rewardScale: config.recurrent?.rewardScale)
    }

    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { memory.episodesPerTask(config) }

    public func training(_ trainer: MetaTrainer, logger: Logger) throws -> any MetaTrainingRun {
        try memory.training(trainer, logger: logger)
    }

    public func adaptFirst(adapted: Bool) -> Bool { memory.adaptFirst(adapted: adapted) }

    public func trainedSteps(_ record: TrainingRecord?) -> Int? { nil }

    public func canAdapt(_ policy: Policy) -> Bool { policy.architecture.recurrent?.cell == RecurrentCell.context }

    public func adaptationDefaults(_ checkpoint: Checkpoint) -> AdaptationDefaults { memory.adaptationDefaults(checkpoint) }

    public func adapt(_ policy: Policy, from start: [Double], on program: WorldProgram, _ request: AdaptationRequest,
                      cancel: Cancellation?, progress: (Int, Episodes) -> Void) throws(WorldError) -> Adaptation {
        try memory.adapt(policy, from: start, on: program, request, cancel: cancel, progress: progress)
    }

    public var recordedEpisodesRefusal: String? {
        "is a context policy: it adapts by acting, its encoder pooling the transitions it sees, not by a gradient step on recorded episodes"
    }

    public func learn(_ theta: inout [Double], policy: Policy, from episodes: Episodes, inner: InnerLoop, learningRate: Double,
                      cancel: Cancellation?) -> SampleBatch? {
        preconditionFailure("a context policy does not learn from recorded episodes (recordedEpisodesRefusal)")
    }

    /// An untrained context policy of the same architecture, acting as the checkpoint does.
    public func scratchBaseline(for checkpoint: Checkpoint, learningRate: Double?) -> Policy {
        memory.scratchBaseline(for: checkpoint, learningRate: learningRate)
    }
}
