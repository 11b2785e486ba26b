import MetaSimCore

/// The one way a policy adapts to a task, for `metasim adapt` and `evaluate`, batches and the
/// daemon's `adapt`: the learner that trained it (picked from its checkpoint's `algorithm`, or by
/// what the policy is) runs its inner loop, with cancellation and progress.
public struct AdaptationRunner: Sendable {
    public let policy: Policy
    public let learner: any MetaLearner

    /// The runner of `policy`, adapted by the learner of `algorithm` when that learner adapts it.
    public init(policy: Policy, algorithm: String? = nil) {
        self.policy = policy
        learner = MetaLearners.adaptationLearner(for: policy, algorithm: algorithm)
    }

    /// The runner of a checkpoint's policy.
    public init(checkpoint: Checkpoint) {
        self.init(policy: checkpoint.policy, algorithm: checkpoint.metadata.algorithm)
    }

    /// Adapts from `start` (nil: the policy's parameters) to the task of `program`. `cancel` is
    /// looked at between episode steps and stops the run early (`Adaptation.cancelled`);
    /// `progress` is called after each inner step with (steps done, the step's episodes).
    public func run(on program: WorldProgram, _ request: AdaptationRequest, from start: [Double]? = nil, cancel: Cancellation? = nil,
                    progress: (Int, Episodes) -> Void = { _, _ in }) throws(WorldError) -> Adaptation {
        try learner.adapt(policy, from: start ?? policy.parameters.map { Double($0) }, on: program, request, cancel: cancel, progress: progress)
    }

    /// Adapts the policy's own parameters: the adapted policy (parameters rounded to Float, as a
    /// checkpoint stores them) and the adaptation.
    public func adapted(on program: WorldProgram, _ request: AdaptationRequest) throws(WorldError) -> (policy: Policy, adaptation: Adaptation) {
        let a = try run(on: program, request)
        var p = policy
        p.parameters = a.final.map { Float($0) }
        return (p, a)
    }

    /// Why the policy cannot learn from episodes recorded elsewhere, to follow "policy 'NAME' " (nil: it can).
    public var recordedEpisodesRefusal: String? { learner.recordedEpisodesRefusal }

    /// One inner step of `theta` on episodes recorded elsewhere (sampled with `theta`); nil, with
    /// `theta` unchanged, when `cancel` fires.
    public func learn(_ theta: inout [Double], from episodes: Episodes, inner: InnerLoop, learningRate: Double,
                      cancel: Cancellation? = nil) -> SampleBatch? {
        learner.learn(&theta, policy: policy, from: episodes, inner: inner, learningRate: learningRate, cancel: cancel)
    }
}
