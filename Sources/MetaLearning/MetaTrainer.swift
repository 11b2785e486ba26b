import Foundation
import Logging
import MetaSimCore

/// Outer loops.
public enum MetaAlgorithm: String, Sendable, Codable, CaseIterable {
    /// MAML with the second-order term: the meta-gradient is back-propagated through each inner
    /// step with Hessian-vector products of the inner surrogate (central finite differences of
    /// its exact gradient), on the inner episodes — like MAML's reference code, it ignores the
    /// dependence of the inner episodes' distribution on the parameters (`ProximalOuter` keeps
    /// its low-variance part).
    case maml
    /// First-order MAML: the post-adaptation gradient, applied at the initial parameters.
    case fomaml
    /// Reptile (Nichol et al., 2018): move the initial parameters towards the adapted ones.
    case reptile
    /// The multi-task baseline: plain policy gradient (Adam) on the pooled episodes of the same
    /// tasks, the same number of episodes per task as MAML, no meta objective.
    case multitask
    /// The oracle: the multi-task baseline's training with every family parameter appended to the
    /// observations, so the policy is told its task (MAML's oracle for HalfCheetahVel, which
    /// receives the goal velocity). Evaluation uses it, without adapting, as the level to reach.
    case oracle
    /// Meta-Q-learning, for discrete actions (after MQL, Fakoor et al. 2020): a Q-network
    /// initialization learned by Q-learning on the family's multi-task TD objective, adapted to a
    /// new task by a few Q-learning rounds on its own experience (`QLearning`, `QLearner`).
    case metaq
}

/// Meta-training settings (all recorded in the checkpoint).
public struct MetaTrainingConfig: Sendable, Codable, Equatable {
    public var algorithm: MetaAlgorithm
    public var iterations: Int
    /// Tasks per iteration.
    public var metaBatch: Int
    public var inner: InnerLoop
    /// Adam's learning rate (MAML, first-order MAML, multi-task) or Reptile's step size ε.
    public var outerLearningRate: Double
    public var hidden: [Int]
    public var initialLogStd: Double
    public var normalizeObservations: Bool
    /// MAML: average the post-step losses of every inner step (MAML++'s multi-step loss) instead
    /// of using the last step's alone.
    public var lossAtEveryStep: Bool
    /// MAML: meta-learn the learning rate of each inner step (log-parametrized, Adam with
    /// `learningRateLearningRate`), starting from `inner.learningRate`.
    public var learnInnerLearningRates: Bool
    /// MAML: also meta-learn one multiplier of the inner learning rate per parameter (Meta-SGD,
    /// Li et al. 2017; log-parametrized, starting at 1, Adam with `learningRateLearningRate`,
    /// kept within [e^−`maxLogScale`, e^`maxLogScale`]).
    public var learnParameterRates: Bool
    /// MAML: CAVIA (Zintgraf et al. 2019): the policy gets this many context parameters, extra
    /// network inputs that the inner loop adapts alone (every other parameter's inner rate
    /// multiplier is 0); the outer loop learns the rest of the network, and the context's initial
    /// value, through the adapted context (nil: none). Other algorithms ignore it, as they do
    /// `learnParameterRates`; `metasim train` refuses the combination.
    public var contextParameters: Int?
    /// MAML: ProMP's outer loop (`ProximalOuter`): each iteration's episodes serve several
    /// clipped outer steps, and the inner surrogate carries likelihood ratios (nil: MAML's one
    /// outer step per iteration).
    public var proximal: ProximalOuter?
    public var learningRateLearningRate: Double
    /// Gaussian policies act in units of the action bounds (see `PolicyArchitecture`).
    public var scaledActions: Bool
    public var seed: UInt64
    /// Episode length in steps, replacing the world file's horizon (nil: the world's). Recorded
    /// in the checkpoint; `adapt` and `evaluate` use it unless told otherwise.
    public var horizon: Int?
    /// Worker threads (tasks of an iteration run in parallel; results do not depend on it, so
    /// it is not recorded: checkpoints are identical for any thread count).
    public var threads: Int
    /// Meta-Q-learning: the inner loop's Q-learning settings (nil for the policy-gradient
    /// algorithms). Rounds, episodes per round and γ are `inner`'s.
    public var qLearning: QLearning?

