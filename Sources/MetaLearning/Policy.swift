import Foundation
import MetaSimCore

/// The shape of a policy: a Gaussian policy for continuous actions (MLP mean, learned
/// state-independent log standard deviation) or a categorical policy for discrete actions (MLP
/// logits).
public struct PolicyArchitecture: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable { case gaussian, categorical }

    public var kind: Kind
    public var observationCount: Int
    /// Action dimensions (Gaussian) or number of discrete actions (categorical).
    public var actionCount: Int
    public var hidden: [Int]
    public var initialLogStd: Double
    /// Gaussian policies act in units of the action bounds: the world receives
    /// `actionOffset + actionScale * u` for the policy's sample u (empty: u itself).
    public var actionScale: [Double]
    public var actionOffset: [Double]
    /// Family parameters appended, in this order, to the world's observations (nil: none). Only
    /// the trained oracle has them (`metasim train --algo oracle`): it is told the task.
    public var taskInputs: [String]?
    /// Context parameters (CAVIA, Zintgraf et al. 2019; nil: none): this many extra network
    /// inputs whose values are parameters of the policy, after the log-std in the flat vector.
    /// `metasim train --context-parameters N` trains them with MAML, and the inner loop adapts
    /// them alone (their inner rate multiplier is 1, every other parameter's 0).
    public var contextParameters: Int?
    /// A recurrent policy (RL², `RecurrentLearner`; nil: the feed-forward `network`): a GRU over
    /// these inputs with policy and value heads (`GRUNetwork`, `PolicyArchitecture+Recurrent.swift`).
    /// `hidden` is then empty.
    public var recurrent: RecurrentCell?

    /// The world's observation size (the network's input without the task inputs).
    public var worldObservationCount: Int { observationCount - (taskInputs?.count ?? 0) }

    /// Context inputs of the network (0 without context parameters).
    public var contextCount: Int { contextParameters ?? 0 }

    public init(kind: Kind, observationCount: Int, actionCount: Int, hidden: [Int] = [64, 64], initialLogStd: Double = 0,
                actionScale: [Double] = [], actionOffset: [Double] = []) {
        precondition(actionScale.count == actionOffset.count && (actionScale.isEmpty || actionScale.count == actionCount))
        self.kind = kind
        self.observationCount = observationCount
        self.actionCount = actionCount
        self.hidden = hidden
        self.initialLogStd = initialLogStd
        self.actionScale = actionScale
        self.actionOffset = actionOffset
    }

    /// The architecture a world's specs call for. With `scaledActions`, a Gaussian policy's unit
    /// is half the width of each finite action bound, centred on the bounds' middle.
    public init(specs: WorldSpecs, hidden: [Int] = [64, 64], initialLogStd: Double = 0, scaledActions: Bool = true) {
        if let n = specs.discreteActions {
            self.init(kind: .categorical, observationCount: specs.observation.count, actionCount: n, hidden: hidden)
        } else {
            let a = specs.action
            var scale: [Double] = [], offset: [Double] = []
            if scaledActions {
                for i in 0..<a.count {
                    let finite = a.low[i].isFinite && a.high[i].isFinite && a.high[i] > a.low[i]
                    scale.append(finite ? (a.high[i] - a.low[i]) / 2 : 1)
                    offset.append(finite ? (a.high[i] + a.low[i]) / 2 : 0)
                }
            }
            self.init(kind: .gaussian, observationCount: specs.observation.count, actionCount: a.count,
                      hidden: hidden, initialLogStd: initialLogStd, actionScale: scale, actionOffset: offset)
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind, observationCount, actionCount, hidden, initialLogStd, actionScale, actionOffset, taskInputs, contextParameters, recurrent
    }

    /// Absent action scale and offset mean the identity (world units).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let actionCount = try c.decode(Int.self, forKey: .actionCount)
        let scale = try c.decodeIfPresent([Double].self, forKey: .actionScale) ?? []
        let offset = try c.decodeIfPresent([Double].self, forKey: .actionOffset) ?? []
        // What the memberwise initializer's precondition requires: an error here, never a trap.
        guard scale.count == offset.count, scale.isEmpty || scale.count == actionCount else {
            throw DecodingError.dataCorruptedError(forKey: .actionScale, in: c,
                debugDescription: "actionScale and actionOffset need one value per action (\(actionCount)), got \(scale.count) and \(offset.count)")
        }
        self.init(kind: try c.decode(Kind.self, forKey: .kind), observationCount: try c.decode(Int.self, forKey: .observationCount),
                  actionCount: actionCount, hidden: try c.decode([Int].self, forKey: .hidden),
                  initialLogStd: try c.decode(Double.self, forKey: .initialLogStd),
                  actionScale: scale, actionOffset: offset)
        taskInputs = try c.decodeIfPresent([String].self, forKey: .taskInputs)
        contextParameters = try c.decodeIfPresent(Int.self, forKey: .contextParameters)
        if let n = contextParameters, n < 1 {
            throw DecodingError.dataCorruptedError(forKey: .contextParameters, in: c, debugDescription: "context parameters must be at least 1")
        }
        recurrent = try c.decodeIfPresent(RecurrentCell.self, forKey: .recurrent)
    }

    /// The world's action value for the policy's sample `u` of component k.
    @inline(__always)
    public func worldAction(_ u: Double, component k: Int) -> Double {
        actionScale.isEmpty || kind == .categorical ? u : actionOffset[k] + actionScale[k] * u
    }

    /// The network: observations (normalized), then the context inputs, in; means or logits out.
    public var network: MLP { MLP(sizes: [observationCount + contextCount] + hidden + [actionCount]) }

    /// Flat parameters: the network's, then (Gaussian) one log-std per action dimension, then the
    /// context parameters.
    public var parameterCount: Int {
        if let g = recurrentNetwork { return g.parameterCount + (kind == .gaussian ? actionCount : 0) }
        return contextOffset + contextCount
    }

    /// Where the context parameters start in the flat vector.
    public var contextOffset: Int { network.parameterCount + (kind == .gaussian ? actionCount : 0) }

    /// CAVIA's inner rate multipliers: 1 for each context parameter, 0 for every other one (empty
    /// without context parameters).
    public var contextRateScales: [Double] {
        guard contextCount > 0 else { return [] }
        return [Double](repeating: 0, count: contextOffset) + [Double](repeating: 1, count: contextCount)
    }

    /// Floats one action takes in a world's action buffer (1 for a discrete index).
    public var actionWidth: Int { kind == .gaussian ? actionCount : 1 }

    public func initialParameters(seed: UInt64) -> [Double] {
        if let g = recurrentNetwork {
            return g.initialParameters(seed: seed) + [Double](repeating: initialLogStd, count: kind == .gaussian ? actionCount : 0)
        }
        var p = network.initialParameters(seed: seed)
        if kind == .gaussian { p += [Double](repeating: initialLogStd, count: actionCount) }
        p += [Double](repeating: 0, count: contextCount)
        return p
    }
}

