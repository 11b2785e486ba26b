import Foundation
import Logging
import MetaSimCore

/// A learner trained by the policy-gradient outer loop (`PolicyGradientTraining`) whose policies
/// adapt by the policy-gradient inner loop (`Adapter`): MAML's family, Reptile, multi-task and
/// the oracle. It supplies each task's contribution to an iteration and how the outer step moves
/// the parameters; adaptation, checkpoint defaults and the scratch baseline are shared.
public protocol PolicyGradientLearner: MetaLearner {
    /// One task's contribution to an iteration: `theta` adapted (or not) on episodes of `sampler`'s
    /// task, with the inner rates `rates` and per-parameter multipliers `scales`.
    func taskStep(_ trainer: MetaTrainer, math: PolicyMath, sampler: Sampler, theta: [Double], rates: [Double], scales: [Double],
                  seed: UInt64) throws -> MetaTrainer.TaskResult

    /// Moves `theta` by the tasks' mean direction (default: one Adam step, `adam`).
    func outerUpdate(_ theta: inout [Double], direction: [Double], adam: inout Adam, config: MetaTrainingConfig)

    /// Outer steps each iteration takes on its own episodes, each from `epochGradients` (nil: one
    /// step on the tasks' directions).
    func outerEpochs(_ config: MetaTrainingConfig) -> Int?

    /// The tasks' gradients of one of the `outerEpochs`, from `theta` and the current rates.
    func epochGradients(_ results: [MetaTrainer.TaskResult], trainer: MetaTrainer, math: PolicyMath, theta: [Double], rates: [Double],
                        scales: [Double]) throws -> [MetaTrainer.TaskGradient]
}

extension PolicyGradientLearner {
    public func outerUpdate(_ theta: inout [Double], direction: [Double], adam: inout Adam, config: MetaTrainingConfig) {
        adam.step(&theta, gradient: direction)
    }

    public func outerEpochs(_ config: MetaTrainingConfig) -> Int? { nil }

    public func epochGradients(_ results: [MetaTrainer.TaskResult], trainer: MetaTrainer, math: PolicyMath, theta: [Double], rates: [Double],
                               scales: [Double]) throws -> [MetaTrainer.TaskGradient] {
        preconditionFailure("\(algorithms) takes one outer step per iteration")
    }

    public func training(_ trainer: MetaTrainer, logger: Logger) throws -> any MetaTrainingRun {
        PolicyGradientTraining(trainer: trainer, learner: self, logger: logger)
    }

    /// A feed-forward policy-gradient policy (not a Q-network, not a recurrent policy).
    public func canAdapt(_ policy: Policy) -> Bool { policy.qLearning == nil && policy.architecture.recurrent == nil }

    /// 3 steps (the default budget) of the episodes, learning rate, γ and λ it was meta-trained
    /// with (20 episodes, 0.1, 0.99, 1 when not recorded); its meta-learned per-step rates if any.
    public func adaptationDefaults(_ checkpoint: Checkpoint) -> AdaptationDefaults {
        var inner = InnerLoop(steps: 3, episodes: 20, learningRate: 0.1)
        if let trained = checkpoint.trainingRecord?.inner {
            inner.episodes = trained.episodes
            inner.learningRate = trained.learningRate
            inner.gamma = trained.gamma
            inner.lambda = trained.lambda
        }
        let rates = checkpoint.policy.innerLearningRates
        return AdaptationDefaults(inner: inner, learningRates: rates.isEmpty ? [inner.learningRate] : rates)
    }

    /// `inner.steps` policy-gradient steps (`Adapter`), at the policy's meta-learned rates and
    /// per-parameter multipliers unless the request gives rates.
    public func adapt(_ policy: Policy, from start: [Double], on program: WorldProgram, _ request: AdaptationRequest,
                      cancel: Cancellation?, progress: (Int, Episodes) -> Void) throws(WorldError) -> Adaptation {
        let math = PolicyMath(architecture: policy.architecture, normalizer: policy.normalizer)
        let adapter = Adapter(math: math, sampler: Sampler(program: program, threads: request.threads), inner: request.inner,
                              learningRates: request.learningRate.map { [$0] } ?? request.learningRates ?? policy.innerLearningRates,
                              scales: policy.innerRateScales.map { Double($0) })
        return try adapter.run(from: start, seed: request.seed, evaluateFinal: request.evaluateFinal,
                               deterministicEpisodes: request.deterministicEpisodes, cancel: cancel, progress: progress)
    }

    public var recordedEpisodesRefusal: String? { nil }

    public func learn(_ theta: inout [Double], policy: Policy, from episodes: Episodes, inner: InnerLoop, learningRate: Double,
                      cancel: Cancellation?) -> SampleBatch? {
        Adapter.update(&theta, episodes: episodes, math: PolicyMath(architecture: policy.architecture, normalizer: policy.normalizer),
                       inner: inner, learningRate: learningRate, scales: policy.innerRateScales.map { Double($0) }, cancel: cancel)
    }

    /// A fresh policy of the checkpoint's architecture.
    public func scratchBaseline(for checkpoint: Checkpoint, learningRate: Double?) -> Policy {
        Policy(architecture: checkpoint.policy.architecture, seed: 0)
    }
}

/// The policy-gradient outer loop: each iteration samples `metaBatch` training tasks, asks the
/// learner for each task's contribution (in parallel, results in task order), and takes one outer
/// step on their mean (or the learner's `outerEpochs`), learning the inner rates and multipliers
/// alongside when the learner and the configuration ask for them.
struct PolicyGradientTraining: MetaTrainingRun {
    let trainer: MetaTrainer
    let learner: any PolicyGradientLearner
    var theta: [Double]
    var normalizer: ObservationNormalizer
    var adam: Adam
    let learnRates: Bool
    var logRates: [Double]
    var rateAdam: Adam
    let learnScales: Bool
    var logScales: [Double]
    var scaleAdam: Adam
    /// CAVIA: fixed multipliers, so the inner loop moves the context parameters alone.
    let contextScales: [Double]

