import Foundation
import Logging
import MetaSimCore

extension MetaAlgorithm {
    /// RL² (Duan et al. 2016; Wang et al. 2016): a recurrent policy whose state, carried across
    /// the episodes of a task, is what adapts; trained with PPO on trials of K episodes per task.
    public static let rl2 = MetaAlgorithm(declaring: "rl2")
}

/// RL²'s training settings (`MetaTrainingConfig.recurrent`). γ and λ of GAE are `inner`'s.
public struct RecurrentTraining: Sendable, Codable, Equatable {
    /// Episodes of one task per trial (K): the state is carried across them.
    public var trialEpisodes: Int
    /// PPO epochs over each iteration's trials.
    public var epochs: Int
    /// Minibatches of trials per epoch (each one Adam step).
    public var minibatches: Int
    /// PPO's clip ε.
    public var clip: Double
    /// Weight of the value loss.
    public var valueCoefficient: Double
    /// Truncated BPTT: the gradient through the state stops every this many steps of a trial
    /// (0: only at the trial's start, i.e. backpropagation over the whole trial).
    public var truncation: Int
    /// The gradient of each minibatch is scaled down to at most this Euclidean norm (0: never).
    public var maxGradientNorm: Double
    /// The context policy's latent task vector size (`ContextLearner`; nil: its default, and
    /// always nil for rl2).
    public var latentSize: Int?
    /// Weight of the context policy's decoder loss (`ContextNetwork.decoderLoss`; nil: its
    /// default; always nil for rl2, whose GRU has no decoder; 0: no decoder loss).
    public var decoderCoefficient: Double?
    /// What the previous reward is multiplied by before the network reads it
    /// (`RecurrentCell.rewardScale`, recorded in the architecture; nil: 1).
    public var rewardScale: Double?

    public init(trialEpisodes: Int = 2, epochs: Int = 4, minibatches: Int = 4, clip: Double = 0.2, valueCoefficient: Double = 0.5,
                truncation: Int = 0, maxGradientNorm: Double = 0.5, latentSize: Int? = nil, decoderCoefficient: Double? = nil,
                rewardScale: Double? = nil) {
        self.trialEpisodes = trialEpisodes
        self.epochs = epochs
        self.minibatches = minibatches
        self.clip = clip
        self.valueCoefficient = valueCoefficient
        self.truncation = truncation
        self.maxGradientNorm = maxGradientNorm
        self.latentSize = latentSize
        self.decoderCoefficient = decoderCoefficient
        self.rewardScale = rewardScale
    }

    /// What is out of range, naming the setting (nil: nothing).
    public var problem: String? {
        guard (1...1000).contains(trialEpisodes) else { return "trial episodes \(trialEpisodes) is not in 1...1000" }
        guard (1...1000).contains(epochs) else { return "PPO epochs \(epochs) is not in 1...1000" }
        guard (1...100_000).contains(minibatches) else { return "minibatches \(minibatches) is not in 1...100000" }
        guard clip > 0, clip.isFinite else { return "clip \(clip) is not a positive number" }
        guard valueCoefficient >= 0, valueCoefficient.isFinite else { return "value coefficient \(valueCoefficient) is not a non-negative number" }
        guard truncation >= 0 else { return "BPTT truncation \(truncation) is negative" }
        guard maxGradientNorm >= 0, maxGradientNorm.isFinite else { return "max gradient norm \(maxGradientNorm) is not a non-negative number" }
        if let l = latentSize, !(1...Checkpoint.Limits.maxWidth).contains(l) { return "latent size \(l) is not in 1...\(Checkpoint.Limits.maxWidth)" }
        if let d = decoderCoefficient, !(d >= 0 && d.isFinite) { return "decoder coefficient \(d) is not a non-negative number" }
        if let s = rewardScale, !(s > 0 && s <= RecurrentCell.maxRewardScale) {
            return "reward input scale \(s) is not a number in (0, 1e6]"
        }
        return nil
    }

    var ppo: PPOSettings {
        PPOSettings(clip: clip, valueCoefficient: valueCoefficient, truncation: truncation,
                    decoderCoefficient: decoderCoefficient ?? ContextLearner.defaultDecoderCoefficient)
    }
}

/// RL²: trains a GRU policy (`GRUNetwork`, `RecurrentMath`) with PPO on trials (`RecurrentTraining`);
/// a policy it trained adapts by acting with its memory, its parameters unchanged.
public struct RecurrentLearner: MetaLearner {
    public init() {}

