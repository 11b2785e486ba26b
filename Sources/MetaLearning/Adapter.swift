import Foundation
import MetaSimCore

/// The trajectory of one adaptation: parameters θ_0 … θ_K, the episodes D_k sampled with θ_k and
/// their advantages, and the mean return of each D_k (D_K only when evaluated).
public struct Adaptation: Sendable {
    public var parameters: [[Double]] = []
    public var episodes: [Episodes] = []
    public var batches: [SampleBatch] = []
    /// Mean episode return with θ_k, k = 0 … (K, when the final parameters were evaluated).
    public var returns: [Double] = []
    /// Mean return of episodes acting with the mean action (Gaussian) or the most likely action
    /// (categorical) of θ_k, when asked for (`deterministicEpisodes` > 0).
    public var deterministicReturns: [Double] = []
    /// Wall time of each inner step (sampling, baseline, gradient, update), in seconds.
    public var stepSeconds: [Double] = []
    /// True when `cancel` stopped the run early (the trajectory so far is kept).
    public var cancelled = false

    public var final: [Double] { parameters[parameters.count - 1] }
}

/// Few-shot adaptation: the inner loop of MAML, also used to fine-tune baselines at equal budget.
public struct Adapter: Sendable {
    public let math: PolicyMath
    public let sampler: Sampler
    public let inner: InnerLoop
    /// Per-step learning rates (meta-learned); empty: `inner.learningRate` for every step. Steps
    /// beyond the list use its last rate.
    public let learningRates: [Double]
    /// Meta-learned per-parameter multipliers of every step's rate (Meta-SGD); empty: all 1.
    public let scales: [Double]

    public init(math: PolicyMath, sampler: Sampler, inner: InnerLoop, learningRates: [Double] = [], scales: [Double] = []) {
        precondition(scales.isEmpty || scales.count == math.architecture.parameterCount, "one rate scale per parameter")
        self.math = math
        self.sampler = sampler
        self.inner = inner
        self.learningRates = learningRates
        self.scales = scales
    }

    /// The learning rate of inner step k.
    public func learningRate(step k: Int) -> Double {
        inner.learningRate(step: k, rates: learningRates)
    }

    /// The seed of the episodes of inner step k (k = inner.steps: the evaluation episodes).
    public static func episodeSeed(_ seed: UInt64, step k: Int) -> UInt64 { SplitMix64.mix(seed, UInt64(k)) }

    /// The seed of the separate episodes that score θ_k acting deterministically.
    static func deterministicSeed(_ seed: UInt64, step k: Int) -> UInt64 { SplitMix64.mix(seed, UInt64(k), 0xDE7) }

    /// Runs `inner.steps` policy-gradient steps from `start`; with `evaluateFinal`, also samples
    /// episodes with the final parameters (their mean return is `returns.last`).
    /// With `deterministicEpisodes` > 0, also scores every θ_k acting deterministically on that
    /// many episodes (separate seeds; these episodes are not used for adaptation).
    /// `progress` is called after each inner step with (steps done, the step's episodes);
    /// `cancel` is looked at between episode steps and stops the run early (`cancelled`).
    public func run(from start: [Double], seed: UInt64, evaluateFinal: Bool, deterministicEpisodes: Int = 0,
                    cancel: Cancellation? = nil, progress: (Int, Episodes) -> Void = { _, _ in }) throws(WorldError) -> Adaptation {
        try Adaptation.run(
            steps: inner.steps, from: start, evaluateFinal: evaluateFinal, cancel: cancel,
            scoreDeterministic: { theta, k throws(WorldError) in
                guard deterministicEpisodes > 0 else { return nil }
                return try sampler.collect(math: math, params: theta, count: deterministicEpisodes,
                                           seed: Self.deterministicSeed(seed, step: k), deterministic: true).meanReturn
            },
            collect: { theta, k throws(WorldError) in
                try sampler.collect(math: math, params: theta, count: inner.episodes, seed: Self.episodeSeed(seed, step: k), cancel: cancel)
            },
            update: { theta, episodes, k in update(&theta, episodes: episodes, step: k, cancel: cancel) },
            progress: progress)
    }

    /// One inner step on `episodes` (sampled with `theta`): GAE advantages with the linear
    /// baseline, normalized, and one SGD step of step k's learning rate on the REINFORCE
    /// surrogate. Returns the sample batch it learned from; nil, with `theta` unchanged, when
    /// `cancel` fires during the gradient.
    @discardableResult
    public func update(_ theta: inout [Double], episodes: Episodes, step k: Int, cancel: Cancellation? = nil) -> SampleBatch? {
        Self.update(&theta, episodes: episodes, math: math, inner: inner, learningRate: learningRate(step: k), scales: scales, cancel: cancel)
    }

