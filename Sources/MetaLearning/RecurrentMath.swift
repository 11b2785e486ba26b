import Foundation
import MetaSimCore

/// One trial of a recurrent policy: K episodes of one task acted in a row, the policy's state
/// carried from each episode to the next (reset only before the first step).
public struct Trial: Sendable {
    public var length = 0
    public let observationCount: Int
    public let actionWidth: Int
    public let inputCount: Int
    /// Raw observations before each step (length × observationCount).
    public var observations: [Double] = []
    /// The network's input at each step (length × inputCount): normalized observation, previous
    /// action, previous reward, episode-end flag (`RecurrentCell.stepInputs`).
    public var inputs: [Double] = []
    /// The policy's samples, in its own units (a discrete action is its index).
    public var actions: [Double] = []
    public var rewards: [Double] = []
    /// log π(action) and the value when the action was sampled.
    public var logLikelihoods: [Double] = []
    public var values: [Double] = []
    /// The first step of each episode (`episodeStarts.count` episodes).
    public var episodeStarts: [Int] = []
    /// Whether each episode ended by termination (not truncation, the horizon or the step cap).
    public var terminated: [Bool] = []

    init(observationCount: Int, actionWidth: Int, inputCount: Int) {
        self.observationCount = observationCount
        self.actionWidth = actionWidth
        self.inputCount = inputCount
    }

    /// The undiscounted return of each episode.
    public var episodeReturns: [Double] {
        (0..<episodeStarts.count).map { e in
            let end = e + 1 < episodeStarts.count ? episodeStarts[e + 1] : length
            var s = 0.0
            for t in episodeStarts[e]..<end { s += rewards[t] }
            return s
        }
    }

    /// The steps of episode e.
    public func steps(ofEpisode e: Int) -> Range<Int> {
        episodeStarts[e]..<(e + 1 < episodeStarts.count ? episodeStarts[e + 1] : length)
    }
}

/// PPO's settings for one update of a recurrent policy (`RecurrentMath.ppo`).
public struct PPOSettings: Sendable, Equatable {
    /// The clip ε of the likelihood ratio.
    public var clip: Double
    /// Weight of the value loss ½(v − R)².
    public var valueCoefficient: Double
    /// Truncated BPTT: the gradient reaching the state stops every this many steps of a trial
    /// (0: at the trial's start only).
    public var truncation: Int
    /// Weight of a context policy's decoder loss (`ContextNetwork.decoderLoss`; 0: none).
    public var decoderCoefficient: Double

    public init(clip: Double = 0.2, valueCoefficient: Double = 0.5, truncation: Int = 0, decoderCoefficient: Double = 0) {
        self.clip = clip
        self.valueCoefficient = valueCoefficient
        self.truncation = truncation
        self.decoderCoefficient = decoderCoefficient
    }
}

/// The differentiable parts of a recurrent policy over Double parameters: its step inputs,
/// acting with a carried state, log-likelihoods and PPO's loss with its hand-written gradient
/// (through the network's backward pass: `GRUNetwork`'s through time or `ContextNetwork`'s
/// through its pooled code).
public struct RecurrentMath: Sendable {
    public let architecture: PolicyArchitecture
    public let normalizer: ObservationNormalizer
    public let network: MemoryNetwork
    /// `RecurrentCell.rewardInputScale` of the architecture.
    let rewardScale: Double

    public init(architecture: PolicyArchitecture, normalizer: ObservationNormalizer) {
        guard let g = architecture.recurrentNetwork, let cell = architecture.recurrent else {
            preconditionFailure("RecurrentMath needs a recurrent architecture")
        }
        self.architecture = architecture
        self.normalizer = normalizer
        network = g
        rewardScale = cell.rewardInputScale
    }

    /// Where the log-std starts in the flat parameters (Gaussian).
    var logStdOffset: Int { network.parameterCount }