    enum CodingKeys: String, CodingKey {
        case algorithm, iterations, metaBatch, inner, outerLearningRate, hidden, initialLogStd, normalizeObservations, lossAtEveryStep, learnInnerLearningRates, learnParameterRates, contextParameters, proximal, learningRateLearningRate, scaledActions, seed, horizon, qLearning
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(algorithm: try c.decode(MetaAlgorithm.self, forKey: .algorithm), iterations: try c.decode(Int.self, forKey: .iterations),
                  metaBatch: try c.decode(Int.self, forKey: .metaBatch), inner: try c.decode(InnerLoop.self, forKey: .inner),
                  outerLearningRate: try c.decode(Double.self, forKey: .outerLearningRate), hidden: try c.decode([Int].self, forKey: .hidden),
                  initialLogStd: try c.decode(Double.self, forKey: .initialLogStd),
                  normalizeObservations: try c.decode(Bool.self, forKey: .normalizeObservations),
                  lossAtEveryStep: try c.decodeIfPresent(Bool.self, forKey: .lossAtEveryStep) ?? false,
                  learnInnerLearningRates: try c.decodeIfPresent(Bool.self, forKey: .learnInnerLearningRates) ?? false,
                  learnParameterRates: try c.decodeIfPresent(Bool.self, forKey: .learnParameterRates) ?? false,
                  contextParameters: try c.decodeIfPresent(Int.self, forKey: .contextParameters),
                  proximal: try c.decodeIfPresent(ProximalOuter.self, forKey: .proximal),
                  learningRateLearningRate: try c.decodeIfPresent(Double.self, forKey: .learningRateLearningRate) ?? 0.01,
                  scaledActions: try c.decode(Bool.self, forKey: .scaledActions), seed: try c.decode(UInt64.self, forKey: .seed),
                  horizon: try c.decodeIfPresent(Int.self, forKey: .horizon),
                  qLearning: try c.decodeIfPresent(QLearning.self, forKey: .qLearning))
    }

    /// Settings added after the first shipped checkpoints are written only when they are used
    /// (`learnParameterRates` when true, `contextParameters` and `proximal` when set), so that a checkpoint
    /// trained without them records the same bytes as before and `make train` reproduces the
    /// shipped files bit for bit.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(algorithm, forKey: .algorithm)
        try c.encode(iterations, forKey: .iterations)
        try c.encode(metaBatch, forKey: .metaBatch)
        try c.encode(inner, forKey: .inner)
        try c.encode(outerLearningRate, forKey: .outerLearningRate)
        try c.encode(hidden, forKey: .hidden)
        try c.encode(initialLogStd, forKey: .initialLogStd)
        try c.encode(normalizeObservations, forKey: .normalizeObservations)
        try c.encode(lossAtEveryStep, forKey: .lossAtEveryStep)
        try c.encode(learnInnerLearningRates, forKey: .learnInnerLearningRates)
        if learnParameterRates { try c.encode(true, forKey: .learnParameterRates) }
        try c.encodeIfPresent(contextParameters, forKey: .contextParameters)
        try c.encodeIfPresent(proximal, forKey: .proximal)
        try c.encode(learningRateLearningRate, forKey: .learningRateLearningRate)
        try c.encode(scaledActions, forKey: .scaledActions)
        try c.encode(seed, forKey: .seed)
        try c.encodeIfPresent(horizon, forKey: .horizon)
        try c.encodeIfPresent(qLearning, forKey: .qLearning)
    }

    public init(algorithm: MetaAlgorithm, iterations: Int = 100, metaBatch: Int = 20, inner: InnerLoop = InnerLoop(),
                outerLearningRate: Double = 0.003, hidden: [Int] = [64, 64], initialLogStd: Double = 0,
                normalizeObservations: Bool = false, lossAtEveryStep: Bool = true,
                learnInnerLearningRates: Bool = false, learnParameterRates: Bool = false, contextParameters: Int? = nil, proximal: ProximalOuter? = nil, learningRateLearningRate: Double = 0.01, scaledActions: Bool = true, seed: UInt64 = 0, horizon: Int? = nil, threads: Int = 1,
                qLearning: QLearning? = nil) {
        self.algorithm = algorithm
        self.iterations = iterations
        self.metaBatch = metaBatch
        self.inner = inner
        self.outerLearningRate = outerLearningRate
        self.hidden = hidden
        self.initialLogStd = initialLogStd
        self.normalizeObservations = normalizeObservations
        self.lossAtEveryStep = lossAtEveryStep
        self.learnInnerLearningRates = learnInnerLearningRates
        self.learnParameterRates = learnParameterRates
        self.contextParameters = contextParameters
        self.proximal = proximal
        self.learningRateLearningRate = learningRateLearningRate
        self.scaledActions = scaledActions
        self.seed = seed
        self.horizon = horizon
        self.threads = threads
        self.qLearning = algorithm == .metaq ? (qLearning ?? QLearning()) : qLearning
    }

    /// Episodes sampled per task and iteration (the same for MAML and its multi-task baseline).
    public var episodesPerTask: Int {
        algorithm == .metaq ? inner.episodes : algorithm == .reptile ? inner.steps * inner.episodes : (inner.steps + 1) * inner.episodes
    }
}

