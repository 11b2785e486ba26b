import MetaSimCore

extension MetaAlgorithm {
    /// Reptile (Nichol et al., 2018): move the initial parameters towards the adapted ones.
    public static let reptile = MetaAlgorithm(declaring: "reptile")
}

/// Reptile: each task adapts θ by the inner loop; the outer step moves θ by ε times the tasks'
/// mean adapted-minus-initial step.
public struct ReptileLearner: PolicyGradientLearner {
    public init() {}

    public var algorithms: [MetaAlgorithm] { [.reptile] }

    /// Three inner steps, step size ε = 0.5.
    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults {
        MetaLearnerDefaults(innerSteps: 3, outerLearningRate: 0.5)
    }

    /// The episodes of every inner step (no post-adaptation episodes).
    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { config.inner.steps * config.inner.episodes }

    public func adaptFirst(adapted: Bool) -> Bool { !adapted }

    public func trainedSteps(_ record: TrainingRecord?) -> Int? { record?.inner?.steps }

    public func taskStep(_ trainer: MetaTrainer, math: PolicyMath, sampler: Sampler, theta: [Double], rates: [Double], scales: [Double],
                         seed: UInt64) throws -> MetaTrainer.TaskResult {
        let a = try Adapter(math: math, sampler: sampler, inner: trainer.config.inner).run(from: theta, seed: seed, evaluateFinal: false)
        let delta = zip(a.final, theta).map { $0 - $1 }
        return MetaTrainer.TaskResult(direction: delta, preReturn: a.returns[0], postReturn: a.returns.count > 1 ? a.returns[a.returns.count - 1] : .nan,
                                      observations: trainer.normalizerRows(a.episodes[0]), samples: a.episodes.map(\.stepCount).reduce(0, +))
    }

    /// θ += ε · (mean adapted − initial).
    public func outerUpdate(_ theta: inout [Double], direction update: [Double], adam: inout Adam, config: MetaTrainingConfig) {
        for i in 0..<theta.count { theta[i] += config.outerLearningRate * update[i] }
    }
}