    /// Writes the step input of one row to `into` (inputCount values): the normalized
    /// `observation`, then `previousAction` (its components, or one-hot of its index), the
    /// previous reward (times `RecurrentCell.rewardScale`) and the episode-end flag, clipped as
    /// `RecurrentCell` says.
    public func stepInput(observation: ArraySlice<Double>, previousAction: ArraySlice<Double>?, previousReward: Double,
                          episodeEnd: Bool, into: inout [Double], at offset: Int) {
        let n = architecture.observationCount, a = architecture.actionCount
        var obs = Array(observation)
        normalizer.apply(&obs)
        for k in 0..<n { into[offset + k] = obs[k] }
        for k in 0..<a { into[offset + n + k] = 0 }
        if let prev = previousAction {
            switch architecture.kind {
            case .gaussian:
                let c = RecurrentCell.actionClip
                for k in 0..<a { into[offset + n + k] = min(max(prev[prev.startIndex + k], -c), c) }
            case .categorical:
                let i = Int(prev[prev.startIndex])
                if (0..<a).contains(i) { into[offset + n + i] = 1 }
            }
        }
        let c = RecurrentCell.rewardClip
        into[offset + n + a] = previousAction == nil ? 0 : min(max(previousReward * rewardScale, -c), c)
        into[offset + n + a + 1] = episodeEnd ? 1 : 0
    }

    /// Samples (or picks deterministically) an action from head outputs `out` at `row`, passing
    /// each component to `emit`.
    public func sampleAction(_ params: [Double], outputs out: [Double], row r: Int, deterministic: Bool,
                             rng: inout SeededGenerator, emit: (Int, Double) -> Void) {
        let a = architecture.actionCount
        switch architecture.kind {
        case .gaussian:
            for k in 0..<a {
                let mu = out[r * a + k]
                emit(k, deterministic ? mu : mu + exp(params[logStdOffset + k]) * rng.normal())
            }
        case .categorical:
            var best = 0
            if deterministic {
                for j in 1..<a where out[r * a + j] > out[r * a + best] { best = j }
            } else {
                let m = (0..<a).map { out[r * a + $0] }.max()!
                var total = 0.0
                for j in 0..<a { total += exp(out[r * a + j] - m) }
                var u = rng.unit() * total
                best = a - 1
                for j in 0..<a {
                    u -= exp(out[r * a + j] - m)
                    if u < 0 { best = j; break }
                }
            }
            emit(0, Double(best))
        }
    }

    /// log π(action | row r's head outputs), the action being row `actionRow` (default r) of `actions`.
    public func logLikelihood(_ params: [Double], outputs out: [Double], row r: Int, actions: [Double], actionRow: Int? = nil) -> Double {
        let a = architecture.actionCount, ar = actionRow ?? r
        switch architecture.kind {
        case .gaussian:
            var l = 0.0
            for k in 0..<a {
                let ls = params[logStdOffset + k]
                let z = (actions[ar * a + k] - out[r * a + k]) * exp(-ls)
                l += -0.5 * z * z - ls - PolicyMath.halfLog2Pi
            }
            return l
        case .categorical:
            let m = (0..<a).map { out[r * a + $0] }.max()!
            var total = 0.0
            for j in 0..<a { total += exp(out[r * a + j] - m) }
            return out[r * a + Int(actions[ar])] - m - log(total)
        }
    }

    /// Adds `coefficient` · d log π(action)/d(·) of row r to the head-output gradient `dOut` and
    /// (Gaussian) the log-std part of `gradient`.
    func addLogLikelihoodGradient(_ params: [Double], outputs out: [Double], row r: Int, actions: [Double], coefficient c: Double,
                                  dOut: inout [Double], gradient: inout [Double]) {
        let a = architecture.actionCount
        switch architecture.kind {
        case .gaussian:
            for k in 0..<a {
                let ls = params[logStdOffset + k], inv = exp(-ls)
                let z = (actions[r * a + k] - out[r * a + k]) * inv
                dOut[r * a + k] += c * z * inv
                gradient[logStdOffset + k] += c * (z * z - 1)
            }
        case .categorical:
            let m = (0..<a).map { out[r * a + $0] }.max()!
            var total = 0.0
            for j in 0..<a { total += exp(out[r * a + j] - m) }
            let chosen = Int(actions[r])
            for j in 0..<a { dOut[r * a + j] += c * ((j == chosen ? 1 : 0) - exp(out[r * a + j] - m) / total) }
        }
    }

    /// GAE(γ, λ) over a trial as one sequence (RL²'s objective is the trial's return: episode
    /// boundaries inside it are not cut), from the values recorded when acting; the value after
    /// the trial's last step is 0. Returns the advantages and the value targets (advantage + value).
    public static func advantages(_ trial: Trial, gamma: Double, lambda: Double) -> (advantages: [Double], returns: [Double]) {
        var adv = [Double](repeating: 0, count: trial.length), ret = adv
        var a = 0.0
        for t in stride(from: trial.length - 1, through: 0, by: -1) {
            let next = t + 1 < trial.length ? trial.values[t + 1] : 0
            let delta = trial.rewards[t] + gamma * next - trial.values[t]
            a = delta + gamma * lambda * a
            adv[t] = a
            ret[t] = a + trial.values[t]
        }
        return (adv, ret)
    }

