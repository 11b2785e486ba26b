import Foundation
import Logging
import MetaSimCore

extension MetaAlgorithm {
    /// Meta-Q-learning, for discrete actions (after MQL, Fakoor et al. 2020): a Q-network
    /// initialization learned by Q-learning on the family's multi-task TD objective, adapted to a
    /// new task by a few Q-learning rounds on its own experience (`QLearning`, `QLearner`).
    public static let metaq = MetaAlgorithm(declaring: "metaq")
}

/// Meta-Q-learning: trains a Q-network (`MetaQTraining`), adapts it by Q-learning (`QLearner`).
public struct MetaQLearner: MetaLearner {
    public init() {}

    public var algorithms: [MetaAlgorithm] { [.metaq] }

    /// Three rounds of adaptation, Adam 0.001 on the multi-task TD loss, `QLearning`'s defaults.
    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults {
        MetaLearnerDefaults(innerSteps: 3, outerLearningRate: 0.001, qLearning: QLearning())
    }

    public func problem(specs: WorldSpecs, world: String) -> String? {
        specs.discreteActions == nil
            ? "learns a Q-network: \(world) has continuous actions (use a world with discrete_actions, e.g. cartpole)" : nil
    }

    /// The episodes each iteration collects per task.
    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { config.inner.episodes }

    public func training(_ trainer: MetaTrainer, logger: Logger) throws -> any MetaTrainingRun {
        MetaQTraining(trainer: trainer, logger: logger)
    }

    public func adaptFirst(adapted: Bool) -> Bool { !adapted }

    /// Its training has no inner loop per task: it learns its initialization by Q-learning on
    /// every task's replay.
    public func trainedSteps(_ record: TrainingRecord?) -> Int? { nil }

    /// A Q-network (a policy with Q-learning settings).
    public func canAdapt(_ policy: Policy) -> Bool { policy.qLearning != nil }

    /// 3 rounds at γ and λ as trained, at its Q-learning (Adam) rate. A Q-network's training
    /// episodes are what each iteration collected per task, not an adaptation budget: it keeps
    /// the default 20 per round, as `metasim evaluate` does.
    public func adaptationDefaults(_ checkpoint: Checkpoint) -> AdaptationDefaults {
        var inner = InnerLoop(steps: 3, episodes: 20, learningRate: 0.1)
        if let trained = checkpoint.trainingRecord?.inner {
            inner.learningRate = trained.learningRate
            inner.gamma = trained.gamma
            inner.lambda = trained.lambda
        }
        return AdaptationDefaults(inner: inner, learningRates: [checkpoint.policy.qLearning?.learningRate ?? inner.learningRate])
    }

    /// Q-learning with the policy's settings (`learningRate` replaces its Adam rate), the same
    /// budget: `inner.steps` rounds of `inner.episodes` episodes (on `threads`; updates on one).
    public func adapt(_ policy: Policy, from start: [Double], on program: WorldProgram, _ request: AdaptationRequest,
                      cancel: Cancellation?, progress: (Int, Episodes) -> Void) throws(WorldError) -> Adaptation {
        guard var q = policy.qLearning else { preconditionFailure("meta-Q-learning adapts Q-networks") }
        if let lr = request.learningRate { q.learningRate = lr }
        let math = PolicyMath(architecture: policy.architecture, normalizer: policy.normalizer)
        return try QLearner(math: math, program: program, inner: request.inner, q: q, threads: request.threads)
            .run(from: start, seed: request.seed, evaluateFinal: request.evaluateFinal, deterministicEpisodes: request.deterministicEpisodes,
                 cancel: cancel, progress: progress)
    }

    public var recordedEpisodesRefusal: String? {
        "is a Q-network (meta-Q-learning): it adapts by Q-learning on a session the server steps (open one on the world), not on recorded episodes"
    }

    public func learn(_ theta: inout [Double], policy: Policy, from episodes: Episodes, inner: InnerLoop, learningRate: Double,
                      cancel: Cancellation?) -> SampleBatch? {
        preconditionFailure("a Q-network does not learn from recorded episodes (recordedEpisodesRefusal)")
    }

    /// A fresh Q-network with the same budget, learning at the rate that trained meta-Q's own
    /// network from scratch (its outer rate), not at the meta-policy's adaptation rate.
    public func scratchBaseline(for checkpoint: Checkpoint, learningRate: Double?) -> Policy {
        var p = Policy(architecture: checkpoint.policy.architecture, seed: 0)
        p.qLearning = checkpoint.policy.qLearning
        if let lr = learningRate ?? checkpoint.metadata.trainingConfig.map(\.outerLearningRate) { p.qLearning?.learningRate = lr }
        return p
    }
}