/// What one outer iteration did.
public struct IterationStats: Sendable {
    public var iteration: Int
    /// Mean return over the iteration's tasks before adaptation, and after it (NaN when the
    /// algorithm does not sample after adapting).
    public var preReturn: Double
    public var postReturn: Double
    public var seconds: Double
    /// Environment steps sampled in this iteration (every episode of every task).
    public var samples: Int
}

/// Runs an outer loop over tasks of a family drawn from the training seed range.
public struct MetaTrainer: Sendable {
    public let definition: WorldDefinition
    public let config: MetaTrainingConfig
    public let architecture: PolicyArchitecture

    public init(definition: WorldDefinition, config: MetaTrainingConfig) throws(WorldError) {
        let definition = definition.withHorizon(config.horizon)
        self.definition = definition
        self.config = config
        let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
        var architecture = PolicyArchitecture(specs: specs, hidden: config.hidden, initialLogStd: config.initialLogStd,
                                              scaledActions: config.scaledActions)
        if config.algorithm == .oracle {
            let names = definition.familyParameters.map(\.name)
            architecture.taskInputs = names
            architecture.observationCount += names.count
        }
        if config.algorithm == .maml || config.algorithm == .fomaml { architecture.contextParameters = config.contextParameters }
        self.architecture = architecture
    }

    /// The task seeds of iteration i (uniform in the training range).
    public func taskSeeds(iteration i: Int) -> [UInt64] {
        var rng = SeededGenerator(seed: SplitMix64.mix(config.seed, UInt64(i)), stream: RandomStream.task)
        return (0..<config.metaBatch).map { _ in
            TaskSeeds.training.lowerBound + rng.next(upperBound: UInt64(TaskSeeds.training.count))
        }
    }

