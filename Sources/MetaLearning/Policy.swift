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

    public init(kind: Kind, observationCount: Int, actionCount: Int, hidden: [Int] = [64, 64], initialLogStd: Double = 0) {
        self.kind = kind
        self.observationCount = observationCount
        self.actionCount = actionCount
        self.hidden = hidden
        self.initialLogStd = initialLogStd
    }

    /// The architecture a world's specs call for.
    public init(specs: WorldSpecs, hidden: [Int] = [64, 64], initialLogStd: Double = 0) {
        if let n = specs.discreteActions {
            self.init(kind: .categorical, observationCount: specs.observation.count, actionCount: n, hidden: hidden)
        } else {
            self.init(kind: .gaussian, observationCount: specs.observation.count, actionCount: specs.action.count,
                      hidden: hidden, initialLogStd: initialLogStd)
        }
    }

    public var network: MLP { MLP(sizes: [observationCount] + hidden + [actionCount]) }

    /// Flat parameters: the network's, then (Gaussian) one log-std per action dimension.
    public var parameterCount: Int { network.parameterCount + (kind == .gaussian ? actionCount : 0) }

    /// Floats one action takes in a world's action buffer (1 for a discrete index).
    public var actionWidth: Int { kind == .gaussian ? actionCount : 1 }

    public func initialParameters(seed: UInt64) -> [Double] {
        var p = network.initialParameters(seed: seed)
        if kind == .gaussian { p += [Double](repeating: initialLogStd, count: actionCount) }
        return p
    }
}

/// A stochastic policy: architecture, flat parameters (Float, as stored in checkpoints) and the
/// frozen observation normalization. Acting is batched: `act` maps N observations to N actions.
public struct Policy: Sendable, Equatable {
    public var architecture: PolicyArchitecture
    public var parameters: [Float]
    public var normalizer: ObservationNormalizer

    public init(architecture: PolicyArchitecture, parameters: [Float], normalizer: ObservationNormalizer) {
        precondition(parameters.count == architecture.parameterCount, "parameter count does not match the architecture")
        self.architecture = architecture
        self.parameters = parameters
        self.normalizer = normalizer
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
                out[r * architecture.actionWidth + k] = Float(v)
            }
        }
        return out
    }
}