/// Meta-Q-learning's meta-training, after MQL (Fakoor et al., ICLR 2020): the initialization
/// is learned by off-policy Q-learning on the multi-task TD objective of the family. Each
/// iteration collects `inner.episodes` ε-greedy episodes on each of `metaBatch` training
/// tasks with the current network (ε falls linearly from 1 to `qLearning.epsilon` over the
/// first half of the iterations), adds them to one replay buffer shared by every task, and
/// runs `qLearning.updates` double-DQN updates per task (Adam, `outerLearningRate`) against
/// a target network refreshed every `qLearning.targetPeriod` updates. Adaptation to a new
/// task (`QLearner.run`) then starts from the result with an empty buffer of its own.
///
/// Q-learning's greedy policy swings from one iteration to the next (DQN's well-known
/// instability), so the result is not the last network but the one with the best mean return
/// on its iteration's training tasks once ε has reached its final value (model selection on
/// training tasks only; held-out tasks are never seen).
///
/// Unlike MQL, the network is not given a context variable and adaptation does not re-use
/// meta-training data (no propensity weighting). Episodes are collected in parallel and
/// added in task order; updates run in order on one thread: the result does not depend on the
/// thread count.
struct MetaQTraining: MetaTrainingRun {
    let trainer: MetaTrainer
    let q: QLearning
    var theta: [Double]
    var target: [Double]
    let normalizer: ObservationNormalizer
    let math: PolicyMath
    var replay: ReplayBuffer
    var adam: Adam
    var rng: SeededGenerator
    var updates = 0
    let anneal: Int
    var best: (iteration: Int, meanReturn: Double, parameters: [Double])?

    struct Collected: Sendable {
        var replay: ReplayBuffer
        var meanReturn: Double
        var steps: Int
    }

    init(trainer: MetaTrainer, logger: Logger) {
        let architecture = trainer.architecture, config = trainer.config
        precondition(architecture.kind == .categorical, "meta-Q-learning needs discrete actions")
        self.trainer = trainer
        q = config.qLearning ?? QLearning()
        theta = architecture.network.initialParameters(seed: SplitMix64.mix(config.seed, 0xB0B))
        target = theta
        normalizer = ObservationNormalizer(size: architecture.observationCount, enabled: false)
        math = PolicyMath(architecture: architecture, normalizer: normalizer)
        replay = ReplayBuffer(capacity: q.replayCapacity, observationCount: architecture.observationCount)
        adam = Adam(count: theta.count, learningRate: config.outerLearningRate)
        rng = SeededGenerator(seed: SplitMix64.mix(config.seed, 0x9E91A7), stream: RandomStream.policy)
        logger.info("meta-training", metadata: [
            "world": "\(trainer.definition.name)", "algorithm": "metaq", "iterations": "\(config.iterations)", "parameters": "\(theta.count)",
        ])
        anneal = max(1, config.iterations / 2)
    }

    mutating func iterate(_ it: Int, logger: Logger) throws -> IterationStats {
        let config = trainer.config, q = self.q, math = self.math
        let clock = ContinuousClock.now
        let seeds = trainer.taskSeeds(iteration: it)
        let epsilon = it >= anneal ? q.epsilon : 1 - (1 - q.epsilon) * Double(it) / Double(anneal)
        let definition = trainer.definition, inner = config.inner, seed = config.seed, params = theta
        let collected = try ParallelTasks.map(count: seeds.count, threads: config.threads) { j throws -> Collected in
            let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: seeds[j]))
            let learner = QLearner(math: math, program: program, inner: inner, q: q)
            var own: ReplayBuffer? = ReplayBuffer(capacity: inner.episodes * learner.maxSteps, observationCount: math.architecture.observationCount)
            let e = try learner.collect(params: params, count: inner.episodes, epsilon: epsilon,
                                        seed: SplitMix64.mix(seed, UInt64(it), UInt64(j), 0xE915), replay: &own)
            return Collected(replay: own!, meanReturn: e.meanReturn, steps: e.stepCount)
        }
        let meanReturn = collected.map(\.meanReturn).reduce(0, +) / Double(collected.count)
        if it >= anneal || config.iterations == 1, best == nil || meanReturn > best!.meanReturn {
            best = (it, meanReturn, theta)
        }
        for c in collected {
            replay.append(contentsOf: c.replay)
            for _ in 0..<q.updates {
                QLearner.update(&theta, target: target, replay: replay, adam: &adam, rng: &rng, math: math, q: q, gamma: inner.gamma)
                updates += 1
                if updates % q.targetPeriod == 0 { target = theta }
            }
        }
        let stats = IterationStats(
            iteration: it,
            preReturn: meanReturn, postReturn: .nan,
            seconds: clock.secondsAgo, samples: collected.map(\.steps).reduce(0, +))
        logger.debug("iteration", metadata: ["i": "\(it)", "return": "\(stats.preReturn)", "epsilon": "\(epsilon)"])
        return stats
    }

    func finish(logger: Logger) -> Policy {
        var theta = self.theta
        if let best {
            logger.info("meta-Q-learning keeps the network of its best iteration", metadata: [
                "iteration": "\(best.iteration)", "return": "\(best.meanReturn)",
            ])
            theta = best.parameters
        }
        return Policy(architecture: trainer.architecture, parameters: theta.map { Float($0) }, normalizer: normalizer, qLearning: q)
    }
}