    /// Trains and returns the policy. `progress` sees every iteration.
    public func train(logger: Logger, progress: (IterationStats) -> Void = { _ in }) throws -> Policy {
        if config.algorithm == .metaq { return try trainMetaQ(logger: logger, progress: progress) }
        var theta = architecture.initialParameters(seed: SplitMix64.mix(config.seed, 0xB0B))
        var normalizer = ObservationNormalizer(size: architecture.observationCount, enabled: config.normalizeObservations)
        var adam = Adam(count: theta.count, learningRate: config.outerLearningRate)
        let learnRates = config.learnInnerLearningRates && (config.algorithm == .maml || config.algorithm == .fomaml)
        var logRates = [Double](repeating: log(max(config.inner.learningRate, 1e-12)), count: learnRates ? max(config.inner.steps, 1) : 0)
        var rateAdam = Adam(count: logRates.count, learningRate: config.learningRateLearningRate)
        let learnScales = config.learnParameterRates && (config.algorithm == .maml || config.algorithm == .fomaml)
        var logScales = [Double](repeating: 0, count: learnScales ? theta.count : 0)
        var scaleAdam = Adam(count: logScales.count, learningRate: config.learningRateLearningRate)
        // CAVIA: fixed multipliers, so the inner loop moves the context parameters alone.
        let contextScales = architecture.contextRateScales
        let proximal = config.algorithm == .maml || config.algorithm == .fomaml ? config.proximal : nil
        logger.info("meta-training", metadata: [
            "world": "\(definition.name)", "algorithm": "\(config.algorithm.rawValue)",
            "iterations": "\(config.iterations)", "parameters": "\(theta.count)",
        ])
        for it in 0..<config.iterations {
            let clock = ContinuousClock.now
            let seeds = taskSeeds(iteration: it)
            let math = PolicyMath(architecture: architecture, normalizer: normalizer)
            let start = theta
            let rates = logRates.map { exp($0) }, scales = learnScales ? logScales.map { exp($0) } : contextScales
            let results = try ParallelTasks.map(count: seeds.count, threads: config.threads) { j throws -> TaskResult in
                try self.taskStep(math: math, theta: start, rates: rates, scales: scales, taskSeed: seeds[j], iteration: it, index: j)
            }
            // One outer step from the tasks' gradients, computed with `usedRates` and `usedScales`.
            func outerStep(_ tasks: [TaskGradient], usedRates: [Double], usedScales: [Double]) {
                if learnScales {
                    var g = [Double](repeating: 0, count: logScales.count)
                    for r in tasks { for i in 0..<g.count { g[i] += r.scaleGradient[i] * usedScales[i] } }
                    for i in 0..<g.count { g[i] /= Double(tasks.count) }
                    scaleAdam.step(&logScales, gradient: g)
                    for i in 0..<logScales.count { logScales[i] = min(max(logScales[i], -Self.maxLogScale), Self.maxLogScale) }
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
                switch config.algorithm {
                case .reptile:
                    for i in 0..<theta.count { theta[i] += config.outerLearningRate * update[i] }
                default:
                    adam.step(&theta, gradient: update)
                }
            }
            if let proximal {
                // ProMP: every epoch redoes the inner steps from the current θ on the same episodes.
                for _ in 0..<proximal.epochs {
                    let from = theta, epochRates = logRates.map { exp($0) }
                    let epochScales = learnScales ? logScales.map { exp($0) } : contextScales
                    let alphas = config.inner.stepLearningRates(epochRates)
                    let tasks = try ParallelTasks.map(count: results.count, threads: config.threads) { j -> TaskGradient in
                        let g = Self.proximalMetaGradient(math: math, theta: from, batches: results[j].batches,
                                                          oldLogLikelihoods: results[j].oldLogLikelihoods, learningRates: alphas,
                                                          scales: epochScales, clip: proximal.clip,
                                                          secondOrder: self.config.algorithm == .maml, everyStep: self.config.lossAtEveryStep)
                        return TaskGradient(direction: g.gradient, rateGradient: epochRates.isEmpty ? [] : g.learningRates, scaleGradient: g.scales)
                    }
                    outerStep(tasks, usedRates: epochRates, usedScales: epochScales)
                }
            } else {
                outerStep(results.map { TaskGradient(direction: $0.direction, rateGradient: $0.rateGradient, scaleGradient: $0.scaleGradient) },
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
            progress(stats)
        }
        normalizer.mean = normalizer.mean.map { Double(Float($0)) }
        normalizer.variance = normalizer.variance.map { Double(Float($0)) }
        return Policy(architecture: architecture, parameters: theta.map { Float($0) }, normalizer: normalizer,
                      innerLearningRates: logRates.map { exp($0) },
                      innerRateScales: learnScales ? logScales.map { Float(exp($0)) } : contextScales.map { Float($0) })
    }

    /// Meta-SGD's rate multipliers stay within [e^−4, e^4] (≈ 0.018 … 55): a bound on how far the
    /// noisy per-parameter meta-gradient can push one rate.
    static let maxLogScale = 4.0

    /// What one task contributes to an outer step.
    struct TaskGradient: Sendable {
        var direction: [Double]
        var rateGradient: [Double] = []
        var scaleGradient: [Double] = []
    }

    struct TaskResult: Sendable {
        /// The gradient to descend (MAML, multi-task) or the adapted-minus-initial step (Reptile).
        var direction: [Double]
        /// d(meta-loss)/d(α_k) per inner step (MAML with learned rates), else empty.
        var rateGradient: [Double] = []
        /// d(meta-loss)/d(m_i) per parameter (MAML with learned per-parameter rates), else empty.
        var scaleGradient: [Double] = []
        var preReturn: Double
        var postReturn: Double
        /// Pre-adaptation observations, for the normalizer (empty when it is off).
        var observations: [Double]
        /// Environment steps sampled for this task.
        var samples = 0
        /// ProMP (`proximal`): the inner batches and the post-adaptation one, and the
        /// log-likelihood of each of their samples under the parameters that sampled it; the
        /// direction is then left empty, as every epoch computes its own.
        var batches: [SampleBatch] = []
        var oldLogLikelihoods: [[Double]] = []
    }

    func taskStep(math: PolicyMath, theta: [Double], rates: [Double], scales: [Double], taskSeed: UInt64, iteration: Int, index: Int) throws -> TaskResult {
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: taskSeed))
        let sampler = Sampler(program: program, threads: 1)
        let seed = SplitMix64.mix(config.seed, UInt64(iteration), UInt64(index), 0xE915)
        let inner = config.inner
        var result: TaskResult
        switch config.algorithm {
        case .metaq:
            preconditionFailure("meta-Q-learning trains in trainMetaQ")
        case .multitask, .oracle:
            let episodes = try sampler.collect(math: math, params: theta, count: config.episodesPerTask, seed: seed)
            let batch = episodes.sampleBatch(weights: Advantages.gae(episodes, gamma: inner.gamma, lambda: inner.lambda))
            let g = math.surrogate(theta, batch: batch).gradient
            result = TaskResult(direction: g, preReturn: episodes.meanReturn, postReturn: .nan, observations: [])
            result.observations = normalizerRows(episodes)
            result.samples = episodes.stepCount
        case .reptile:
            let a = try Adapter(math: math, sampler: sampler, inner: inner).run(from: theta, seed: seed, evaluateFinal: false)
            let delta = zip(a.final, theta).map { $0 - $1 }
            result = TaskResult(direction: delta, preReturn: a.returns[0], postReturn: a.returns.count > 1 ? a.returns[a.returns.count - 1] : .nan,
                                observations: normalizerRows(a.episodes[0]), samples: a.episodes.map(\.stepCount).reduce(0, +))
        case .maml, .fomaml:
            let a = try Adapter(math: math, sampler: sampler, inner: inner, learningRates: rates, scales: scales)
                .run(from: theta, seed: seed, evaluateFinal: true)
            let post = a.episodes[a.episodes.count - 1]
            let postBatch = post.sampleBatch(weights: Advantages.gae(post, gamma: inner.gamma, lambda: inner.lambda))
            result = TaskResult(direction: [], preReturn: a.returns[0], postReturn: a.returns[a.returns.count - 1],
                                observations: normalizerRows(a.episodes[0]), samples: a.episodes.map(\.stepCount).reduce(0, +))
            if config.proximal != nil {
                result.batches = a.batches + [postBatch]
                result.oldLogLikelihoods = result.batches.indices.map { math.logLikelihoods(a.parameters[$0], batch: result.batches[$0]) }
            } else {
                let (v, dRates, dScales) = Self.metaGradient(math: math, parameters: a.parameters, batches: a.batches + [postBatch],
                                                             learningRates: inner.stepLearningRates(rates), scales: scales, secondOrder: config.algorithm == .maml,
                                                             everyStep: config.lossAtEveryStep)
                result.direction = v
                result.rateGradient = rates.isEmpty ? [] : dRates
                result.scaleGradient = dScales
            }
        }
        return result
    }

    func normalizerRows(_ e: Episodes) -> [Double] {
        config.normalizeObservations ? e.sampleBatch(weights: [Double](repeating: 0, count: e.count * e.horizon)).observations : []
    }

    /// The gradient of the meta-objective with respect to θ_0, for θ_{k+1} = θ_k − α ∇L_k(θ_k)
    /// where L_k is the surrogate on `batches[k]` (episodes sampled with θ_k; the last batch is
    /// the post-adaptation one). The objective is L_K(θ_K), or with `everyStep` the mean of
    /// L_k(θ_k) over k = 1 … K (MAML++'s multi-step loss). Reverse mode: the adjoint of θ_K is
    /// carried back through each step by (I − α H_k), H_k the Hessian of L_k at θ_k (omitted
    /// when first-order).
    /// With per-parameter `scales` m (Meta-SGD; empty: all 1) the step is θ_{k+1} = θ_k − α_k m ⊙ ∇L_k(θ_k)
    /// and the adjoint goes back through (I − α_k H_k diag(m)).
    /// Also returns d(objective)/d(α_k) = −adjoint(θ_{k+1}) · (m ⊙ ∇L_k(θ_k)) for each step's rate α_k,
    /// and d(objective)/d(m_i) = −Σ_k α_k adjoint(θ_{k+1})_i ∇L_k(θ_k)_i (empty when `scales` is).
    static func metaGradient(math: PolicyMath, parameters: [[Double]], batches: [SampleBatch], learningRates: [Double],
                             scales: [Double] = [], secondOrder: Bool, everyStep: Bool)
        -> (gradient: [Double], learningRates: [Double], scales: [Double]) {
        let steps = parameters.count - 1
        precondition(batches.count == steps + 1 && learningRates.count == steps)
        precondition(scales.isEmpty || scales.count == parameters[0].count)
        let weight = everyStep && steps > 0 ? 1 / Double(steps) : 1
        let outer = math.surrogate(parameters[steps], batch: batches[steps]).gradient.map { $0 * weight }
        let inner = (0..<steps).map { math.surrogate(parameters[$0], batch: batches[$0]).gradient }
        return backpropagate(outer, innerGradients: inner, learningRates: learningRates, scales: scales, everyStep: everyStep,
                             hessianVectorProduct: secondOrder ? { k, direction in
                                 hessianVectorProduct(math: math, at: parameters[k], batch: batches[k], vector: direction)
                             } : nil)
    }

    /// Reverse mode through the inner steps θ_{k+1} = θ_k − α_k m ⊙ g_k, g_k = ∇L_k(θ_k) given in
    /// `innerGradients`, from the adjoint `outer` of θ_K (already weighted): the adjoint goes back
    /// through (I − α_k H_k diag(m)), with `hessianVectorProduct(k, u)` = H_k u (nil: first-order,
    /// H_k taken as 0), and with `everyStep` each g_k (k ≥ 1) weighted 1/K joins it. Returns the
    /// adjoint of θ_0, d/dα_k = −adjoint(θ_{k+1}) · (m ⊙ g_k) and d/dm_i = −Σ_k α_k
    /// adjoint(θ_{k+1})_i g_k,i (empty when `scales` is).
    static func backpropagate(_ outer: [Double], innerGradients: [[Double]], learningRates: [Double], scales: [Double],
                              everyStep: Bool, hessianVectorProduct: ((Int, [Double]) -> [Double])?)
        -> (gradient: [Double], learningRates: [Double], scales: [Double]) {
        let steps = innerGradients.count
        let weight = everyStep && steps > 0 ? 1 / Double(steps) : 1
        var v = outer
        var dRates = [Double](repeating: 0, count: steps)
        var dScales = [Double](repeating: 0, count: scales.count)
        for k in stride(from: steps - 1, through: 0, by: -1) {
            let alpha = learningRates[k], inner = innerGradients[k]
            var dot = 0.0
            if scales.isEmpty {
                for i in 0..<v.count { dot += v[i] * inner[i] }
            } else {
                for i in 0..<v.count {
                    let p = v[i] * inner[i]
                    dot += scales[i] * p
                    dScales[i] -= alpha * p
                }
            }
            dRates[k] = -dot
            if let hessianVectorProduct {
                let hv = hessianVectorProduct(k, scales.isEmpty ? v : zip(scales, v).map { $0 * $1 })
                for i in 0..<v.count { v[i] -= alpha * hv[i] }
            }
            if everyStep && k >= 1 {
                for i in 0..<v.count { v[i] += weight * inner[i] }
            }
        }
        return (v, dRates, dScales)
    }

    /// H v for the Hessian H of the surrogate on `batch` at `theta`: a central difference of the
    /// exact gradient along v (step 1e-6 · (1 + |θ|) / |v| in parameter space).
    static func hessianVectorProduct(math: PolicyMath, at theta: [Double], batch: SampleBatch, vector v: [Double]) -> [Double] {
        centralDifference(at: theta, along: v) { math.surrogate($0, batch: batch).gradient }
    }
}

/// Runs independent jobs on a few threads and returns their results in job order (so that any
/// reduction over them is independent of the thread count).
enum ParallelTasks {
    final class Slots<T>: @unchecked Sendable {
        var values: [Result<T, any Error>?]
        init(_ n: Int) { values = Array(repeating: nil, count: n) }
    }

    static func map<T: Sendable>(count: Int, threads: Int, _ job: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let slots = Slots<T>(count)
        let workers = max(1, min(threads, count))
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for j in stride(from: w, to: count, by: workers) {
                let r = Result { try job(j) }
                lock.lock(); slots.values[j] = r; lock.unlock()
            }
        }
        return try slots.values.map { try $0!.get() }
    }
}
