import Foundation

/// ProMP's outer loop (Rothfuss et al. 2019, "ProMP: Proximal Meta-Policy Search") for MAML:
/// each iteration's episodes serve `epochs` outer steps instead of one.
///
/// - The inner surrogate weighs each sample's advantage by the likelihood ratio
///   π_θ(a|s) / π_θold(a|s) of the parameters that sampled it (ProMP's LVC objective). At
///   θ = θ_old its gradient is the REINFORCE gradient of the plain inner loop, but its Hessian
///   also holds the term of the inner episodes' own distribution, which plain MAML drops.
/// - The post-adaptation objective is PPO's clipped surrogate, with ratios against the adapted
///   parameters that sampled the post-adaptation episodes, so that later epochs cannot move the
///   adapted policy far from the one whose episodes they reuse.
/// - Every epoch recomputes the inner steps from the current θ on the same episodes: no new
///   sampling, so `epochs` outer steps cost one iteration's episodes.
public struct ProximalOuter: Sendable, Codable, Equatable {
    /// Outer steps per iteration, all on that iteration's episodes.
    public var epochs: Int
    /// PPO's ε: post-adaptation ratios outside [1 − ε, 1 + ε] that would improve the objective
    /// further contribute no gradient.
    public var clip: Double

    /// The defaults are ProMP's published settings (5 steps, ε = 0.3), those of the shipped
    /// cheetah-vel policy.
    public init(epochs: Int = 5, clip: Double = 0.3) {
        self.epochs = epochs
        self.clip = clip
    }
}

extension PolicyMath {
    /// The likelihood-ratio surrogate `L = −(1/N) Σ min(r A, clip(r, 1 − ε, 1 + ε) A)`, r =
    /// π_θ(a|s) / π_old(a|s) with `oldLogLikelihoods` the log π_old of each sample and A the
    /// batch's weights, and its gradient. Without `clip`, `L = −(1/N) Σ r A`.
    public func ratioSurrogate(_ params: [Double], batch: SampleBatch, oldLogLikelihoods: [Double],
                               clip: Double?) -> (loss: Double, gradient: [Double]) {
        precondition(oldLogLikelihoods.count == batch.count, "one old log-likelihood per sample")
        guard batch.count > 0 else { return (0, [Double](repeating: 0, count: architecture.parameterCount)) }
        var cache = MLP.Cache()
        forward(params, observations: batch.observations, count: batch.count, cache: &cache)
        let out = cache.output
        var weights = [Double](repeating: 0, count: batch.count)
        var loss = 0.0
        for r in 0..<batch.count {
            let a = batch.weights[r]
            let ratio = exp(logLikelihood(params, output: out, row: r, actions: batch.actions) - oldLogLikelihoods[r])
            // ∇(r A) = A r ∇log π where the min picks r A; 0 where it picks the clipped (constant) term.
            if let clip, (a > 0 && ratio > 1 + clip) || (a < 0 && ratio < 1 - clip) {
                loss -= a * (a > 0 ? 1 + clip : 1 - clip)
            } else {
                weights[r] = a * ratio
                loss -= a * ratio
            }
        }
        return (loss / Double(batch.count), surrogate(params, batch: batch, weights: weights, cache: cache).gradient)
    }
}

extension MetaTrainer {
    /// One epoch's meta-gradient for one task: the inner steps redone from `theta` on the task's
    /// fixed batches (`batches[k]` sampled with the iteration's θ_k, whose log-likelihoods are
    /// `oldLogLikelihoods[k]`; the last batch is the post-adaptation one), with the unclipped
    /// ratio surrogate inside and the clipped one after the last step. Reverse mode as in
    /// `metaGradient`, with Hessian-vector products of the ratio surrogate (omitted when
    /// first-order). Returns the gradient and d/dα_k, d/dm_i as `metaGradient` does.
    static func proximalMetaGradient(math: PolicyMath, theta: [Double], batches: [SampleBatch], oldLogLikelihoods: [[Double]],
                                     learningRates: [Double], scales: [Double], clip: Double, secondOrder: Bool, everyStep: Bool)
        -> (gradient: [Double], learningRates: [Double], scales: [Double]) {
        let steps = batches.count - 1
        precondition(oldLogLikelihoods.count == batches.count && learningRates.count == steps)
        func innerGradient(_ k: Int, _ p: [Double]) -> [Double] {
            math.ratioSurrogate(p, batch: batches[k], oldLogLikelihoods: oldLogLikelihoods[k], clip: nil).gradient
        }
        var parameters = [theta], innerGradients: [[Double]] = []
        for k in 0..<steps {
            let g = innerGradient(k, parameters[k])
            var next = parameters[k]
            for i in 0..<next.count { next[i] -= learningRates[k] * (scales.isEmpty ? 1 : scales[i]) * g[i] }
            innerGradients.append(g)
            parameters.append(next)
        }
        let weight = everyStep && steps > 0 ? 1 / Double(steps) : 1
        let outer = math.ratioSurrogate(parameters[steps], batch: batches[steps], oldLogLikelihoods: oldLogLikelihoods[steps], clip: clip)
            .gradient.map { $0 * weight }
        return backpropagate(outer, innerGradients: innerGradients, learningRates: learningRates, scales: scales, everyStep: everyStep,
                             hessianVectorProduct: secondOrder ? { k, direction in
                                 centralDifference(at: parameters[k], along: direction) { innerGradient(k, $0) }
                             } : nil)
    }

    /// J v for the Jacobian J of `gradient` at `theta` (a Hessian-vector product when `gradient`
    /// is one): a central difference along v, step 1e-6 · (1 + |θ|) / |v| in parameter space.
    static func centralDifference(at theta: [Double], along v: [Double], _ gradient: ([Double]) -> [Double]) -> [Double] {
        let vNorm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard vNorm > 0 else { return v.map { _ in 0 } }
        let tNorm = theta.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let eps = 1e-6 * (1 + tNorm) / vNorm
        let gp = gradient(zip(theta, v).map { $0 + eps * $1 }), gm = gradient(zip(theta, v).map { $0 - eps * $1 })
        return zip(gp, gm).map { ($0 - $1) / (2 * eps) }
    }
}