/// A stochastic policy: architecture, flat parameters (Float, as stored in checkpoints) and the
/// frozen observation normalization. Acting is batched: `act` maps N observations to N actions.
public struct Policy: Sendable, Equatable {
    public var architecture: PolicyArchitecture
    public var parameters: [Float]
    public var normalizer: ObservationNormalizer
    /// Meta-learned learning rate of each inner step (empty: the inner loop's fixed rate).
    public var innerLearningRates: [Double]
    /// Meta-learned per-parameter multipliers of the inner learning rate (Meta-SGD, Li et al.
    /// 2017), in the order of `parameters`: inner step k moves parameter i by
    /// −innerLearningRates[k] · innerRateScales[i] · g_i. Empty: all 1.
    public var innerRateScales: [Float]
    /// Set on a Q-network (meta-Q-learning, categorical architecture): the network's outputs are
    /// action values, the deterministic action is the greedy one, and adaptation is Q-learning
    /// with these settings instead of a policy-gradient step.
    public var qLearning: QLearning?

    public init(architecture: PolicyArchitecture, parameters: [Float], normalizer: ObservationNormalizer,
                innerLearningRates: [Double] = [], innerRateScales: [Float] = [], qLearning: QLearning? = nil) {
        precondition(parameters.count == architecture.parameterCount, "parameter count does not match the architecture")
        precondition(qLearning == nil || architecture.kind == .categorical, "a Q-network needs discrete actions")
        precondition(innerRateScales.isEmpty || innerRateScales.count == parameters.count, "one inner rate scale per parameter")
        self.architecture = architecture
        self.parameters = parameters
        self.normalizer = normalizer
        self.innerLearningRates = innerLearningRates
        self.innerRateScales = innerRateScales
        self.qLearning = qLearning
    }

    /// A freshly initialized policy (Glorot weights from `seed`).
    public init(architecture: PolicyArchitecture, seed: UInt64, normalizeObservations: Bool = false) {
        self.init(architecture: architecture, parameters: architecture.initialParameters(seed: seed).map { Float($0) },
                  normalizer: ObservationNormalizer(size: architecture.observationCount, enabled: normalizeObservations))
    }

    /// Actions for `count` observations (count × observationCount floats): count × actionWidth
    /// floats (a discrete action is its index as a float). Deterministic: the mean (Gaussian) or
    /// the most likely action (categorical); otherwise sampled with `rng`.
    public func act(observations: [Float], count: Int, deterministic: Bool, rng: inout SeededGenerator) -> [Float] {
        let math = PolicyMath(architecture: architecture, normalizer: normalizer)
        let params = parameters.map { Double($0) }
        var out = [Float](repeating: 0, count: count * architecture.actionWidth)
        var cache = MLP.Cache()
        math.forward(params, observations: observations.map { Double($0) }, count: count, cache: &cache)
        for r in 0..<count {
            math.sampleAction(params, cache: cache, row: r, deterministic: deterministic, rng: &rng) { k, v in
                out[r * architecture.actionWidth + k] = Float(architecture.worldAction(v, component: k))
            }
        }
        return out
    }
}
