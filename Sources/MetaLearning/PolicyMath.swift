import Foundation
import MetaSimCore

/// A batch of (observation, action, weight) samples: the data of a policy-gradient surrogate
/// `L = -(1/N) Σ weight · log π(action | observation)` (weights are advantages).
public struct SampleBatch: Sendable {
    public var count: Int
    /// Raw observations (count × observationCount).
    public var observations: [Double]
    /// count × actionWidth (a discrete action is its index).
    public var actions: [Double]
    public var weights: [Double]

    public init(count: Int, observations: [Double], actions: [Double], weights: [Double]) {
        self.count = count
        self.observations = observations
        self.actions = actions
        self.weights = weights
    }
}

/// The differentiable parts of a policy over Double parameters: forward pass, action sampling,
/// log-likelihood, and the policy-gradient surrogate with its hand-written gradient.
public struct PolicyMath: Sendable {
    public let architecture: PolicyArchitecture
    public let normalizer: ObservationNormalizer
    public let network: MLP

    static let halfLog2Pi = 0.5 * log(2 * Double.pi)

    public init(architecture: PolicyArchitecture, normalizer: ObservationNormalizer) {
        self.architecture = architecture
        self.normalizer = normalizer
        precondition(architecture.recurrent == nil, "a recurrent policy acts and learns through RecurrentMath")
        network = architecture.network
    }

    /// Normalizes `observations`, appends the context parameters to each row (when the policy has
    /// them) and runs the network; the head outputs are `cache.output`.
    public func forward(_ params: [Double], observations: [Double], count: Int, cache: inout MLP.Cache) {
        var x = observations
        normalizer.apply(&x)
        let c = architecture.contextCount
        if c > 0 {
            let n = architecture.observationCount, o = architecture.contextOffset
            var rows = [Double](repeating: 0, count: count * (n + c))
            for r in 0..<count {
                for k in 0..<n { rows[r * (n + c) + k] = x[r * n + k] }
                for k in 0..<c { rows[r * (n + c) + n + k] = params[o + k] }
            }
            x = rows
        }
        network.forward(params, input: x, batch: count, cache: &cache)
    }

