import Foundation
import Logging
import MetaSimCore

extension MetaTrainer {
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
    func trainMetaQ(logger: Logger, progress: (IterationStats) -> Void) throws -> Policy {
        precondition(architecture.kind == .categorical, "meta-Q-learning needs discrete actions")
        let q = config.qLearning ?? QLearning()
        var theta = architecture.network.initialParameters(seed: SplitMix64.mix(config.seed, 0xB0B))
        var target = theta
        let normalizer = ObservationNormalizer(size: architecture.observationCount, enabled: false)
        let math = PolicyMath(architecture: architecture, normalizer: normalizer)
        var replay = ReplayBuffer(capacity: q.replayCapacity, observationCount: architecture.observationCount)
        var adam = Adam(count: theta.count, learningRate: config.outerLearningRate)
        var rng = SeededGenerator(seed: SplitMix64.mix(config.seed, 0x9E91A7), stream: RandomStream.policy)
        var updates = 0
        logger.info("meta-training", metadata: [
            "world": "\(definition.name)", "algorithm": "metaq", "iterations": "\(config.iterations)", "parameters": "\(theta.count)",
        ])
        struct Collected: Sendable {
            var replay: ReplayBuffer
            var meanReturn: Double
            var steps: Int
        }
        let anneal = max(1, config.iterations / 2)
        var best: (iteration: Int, meanReturn: Double, parameters: [Double])?
        for it in 0..<config.iterations {
            let clock = ContinuousClock.now
            let seeds = taskSeeds(iteration: it)
            let epsilon = it >= anneal ? q.epsilon : 1 - (1 - q.epsilon) * Double(it) / Double(anneal)
            let definition = self.definition, inner = config.inner, seed = config.seed, params = theta
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
            progress(stats)
        }
        if let best {
            logger.info("meta-Q-learning keeps the network of its best iteration", metadata: [
                "iteration": "\(best.iteration)", "return": "\(best.meanReturn)",
            ])
            theta = best.parameters
        }
        return Policy(architecture: architecture, parameters: theta.map { Float($0) }, normalizer: normalizer, qLearning: q)
    }
}