    init(trainer: MetaTrainer, learner: any PolicyGradientLearner, logger: Logger) {
        let config = trainer.config, architecture = trainer.architecture
        self.trainer = trainer
        self.learner = learner
        theta = architecture.initialParameters(seed: SplitMix64.mix(config.seed, 0xB0B))
        normalizer = ObservationNormalizer(size: architecture.observationCount, enabled: config.normalizeObservations)
        adam = Adam(count: theta.count, learningRate: config.outerLearningRate)
        learnRates = config.learnInnerLearningRates && learner.options.contains(.innerLearningRates)
        logRates = [Double](repeating: log(max(config.inner.learningRate, 1e-12)), count: learnRates ? max(config.inner.steps, 1) : 0)
        rateAdam = Adam(count: logRates.count, learningRate: config.learningRateLearningRate)
        learnScales = config.learnParameterRates && learner.options.contains(.parameterRates)
        logScales = [Double](repeating: 0, count: learnScales ? theta.count : 0)
        scaleAdam = Adam(count: logScales.count, learningRate: config.learningRateLearningRate)
        contextScales = architecture.contextRateScales
        logger.info("meta-training", metadata: [
            "world": "\(trainer.definition.name)", "algorithm": "\(config.algorithm.rawValue)",
            "iterations": "\(config.iterations)", "parameters": "\(theta.count)",
        ])
    }

    mutating func iterate(_ it: Int, logger: Logger) throws -> IterationStats {
        let config = trainer.config, architecture = trainer.architecture
        let clock = ContinuousClock.now
        let seeds = trainer.taskSeeds(iteration: it)
        let math = PolicyMath(architecture: architecture, normalizer: normalizer)
        let start = theta
        let rates = logRates.map { exp($0) }, scales = learnScales ? logScales.map { exp($0) } : contextScales
        let trainer = self.trainer, learner = self.learner
        let results = try ParallelTasks.map(count: seeds.count, threads: config.threads) { j throws -> MetaTrainer.TaskResult in
            try trainer.taskStep(learner, math: math, theta: start, rates: rates, scales: scales, taskSeed: seeds[j], iteration: it, index: j)
        }
        // One outer step from the tasks' gradients, computed with `usedRates` and `usedScales`.
        func outerStep(_ tasks: [MetaTrainer.TaskGradient], usedRates: [Double], usedScales: [Double]) {
            if learnScales {
                var g = [Double](repeating: 0, count: logScales.count)
                for r in tasks { for i in 0..<g.count { g[i] += r.scaleGradient[i] * usedScales[i] } }
                for i in 0..<g.count { g[i] /= Double(tasks.count) }
                scaleAdam.step(&logScales, gradient: g)
                for i in 0..<logScales.count { logScales[i] = min(max(logScales[i], -MetaTrainer.maxLogScale), MetaTrainer.maxLogScale) }
            }
            if learnRates {
                var g = [Double](repeating: 0, count: logRates.count)
                for r in tasks { for k in 0..<g.count { g[k] += r.rateGradient[k] * usedRates[k] } }
                for k in 0..<g.count { g[k] /= Double(tasks.count) }
                rateAdam.step(&logRates, gradient: g)
            }
            var update = [Double](repeating: 0, count: theta.count)
            for r in tasks { for i in 0..<update.count { update[i] += r.direction[i] } }
            for i in 0..<update.count { update[i] /= Double(tasks.count) }
            learner.outerUpdate(&theta, direction: update, adam: &adam, config: config)
        }
        if let epochs = learner.outerEpochs(config) {
            // Every epoch redoes the inner steps from the current θ on the same episodes (ProMP).
            for _ in 0..<epochs {
                let from = theta, epochRates = logRates.map { exp($0) }
                let epochScales = learnScales ? logScales.map { exp($0) } : contextScales
                let tasks = try learner.epochGradients(results, trainer: trainer, math: math, theta: from, rates: epochRates, scales: epochScales)
                outerStep(tasks, usedRates: epochRates, usedScales: epochScales)
            }
        } else {
            outerStep(results.map { MetaTrainer.TaskGradient(direction: $0.direction, rateGradient: $0.rateGradient, scaleGradient: $0.scaleGradient) },
                      usedRates: rates, usedScales: scales)
        }
        for r in results { normalizer.update(r.observations, rows: r.observations.count / max(architecture.observationCount, 1)) }
        let stats = IterationStats(
            iteration: it,
            preReturn: results.map(\.preReturn).reduce(0, +) / Double(results.count),
            postReturn: results.map(\.postReturn).reduce(0, +) / Double(results.count),
            seconds: clock.secondsAgo,
            samples: results.map(\.samples).reduce(0, +))
        logger.debug("iteration", metadata: ["i": "\(it)", "pre": "\(stats.preReturn)", "post": "\(stats.postReturn)"])
        return stats
    }

    func finish(logger: Logger) -> Policy {
        var normalizer = self.normalizer
        normalizer.mean = normalizer.mean.map { Double(Float($0)) }
        normalizer.variance = normalizer.variance.map { Double(Float($0)) }
        return Policy(architecture: trainer.architecture, parameters: theta.map { Float($0) }, normalizer: normalizer,
                      innerLearningRates: logRates.map { exp($0) },
                      innerRateScales: learnScales ? logScales.map { Float(exp($0)) } : contextScales.map { Float($0) })
    }
}