    /// Samples (or picks deterministically) the action of row `r`, passing each component to `emit`.
    public func sampleAction(_ params: [Double], cache: MLP.Cache, row r: Int, deterministic: Bool,
                             rng: inout SeededGenerator, emit: (Int, Double) -> Void) {
        let a = architecture.actionCount
        let out = cache.activations[cache.activations.count - 1]
        switch architecture.kind {
        case .gaussian:
            let logStd = network.parameterCount
            for k in 0..<a {
                let mu = out[r * a + k]
                emit(k, deterministic ? mu : mu + exp(params[logStd + k]) * rng.normal())
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

    /// Log-likelihood of each sample's action.
    public func logLikelihoods(_ params: [Double], batch: SampleBatch) -> [Double] {
        var cache = MLP.Cache()
        forward(params, observations: batch.observations, count: batch.count, cache: &cache)
        return (0..<batch.count).map { logLikelihood(params, output: cache.output, row: $0, actions: batch.actions) }
    }

    func logLikelihood(_ params: [Double], output out: [Double], row r: Int, actions: [Double]) -> Double {
        let a = architecture.actionCount
        switch architecture.kind {
        case .gaussian:
            let logStd = network.parameterCount
            var l = 0.0
            for k in 0..<a {
                let ls = params[logStd + k]
                let z = (actions[r * a + k] - out[r * a + k]) * exp(-ls)
                l += -0.5 * z * z - ls - Self.halfLog2Pi
            }
            return l
        case .categorical:
            let m = (0..<a).map { out[r * a + $0] }.max()!
            var total = 0.0
            for j in 0..<a { total += exp(out[r * a + j] - m) }
            return out[r * a + Int(actions[r])] - m - log(total)
        }
    }

    /// The surrogate `L = -(1/N) Σ w log π(a|s)` and its gradient with respect to every parameter.
    public func surrogate(_ params: [Double], batch: SampleBatch) -> (loss: Double, gradient: [Double]) {
        // Without a cancellation it always finishes.
        surrogate(params, batch: batch, cancel: nil)!
    }

    /// Rows per forward and backward pass of `surrogate(_:batch:cancel:)`: bounds the memory of
    /// its activations and how long it goes between looks at its cancellation (about 0.1 s for a
    /// 64×64 network in a debug build). Any split gives the same bits: rows are computed apart
    /// and every sum runs over the rows in order.
    static let surrogateRows = 2048

    /// The surrogate and its gradient, `surrogateRows` rows at a time; nil when `cancel` fires
    /// between two passes (a gradient of part of the batch is no gradient).
    public func surrogate(_ params: [Double], batch: SampleBatch, cancel: Cancellation?) -> (loss: Double, gradient: [Double])? {
        var gradient = [Double](repeating: 0, count: architecture.parameterCount)
        var loss = 0.0
        let n = architecture.observationCount
        var cache = MLP.Cache()
        var start = 0
        while start < batch.count {
            if let cancel, cancel.isCancelled { return nil }
            let end = min(start + Self.surrogateRows, batch.count)
            forward(params, observations: Array(batch.observations[(start * n)..<(end * n)]), count: end - start, cache: &cache)
            accumulateSurrogate(params, batch: batch, weights: batch.weights, rows: start..<end, cache: cache,
                                loss: &loss, gradient: &gradient)
            start = end
        }
        return (loss, gradient)
    }

    /// The surrogate with these per-sample `weights` (in place of the batch's) from a forward pass
    /// of `params` on the batch that is already in `cache`.
    func surrogate(_ params: [Double], batch: SampleBatch, weights: [Double], cache: MLP.Cache) -> (loss: Double, gradient: [Double]) {
        var gradient = [Double](repeating: 0, count: architecture.parameterCount)
        var loss = 0.0
        accumulateSurrogate(params, batch: batch, weights: weights, rows: 0..<batch.count, cache: cache, loss: &loss, gradient: &gradient)
        return (loss, gradient)
    }

    /// Adds the surrogate's terms of batch rows `rows` (whose forward pass is in `cache`, its row 0
    /// being `rows.lowerBound`) to `loss` and `gradient`. Every term is scaled by 1/N of the whole batch.
    func accumulateSurrogate(_ params: [Double], batch: SampleBatch, weights: [Double], rows: Range<Int>, cache: MLP.Cache,
                             loss: inout Double, gradient: inout [Double]) {
        let a = architecture.actionCount
        guard !rows.isEmpty else { return }
        let out = cache.output
        var dOut = [Double](repeating: 0, count: rows.count * a)
        let scale = 1 / Double(batch.count)
        switch architecture.kind {
        case .gaussian:
            let logStd = network.parameterCount
            var invVar = [Double](repeating: 0, count: a)
            for k in 0..<a { invVar[k] = exp(-2 * params[logStd + k]) }
            for r in rows {
                let w = weights[r] * scale, c = r - rows.lowerBound
                for k in 0..<a {
                    let ls = params[logStd + k]
                    let diff = batch.actions[r * a + k] - out[c * a + k]
                    let z2 = diff * diff * invVar[k]
                    loss -= w * (-0.5 * z2 - ls - Self.halfLog2Pi)
                    dOut[c * a + k] = -w * diff * invVar[k]
                    gradient[logStd + k] -= w * (z2 - 1)
                }
            }
        case .categorical:
            var p = [Double](repeating: 0, count: a)
            for r in rows {
                let w = weights[r] * scale, c = r - rows.lowerBound
                let m = (0..<a).map { out[c * a + $0] }.max()!
                var total = 0.0
                for j in 0..<a { p[j] = exp(out[c * a + j] - m); total += p[j] }
                let chosen = Int(batch.actions[r])
                loss -= w * (out[c * a + chosen] - m - log(total))
                for j in 0..<a { dOut[c * a + j] = -w * ((j == chosen ? 1 : 0) - p[j] / total) }
            }
        }
        let c = architecture.contextCount
        let dInput = network.backward(params, cache: cache, outputGradient: dOut, gradient: &gradient, inputGradient: c > 0)
        if let dInput {
            // Each context parameter is an input of every row: its gradient is the sum over rows.
            let n = architecture.observationCount, o = architecture.contextOffset
            for r in 0..<rows.count { for k in 0..<c { gradient[o + k] += dInput[r * (n + c) + n + k] } }
        }
    }
}