    /// One inner step without a sampler: for episodes collected elsewhere (an external world).
    /// Parameter i moves by −α · scales[i] · g_i (`scales` empty: −α g_i). nil, with `theta`
    /// unchanged, when `cancel` fires during the gradient.
    @discardableResult
    public static func update(_ theta: inout [Double], episodes: Episodes, math: PolicyMath, inner: InnerLoop,
                              learningRate alpha: Double, scales: [Double] = [], cancel: Cancellation? = nil) -> SampleBatch? {
        let batch = episodes.sampleBatch(weights: Advantages.gae(episodes, gamma: inner.gamma, lambda: inner.lambda))
        guard let g = math.surrogate(theta, batch: batch, cancel: cancel)?.gradient else { return nil }
        if scales.isEmpty {
            for i in 0..<theta.count { theta[i] -= alpha * g[i] }
        } else {
            for i in 0..<theta.count { theta[i] -= alpha * scales[i] * g[i] }
        }
        return batch
    }
}

extension Adaptation {
    /// The protocol every inner loop follows (policy gradient and Q-learning alike): for
    /// k = 0 … steps − 1, score θ_k deterministically (when `scoreDeterministic` gives a value),
    /// collect episodes with θ_k and update to θ_{k+1}; then score θ_K, and with
    /// `evaluateFinal` collect θ_K's episodes too (k = steps). Stops early (`cancelled`) when
    /// `cancel` fires during a collection or an update, keeping the trajectory so far.
    static func run(steps: Int, from start: [Double], evaluateFinal: Bool, cancel: Cancellation?,
                    scoreDeterministic: ([Double], Int) throws(WorldError) -> Double?,
                    collect: ([Double], Int) throws(WorldError) -> Episodes,
                    update: (inout [Double], Episodes, Int) -> SampleBatch?,
                    progress: (Int, Episodes) -> Void) throws(WorldError) -> Adaptation {
        var out = Adaptation()
        var theta = start
        out.parameters.append(theta)
        // A world whose reset was cancelled throws `.cancelled`: that ends the run as cancelled.
        func cancelled(_ error: WorldError) throws(WorldError) -> Adaptation {
            guard case .cancelled = error else { throw error }
            out.cancelled = true
            return out
        }
        for k in 0..<steps {
            let episodes: Episodes
            let clock: ContinuousClock.Instant
            do throws(WorldError) {
                if let r = try scoreDeterministic(theta, k) { out.deterministicReturns.append(r) }
                clock = ContinuousClock.now
                episodes = try collect(theta, k)
            } catch { return try cancelled(error) }
            if cancel?.isCancelled == true {
                out.cancelled = true
                return out
            }
            let batch = update(&theta, episodes, k)
            // An update cut short leaves θ_k as it was: the run ends there.
            if cancel?.isCancelled == true {
                out.cancelled = true
                return out
            }
            if let batch { out.batches.append(batch) }
            out.stepSeconds.append(clock.secondsAgo)
            out.episodes.append(episodes)
            out.returns.append(episodes.meanReturn)
            out.parameters.append(theta)
            progress(k + 1, episodes)
        }
        do throws(WorldError) {
            if let r = try scoreDeterministic(theta, steps) { out.deterministicReturns.append(r) }
        } catch { return try cancelled(error) }
        if evaluateFinal {
            let episodes: Episodes
            do throws(WorldError) { episodes = try collect(theta, steps) } catch { return try cancelled(error) }
            if cancel?.isCancelled == true {
                out.cancelled = true
                return out
            }
            out.episodes.append(episodes)
            out.returns.append(episodes.meanReturn)
        }
        return out
    }
}

extension Policy {
    /// Adapts this policy to one task (`AdaptationRunner`, the learner picked by what the policy
    /// is: the policy-gradient inner loop at its meta-learned per-step rates when it has them,
    /// else `inner.learningRate`; Q-learning for a Q-network, with the same budget): returns the
    /// adapted policy and the mean return of the episodes sampled before each step (and after
    /// the last when `evaluate`).
    public func adapted(to program: WorldProgram, inner: InnerLoop, seed: UInt64, threads: Int = 1,
                        evaluate: Bool = false, deterministicEpisodes: Int = 0) throws(WorldError) -> (policy: Policy, adaptation: Adaptation) {
        try AdaptationRunner(policy: self).adapted(on: program, AdaptationRequest(inner: inner, seed: seed, threads: threads, evaluateFinal: evaluate,
                                                                                  deterministicEpisodes: deterministicEpisodes))
    }
}