    public var algorithms: [MetaAlgorithm] { [.rl2] }

    /// Adam 0.001; trials of 2 episodes, 4 PPO epochs of 4 minibatches, ε 0.2.
    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults {
        MetaLearnerDefaults(innerSteps: 1, outerLearningRate: 0.001, recurrent: RecurrentTraining())
    }

    /// A GRU of `config.hidden`'s first size (64 when empty) on the world's observations and
    /// actions, reading the reward times `config.recurrent.rewardScale`.
    public func architecture(_ base: PolicyArchitecture, definition: WorldDefinition, config: MetaTrainingConfig) -> PolicyArchitecture {
        .recurrent(base, hiddenSize: config.hidden.first ?? 64, rewardScale: config.recurrent?.rewardScale)
    }

    /// One trial per task: its K episodes.
    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { (config.recurrent ?? RecurrentTraining()).trialEpisodes }

    public func training(_ trainer: MetaTrainer, logger: Logger) throws -> any MetaTrainingRun {
        RecurrentTrainingRun(trainer: trainer, logger: logger)
    }

    /// It needs episodes of experience of a task before it acts well (its state adapts).
    public func adaptFirst(adapted: Bool) -> Bool { true }

    public func trainedSteps(_ record: TrainingRecord?) -> Int? { nil }

    public func canAdapt(_ policy: Policy) -> Bool { policy.architecture.recurrent != nil }

    /// Rounds of episodes with the state carried: as many episodes of experience as its trials
    /// had before their last episode, 10 trials at a time; no gradient step (rate 0).
    public func adaptationDefaults(_ checkpoint: Checkpoint) -> AdaptationDefaults {
        let k = checkpoint.metadata.trainingConfig?.recurrent?.trialEpisodes ?? 2
        var inner = InnerLoop(steps: min(max(k - 1, 1), 1000), episodes: 10, learningRate: 0)
        if let trained = checkpoint.trainingRecord?.inner {
            inner.gamma = trained.gamma
            inner.lambda = trained.lambda
        }
        return AdaptationDefaults(inner: inner, learningRates: [0])
    }

    /// Acting with memory: `inner.episodes` trials of `inner.steps` episodes (one more with
    /// `evaluateFinal`), the state carried within each trial; round k is every trial's episode k,
    /// its mean return `returns[k]` (the return after k episodes of experience). The parameters
    /// never change. Learning rates are not used.
    public func adapt(_ policy: Policy, from start: [Double], on program: WorldProgram, _ request: AdaptationRequest,
                      cancel: Cancellation?, progress: (Int, Episodes) -> Void) throws(WorldError) -> Adaptation {
        let math = RecurrentMath(architecture: policy.architecture, normalizer: policy.normalizer)
        let sampler = TrialSampler(program: program, threads: request.threads)
        let rounds = request.inner.steps + (request.evaluateFinal ? 1 : 0)
        var result = Adaptation()
        result.parameters = [[Double]](repeating: start, count: request.inner.steps + 1)
        guard rounds > 0, request.inner.episodes > 0 else { return result }
        let clock = ContinuousClock.now
        let trials = try sampler.collect(math: math, params: start, count: request.inner.episodes, episodes: rounds, seed: request.seed,
                                         cancel: cancel)
        let seconds = clock.secondsAgo / Double(rounds)
        for k in 0..<rounds {
            guard trials.allSatisfy({ $0.episodeStarts.count > k && $0.steps(ofEpisode: k).count > 0 }) else {
                result.cancelled = true
                break
            }
            let episodes = Self.round(k, of: trials, horizon: sampler.maxSteps)
            result.episodes.append(episodes)
            result.returns.append(episodes.meanReturn)
            result.stepSeconds.append(seconds)
            if k < request.inner.steps { progress(k + 1, episodes) }
        }
        if let cancel, cancel.isCancelled { result.cancelled = true }
        if request.deterministicEpisodes > 0, !result.cancelled {
            let greedy = try sampler.collect(math: math, params: start, count: request.deterministicEpisodes, episodes: request.inner.steps + 1,
                                             seed: SplitMix64.mix(request.seed, 0xDE7), deterministic: true, cancel: cancel)
            for k in 0...request.inner.steps where greedy.allSatisfy({ $0.episodeStarts.count > k }) {
                result.deterministicReturns.append(Self.round(k, of: greedy, horizon: sampler.maxSteps).meanReturn)
            }
        }
        return result
    }

