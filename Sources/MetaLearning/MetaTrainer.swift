import Foundation
import Logging
import MetaSimCore

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
    /// RL² (`RecurrentLearner`): the trials and PPO updates it trains with (nil for the others).
    public var recurrent: RecurrentTraining?

    enum CodingKeys: String, CodingKey {
        case algorithm, iterations, metaBatch, inner, outerLearningRate, hidden, initialLogStd, normalizeObservations, lossAtEveryStep, learnInnerLearningRates, learnParameterRates, contextParameters, proximal, learningRateLearningRate, scaledActions, seed, horizon, qLearning, recurrent
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
                  qLearning: try c.decodeIfPresent(QLearning.self, forKey: .qLearning),
                  recurrent: try c.decodeIfPresent(RecurrentTraining.self, forKey: .recurrent))
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
        try c.encodeIfPresent(recurrent, forKey: .recurrent)
    }

    public init(algorithm: MetaAlgorithm, iterations: Int = 100, metaBatch: Int = 20, inner: InnerLoop = InnerLoop(),
                outerLearningRate: Double = 0.003, hidden: [Int] = [64, 64], initialLogStd: Double = 0,
                normalizeObservations: Bool = false, lossAtEveryStep: Bool = true,
                learnInnerLearningRates: Bool = false, learnParameterRates: Bool = false, contextParameters: Int? = nil, proximal: ProximalOuter? = nil, learningRateLearningRate: Double = 0.01, scaledActions: Bool = true, seed: UInt64 = 0, horizon: Int? = nil, threads: Int = 1,
                qLearning: QLearning? = nil, recurrent: RecurrentTraining? = nil) {
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
        // A learner that trains with Q-learning settings gets its defaults when none are given.
        self.qLearning = MetaLearners.learner(for: algorithm).defaults(for: algorithm).qLearning.map { qLearning ?? $0 } ?? qLearning
        self.recurrent = MetaLearners.learner(for: algorithm).defaults(for: algorithm).recurrent.map { recurrent ?? $0 } ?? recurrent
    }

    /// Episodes sampled per task and iteration (the same for MAML and its multi-task baseline).
    public var episodesPerTask: Int { MetaLearners.learner(for: algorithm).episodesPerTask(self) }
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
    /// The algorithm's learner (`MetaLearners`).
    public let learner: any MetaLearner

    public init(definition: WorldDefinition, config: MetaTrainingConfig) throws(WorldError) {
        let definition = definition.withHorizon(config.horizon)
        self.definition = definition
        self.config = config
        let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
        let learner = MetaLearners.learner(for: config.algorithm)
        self.learner = learner
        architecture = learner.architecture(PolicyArchitecture(specs: specs, hidden: config.hidden, initialLogStd: config.initialLogStd,
                                                               scaledActions: config.scaledActions),
                                            definition: definition, config: config)
    }

    /// The task seeds of iteration i (uniform in the training range).
    public func taskSeeds(iteration i: Int) -> [UInt64] {
        var rng = SeededGenerator(seed: SplitMix64.mix(config.seed, UInt64(i)), stream: RandomStream.task)
        return (0..<config.metaBatch).map { _ in
            TaskSeeds.training.lowerBound + rng.next(upperBound: UInt64(TaskSeeds.training.count))
        }
    }

    /// Trains and returns the policy: the learner's run, one iteration at a time. `progress` sees
    /// every iteration.
    public func train(logger: Logger, progress: (IterationStats) -> Void = { _ in }) throws -> Policy {
        var run = try learner.training(self, logger: logger)
        for it in 0..<config.iterations { progress(try run.iterate(it, logger: logger)) }
        return run.finish(logger: logger)
    }

    /// Meta-SGD's rate multipliers stay within [e^−4, e^4] (≈ 0.018 … 55): a bound on how far the
    /// noisy per-parameter meta-gradient can push one rate.
    static let maxLogScale = 4.0

    /// What one task contributes to an outer step.
    public struct TaskGradient: Sendable {
        var direction: [Double]
        var rateGradient: [Double] = []
        var scaleGradient: [Double] = []
    }

    /// What one task of an iteration produced (`PolicyGradientLearner.taskStep`).
    public struct TaskResult: Sendable {
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

    /// Task `index` of `iteration`: its world and episode seed, and the learner's step on it.
    func taskStep(_ learner: any PolicyGradientLearner, math: PolicyMath, theta: [Double], rates: [Double], scales: [Double], taskSeed: UInt64,
                  iteration: Int, index: Int) throws -> TaskResult {
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: taskSeed))
        let sampler = Sampler(program: program, threads: 1)
        let seed = SplitMix64.mix(config.seed, UInt64(iteration), UInt64(index), 0xE915)
        return try learner.taskStep(self, math: math, sampler: sampler, theta: theta, rates: rates, scales: scales, seed: seed)
    }

    func normalizerRows(_ e: Episodes) -> [Double] {
        config.normalizeObservations ? e.sampleBatch(weights: [Double](repeating: 0, count: e.count * e.horizon)).observations : []
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
