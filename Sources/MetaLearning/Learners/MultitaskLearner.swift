import MetaSimCore

extension MetaAlgorithm {
    /// The multi-task baseline: plain policy gradient (Adam) on the pooled episodes of the same
    /// tasks, the same number of episodes per task as MAML, no meta objective.
    public static let multitask = MetaAlgorithm(declaring: "multitask")
}

/// The multi-task baseline: one policy-gradient step per iteration on the pooled episodes of its
/// tasks (its policies act as they are; evaluation fine-tunes them with the same inner loop).
public struct MultitaskLearner: PolicyGradientLearner {
    public init() {}

    public var algorithms: [MetaAlgorithm] { [.multitask] }

    /// MAML's: one inner step's worth of episodes, Adam 0.003.
    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults {
        MetaLearnerDefaults(innerSteps: 1, outerLearningRate: 0.003)
    }

    /// As many as MAML samples per task.
    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { (config.inner.steps + 1) * config.inner.episodes }

    public func adaptFirst(adapted: Bool) -> Bool { false }

    public func trainedSteps(_ record: TrainingRecord?) -> Int? { nil }

    /// The policy gradient on the task's episodes (no adaptation).
    public func taskStep(_ trainer: MetaTrainer, math: PolicyMath, sampler: Sampler, theta: [Double], rates: [Double], scales: [Double],
                         seed: UInt64) throws -> MetaTrainer.TaskResult {
        let config = trainer.config, inner = config.inner
        let episodes = try sampler.collect(math: math, params: theta, count: config.episodesPerTask, seed: seed)
        let batch = episodes.sampleBatch(weights: Advantages.gae(episodes, gamma: inner.gamma, lambda: inner.lambda))
        let g = math.surrogate(theta, batch: batch).gradient
        var result = MetaTrainer.TaskResult(direction: g, preReturn: episodes.meanReturn, postReturn: .nan, observations: [])
        result.observations = trainer.normalizerRows(episodes)
        result.samples = episodes.stepCount
        return result
    }
}