    /// Episode k of every trial, as `Episodes`.
    static func round(_ k: Int, of trials: [Trial], horizon: Int) -> Episodes {
        let n = trials[0].observationCount, w = trials[0].actionWidth
        var e = Episodes(count: trials.count, horizon: horizon, observationCount: n, actionWidth: w)
        for (i, trial) in trials.enumerated() {
            let steps = trial.steps(ofEpisode: k)
            for (t, s) in steps.enumerated() {
                let row = i * horizon + t
                for c in 0..<n { e.observations[row * n + c] = trial.observations[s * n + c] }
                for c in 0..<w { e.actions[row * w + c] = trial.actions[s * w + c] }
                e.rewards[row] = trial.rewards[s]
            }
            e.lengths[i] = steps.count
            e.terminated[i] = k < trial.terminated.count ? trial.terminated[k] : false
        }
        return e
    }

    public var recordedEpisodesRefusal: String? {
        "is a recurrent policy (rl2): it adapts by acting with its memory across episodes, not by a gradient step on recorded episodes"
    }

    public func learn(_ theta: inout [Double], policy: Policy, from episodes: Episodes, inner: InnerLoop, learningRate: Double,
                      cancel: Cancellation?) -> SampleBatch? {
        preconditionFailure("a recurrent policy does not learn from recorded episodes (recordedEpisodesRefusal)")
    }

    /// An untrained GRU of the same architecture, acting with its memory as the checkpoint does.
    public func scratchBaseline(for checkpoint: Checkpoint, learningRate: Double?) -> Policy {
        Policy(architecture: checkpoint.policy.architecture, seed: 0)
    }
}

/// RL²'s meta-training (and the context policy's, `ContextLearner`: the same run on its network,
/// with its decoder loss in `RecurrentMath.ppoTrial`): each iteration draws `metaBatch` training tasks and acts one trial of
/// `trialEpisodes` episodes on each (in parallel, results in task order) with the current
/// parameters; rewards divided by the running standard deviation of the discounted returns;
/// GAE(γ, λ) over each trial as one sequence from the recorded values (the value head predicts
/// scaled returns), advantages normalized over the iteration; then `epochs` PPO epochs, each over the trials in a fresh
/// seeded order split into `minibatches` minibatches, one Adam step per minibatch on the
/// clipped surrogate plus the value loss (the gradient clipped to `maxGradientNorm`), the
/// network re-run over whole trials from a reset state and backpropagated through time
/// (truncated every `truncation` steps when set). The observation normalizer, frozen during an
/// iteration, takes its trials' observations after it. Bit-identical for any thread count:
/// every reduction runs over trials in task order.
struct RecurrentTrainingRun: MetaTrainingRun {
    let trainer: MetaTrainer
    let settings: RecurrentTraining
    var theta: [Double]
    var normalizer: ObservationNormalizer
    var adam: Adam
    var rng: SeededGenerator
    /// Running statistics of the discounted returns-to-go of every step so far: rewards are
    /// divided by their standard deviation before GAE and the value loss (PPO's reward scaling),
    /// so the value head's targets stay near unit size whatever the world's reward scale.
    var returnStatistics = ObservationNormalizer(size: 1, enabled: true)

    init(trainer: MetaTrainer, logger: Logger) {
        let config = trainer.config, architecture = trainer.architecture
        self.trainer = trainer
        settings = config.recurrent ?? RecurrentTraining()
        theta = architecture.initialParameters(seed: SplitMix64.mix(config.seed, 0xB0B))
        normalizer = ObservationNormalizer(size: architecture.observationCount, enabled: config.normalizeObservations)
        adam = Adam(count: theta.count, learningRate: config.outerLearningRate)
        rng = SeededGenerator(seed: SplitMix64.mix(config.seed, 0x9A11), stream: RandomStream.policy)
        logger.info("meta-training", metadata: [
            "world": "\(trainer.definition.name)", "algorithm": "\(config.algorithm)", "iterations": "\(config.iterations)",
            "parameters": "\(theta.count)", "cell": "\(architecture.recurrent?.cell ?? "")", "hidden": "\(architecture.recurrent?.hiddenSize ?? 0)",
            "trial_episodes": "\(settings.trialEpisodes)",
        ])
    }

