import Foundation
import MetaSimCore

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

extension MetaAlgorithm {
    /// MAML with the second-order term: the meta-gradient is back-propagated through each inner
    /// step with Hessian-vector products of the inner surrogate (central finite differences of
    /// its exact gradient), on the inner episodes — like MAML's reference code, it ignores the
    /// dependence of the inner episodes' distribution on the parameters (`ProximalOuter` keeps
    /// its low-variance part).
    public static let maml = MetaAlgorithm(declaring: "maml")
    /// First-order MAML: the post-adaptation gradient, applied at the initial parameters.
    public static let fomaml = MetaAlgorithm(declaring: "fomaml")
}

/// MAML's family: MAML and first-order MAML, with their options: meta-learned inner rates
/// (`--learn-inner-lr`), Meta-SGD (`--learn-parameter-rates`), CAVIA (`--context-parameters`) and
/// ProMP's outer loop (`--outer-epochs`, `ProximalOuter`).
public struct MAMLLearner: PolicyGradientLearner {
    public init() {}

    public var algorithms: [MetaAlgorithm] { [.maml, .fomaml] }

    /// One inner step, Adam 0.003.
    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults {
        MetaLearnerDefaults(innerSteps: 1, outerLearningRate: 0.003)
    }

    public var options: MetaLearnerOptions { [.innerLearningRates, .parameterRates, .contextParameters, .proximalOuter] }

    /// With CAVIA's context parameters when the configuration has them.
    public func architecture(_ base: PolicyArchitecture, definition: WorldDefinition, config: MetaTrainingConfig) -> PolicyArchitecture {
        var architecture = base
        architecture.contextParameters = config.contextParameters
        return architecture
    }

    /// The episodes of every inner step and the post-adaptation ones.
    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { (config.inner.steps + 1) * config.inner.episodes }

    public func adaptFirst(adapted: Bool) -> Bool { !adapted }

    public func trainedSteps(_ record: TrainingRecord?) -> Int? { record?.inner?.steps }

    /// The inner steps from θ (at the meta-learned rates and multipliers), the post-adaptation
    /// episodes, and the meta-gradient through the steps (ProMP: the batches and their
    /// log-likelihoods, for `epochGradients`).
    public func taskStep(_ trainer: MetaTrainer, math: PolicyMath, sampler: Sampler, theta: [Double], rates: [Double], scales: [Double],
                         seed: UInt64) throws -> MetaTrainer.TaskResult {
        let config = trainer.config, inner = config.inner
        var result: MetaTrainer.TaskResult
        let a = try Adapter(math: math, sampler: sampler, inner: inner, learningRates: rates, scales: scales)
            .run(from: theta, seed: seed, evaluateFinal: true)
        let post = a.episodes[a.episodes.count - 1]
        let postBatch = post.sampleBatch(weights: Advantages.gae(post, gamma: inner.gamma, lambda: inner.lambda))
        result = MetaTrainer.TaskResult(direction: [], preReturn: a.returns[0], postReturn: a.returns[a.returns.count - 1],
                                        observations: trainer.normalizerRows(a.episodes[0]), samples: a.episodes.map(\.stepCount).reduce(0, +))
        if config.proximal != nil {
            result.batches = a.batches + [postBatch]
            result.oldLogLikelihoods = result.batches.indices.map { math.logLikelihoods(a.parameters[$0], batch: result.batches[$0]) }
        } else {
            let (v, dRates, dScales) = MetaTrainer.metaGradient(math: math, parameters: a.parameters, batches: a.batches + [postBatch],
                                                                learningRates: inner.stepLearningRates(rates), scales: scales, secondOrder: config.algorithm == .maml,
                                                                everyStep: config.lossAtEveryStep)
            result.direction = v
            result.rateGradient = rates.isEmpty ? [] : dRates
            result.scaleGradient = dScales
        }
        return result
    }

    /// ProMP: `epochs` outer steps per iteration.
    public func outerEpochs(_ config: MetaTrainingConfig) -> Int? { config.proximal?.epochs }

    /// ProMP's epoch: the inner steps redone from `theta` on the iteration's episodes.
    public func epochGradients(_ results: [MetaTrainer.TaskResult], trainer: MetaTrainer, math: PolicyMath, theta from: [Double],
                               rates epochRates: [Double], scales epochScales: [Double]) throws -> [MetaTrainer.TaskGradient] {
        let config = trainer.config
        guard let proximal = config.proximal else { preconditionFailure("ProMP's epochs need its outer loop") }
        let alphas = config.inner.stepLearningRates(epochRates)
        return try ParallelTasks.map(count: results.count, threads: config.threads) { j -> MetaTrainer.TaskGradient in
            let g = MetaTrainer.proximalMetaGradient(math: math, theta: from, batches: results[j].batches,
                                                     oldLogLikelihoods: results[j].oldLogLikelihoods, learningRates: alphas,
                                                     scales: epochScales, clip: proximal.clip,
                                                     secondOrder: config.algorithm == .maml, everyStep: config.lossAtEveryStep)
            return MetaTrainer.TaskGradient(direction: g.gradient, rateGradient: epochRates.isEmpty ? [] : g.learningRates, scaleGradient: g.scales)
        }
    }
}