    /// PPO's loss of one trial, scaled by `scale` (1/N of the minibatch), and its gradient:
    /// Σ_t scale · [−min(ρ_t A_t, clip(ρ_t, 1 ± ε) A_t) + c_v · ½ (v_t − R_t)²], ρ_t = π(a_t)/π_old(a_t),
    /// the network run over the whole trial from a reset state; for a context policy, plus
    /// scale · c_d times its decoder's loss.
    public func ppoTrial(_ params: [Double], trial: Trial, advantages: [Double], returns: [Double], settings: PPOSettings,
                         scale: Double) -> (loss: Double, gradient: [Double], clipped: Int) {
        let len = trial.length, a = architecture.actionCount
        var resets = [Bool](repeating: false, count: len)
        if len > 0 { resets[0] = true }
        let s = network.forward(params, inputs: trial.inputs, resets: resets, length: len)
        var gradient = [Double](repeating: 0, count: architecture.parameterCount)
        var dOut = [Double](repeating: 0, count: len * a), dValue = [Double](repeating: 0, count: len)
        var loss = 0.0, clipped = 0
        let eps = settings.clip
        for t in 0..<len {
            let l = logLikelihood(params, outputs: s.outputs, row: t, actions: trial.actions)
            let ratio = exp(l - trial.logLikelihoods[t]), adv = advantages[t]
            let unclipped = ratio * adv, clippedTerm = min(max(ratio, 1 - eps), 1 + eps) * adv
            if unclipped <= clippedTerm {
                loss -= scale * unclipped
                addLogLikelihoodGradient(params, outputs: s.outputs, row: t, actions: trial.actions, coefficient: -scale * adv * ratio,
                                         dOut: &dOut, gradient: &gradient)
            } else {
                loss -= scale * clippedTerm
                clipped += 1
            }
            let dv = s.values[t] - returns[t]
            loss += scale * settings.valueCoefficient * 0.5 * dv * dv
            dValue[t] = scale * settings.valueCoefficient * dv
        }
        if case .context(let c) = network, case .context(let seq) = s, settings.decoderCoefficient > 0 {
            let d = c.decoderLoss(params, sequence: seq, inputs: trial.inputs, coefficient: scale * settings.decoderCoefficient,
                                  gradient: &gradient)
            loss += d.loss
            c.backward(params, sequence: seq, outputGradient: dOut, valueGradient: dValue, latentGradient: d.latentGradient, gradient: &gradient)
        } else {
            network.backward(params, sequence: s, outputGradient: dOut, valueGradient: dValue, gradient: &gradient, truncation: settings.truncation)
        }
        return (loss, gradient, clipped)
    }

    /// PPO's loss over `trials` (the mean over their steps) and its gradient: one trial per pass,
    /// on up to `threads` threads, summed in trial order (the same bits for any thread count). nil
    /// when `cancel` fires before a pass (a gradient of part of the batch is no gradient).
    public func ppo(_ params: [Double], trials: [Trial], advantages: [[Double]], returns: [[Double]], settings: PPOSettings,
                    threads: Int = 1, cancel: Cancellation? = nil) -> (loss: Double, gradient: [Double], clipped: Int)? {
        let steps = trials.reduce(0) { $0 + $1.length }
        guard steps > 0 else { return (0, [Double](repeating: 0, count: architecture.parameterCount), 0) }
        let scale = 1 / Double(steps)
        let parts: [(loss: Double, gradient: [Double], clipped: Int)?]
        do {
            parts = try ParallelTasks.map(count: trials.count, threads: threads) { j in
                if let cancel, cancel.isCancelled { return nil }
                return ppoTrial(params, trial: trials[j], advantages: advantages[j], returns: returns[j], settings: settings, scale: scale)
            }
        } catch { preconditionFailure("a PPO pass does not throw") }
        var loss = 0.0, clipped = 0
        var gradient = [Double](repeating: 0, count: architecture.parameterCount)
        for p in parts {
            guard let p else { return nil }
            loss += p.loss
            clipped += p.clipped
            for i in 0..<gradient.count { gradient[i] += p.gradient[i] }
        }
        return (loss, gradient, clipped)
    }
}