    mutating func iterate(_ it: Int, logger: Logger) throws -> IterationStats {
        let config = trainer.config, settings = self.settings
        let clock = ContinuousClock.now
        let seeds = trainer.taskSeeds(iteration: it)
        let math = RecurrentMath(architecture: trainer.architecture, normalizer: normalizer)
        let definition = trainer.definition, params = theta, seed = config.seed
        let trials = try ParallelTasks.map(count: seeds.count, threads: config.threads) { j throws -> Trial in
            let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: seeds[j]))
            return try TrialSampler(program: program).collect(math: math, params: params, count: 1, episodes: settings.trialEpisodes,
                                                              seed: SplitMix64.mix(seed, UInt64(it), UInt64(j), 0xE915))[0]
        }
        var advantages: [[Double]] = [], returns: [[Double]] = []
        var toGo: [Double] = []
        for t in trials {
            var g = 0.0, own = [Double](repeating: 0, count: t.length)
            for s in stride(from: t.length - 1, through: 0, by: -1) { g = t.rewards[s] + config.inner.gamma * g; own[s] = g }
            toGo += own
        }
        returnStatistics.update(toGo, rows: toGo.count)
        let rewardScale = 1 / (returnStatistics.variance[0].squareRoot() + 1e-8)
        for var t in trials {
            for s in 0..<t.length { t.rewards[s] *= rewardScale }
            let (a, r) = RecurrentMath.advantages(t, gamma: config.inner.gamma, lambda: config.inner.lambda)
            advantages.append(a)
            returns.append(r)
        }
        Self.normalize(&advantages)
        var clipped = 0, loss = 0.0
        let ppo = settings.ppo
        for _ in 0..<settings.epochs {
            var order = Array(0..<trials.count)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next(upperBound: UInt64(i + 1)))) }
            let groups = min(settings.minibatches, order.count)
            for b in 0..<groups {
                let members = order[(b * order.count / groups)..<((b + 1) * order.count / groups)]
                guard let step = math.ppo(theta, trials: members.map { trials[$0] }, advantages: members.map { advantages[$0] },
                                          returns: members.map { returns[$0] }, settings: ppo, threads: config.threads) else { continue }
                var g = step.gradient
                Self.clipNorm(&g, to: settings.maxGradientNorm)
                adam.step(&theta, gradient: g)
                clipped += step.clipped
                loss += step.loss
            }
        }
        for t in trials { normalizer.update(t.observations, rows: t.length) }
        let first = trials.map { $0.episodeReturns.first ?? 0 }, last = trials.map { $0.episodeReturns.last ?? 0 }
        let samples = trials.reduce(0) { $0 + $1.length }
        let stats = IterationStats(iteration: it, preReturn: first.reduce(0, +) / Double(trials.count),
                                   postReturn: last.reduce(0, +) / Double(trials.count), seconds: clock.secondsAgo, samples: samples)
        logger.debug("iteration", metadata: [
            "i": "\(it)", "first_episode": "\(stats.preReturn)", "last_episode": "\(stats.postReturn)",
            "clipped": "\(Double(clipped) / Double(max(samples * settings.epochs, 1)))", "loss": "\(loss)",
        ])
        return stats
    }

    /// Centred and scaled to unit variance over every step, in trial order.
    static func normalize(_ a: inout [[Double]]) {
        var n = 0.0, mean = 0.0
        for t in a { for v in t { mean += v; n += 1 } }
        guard n > 0 else { return }
        mean /= n
        var variance = 0.0
        for t in a { for v in t { variance += (v - mean) * (v - mean) } }
        let inv = 1 / ((variance / n).squareRoot() + 1e-8)
        for j in a.indices { for i in a[j].indices { a[j][i] = (a[j][i] - mean) * inv } }
    }

    static func clipNorm(_ g: inout [Double], to bound: Double) {
        guard bound > 0 else { return }
        var s = 0.0
        for v in g { s += v * v }
        let norm = s.squareRoot()
        guard norm > bound else { return }
        let f = bound / norm
        for i in g.indices { g[i] *= f }
    }

    func finish(logger: Logger) -> Policy {
        var normalizer = self.normalizer
        normalizer.mean = normalizer.mean.map { Double(Float($0)) }
        normalizer.variance = normalizer.variance.map { Double(Float($0)) }
        return Policy(architecture: trainer.architecture, parameters: theta.map { Float($0) }, normalizer: normalizer)
    }
}
