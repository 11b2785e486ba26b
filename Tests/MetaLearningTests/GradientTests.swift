import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// Hand-written backward passes against central finite differences (Double throughout).
struct GradientTests {
    @Test func mlpParameterAndInputGradientsMatchFiniteDifferences() {
        let mlp = MLP(sizes: [3, 5, 4, 2])
        let params = mlp.initialParameters(seed: 1, outputScale: 1)
        let input = Support.uniform(4 * 3, seed: 2)
        let upstream = Support.uniform(4 * 2, seed: 3)
        func loss(_ p: [Double], _ x: [Double]) -> Double {
            var cache = MLP.Cache()
            mlp.forward(p, input: x, batch: 4, cache: &cache)
            return zip(cache.output, upstream).reduce(0) { $0 + $1.0 * $1.1 }
        }
        var cache = MLP.Cache()
        mlp.forward(params, input: input, batch: 4, cache: &cache)
        var g = [Double](repeating: 0, count: mlp.parameterCount)
        let dx = mlp.backward(params, cache: cache, outputGradient: upstream, gradient: &g, inputGradient: true)!
        let numeric = Support.numericGradient(params) { loss($0, input) }
        #expect(Support.maxRelativeError(g, numeric) < 1e-6)
        let numericX = Support.numericGradient(input) { loss(params, $0) }
        #expect(Support.maxRelativeError(dx, numericX) < 1e-6)
    }

    func batch(arch: PolicyArchitecture, count: Int, seed: UInt64) -> SampleBatch {
        var rng = SeededGenerator(seed: seed)
        let obs = (0..<(count * arch.observationCount)).map { _ in rng.uniform(-2, 2) }
        let actions: [Double] = (0..<count).flatMap { _ -> [Double] in
            arch.kind == .gaussian ? (0..<arch.actionCount).map { _ in rng.uniform(-1, 1) } : [Double(rng.integer(0, arch.actionCount - 1))]
        }
        let weights = (0..<count).map { _ in rng.uniform(-1, 1) }
        return SampleBatch(count: count, observations: obs, actions: actions, weights: weights)
    }

    @Test(arguments: [PolicyArchitecture.Kind.gaussian, .categorical])
    func surrogateGradientMatchesFiniteDifferences(kind: PolicyArchitecture.Kind) {
        let arch = PolicyArchitecture(kind: kind, observationCount: 3, actionCount: 3, hidden: [6, 5], initialLogStd: -0.3)
        var norm = ObservationNormalizer(size: 3, enabled: true)
        norm.update(Support.uniform(30, seed: 9, scale: 3), rows: 10)
        let math = PolicyMath(architecture: arch, normalizer: norm)
        var params = arch.network.initialParameters(seed: 4, outputScale: 1)
        if kind == .gaussian { params += [-0.3, 0.1, 0.2] }
        let b = batch(arch: arch, count: 7, seed: 5)
        let (loss, g) = math.surrogate(params, batch: b)
        let numeric = Support.numericGradient(params) { math.surrogate($0, batch: b).loss }
        #expect(Support.maxRelativeError(g, numeric) < 1e-5)
        // The loss is -mean(w log π): check it against the log-likelihoods.
        let ll = math.logLikelihoods(params, batch: b)
        let expected = -zip(ll, b.weights).reduce(0) { $0 + $1.0 * $1.1 } / Double(b.count)
        #expect(abs(loss - expected) < 1e-12)
    }

    /// `surrogate` runs `surrogateRows` rows at a time so that it can stop between passes: the
    /// split must not change a bit (training's checkpoints depend on it).
    @Test(arguments: [(PolicyArchitecture.Kind.gaussian, 0), (.categorical, 0), (.gaussian, 2)])
    func surrogateInPassesIsBitForBitOnePass(kind: PolicyArchitecture.Kind, context: Int) {
        var arch = PolicyArchitecture(kind: kind, observationCount: 3, actionCount: 3, hidden: [6, 5], initialLogStd: -0.3)
        arch.contextParameters = context
        var norm = ObservationNormalizer(size: 3, enabled: true)
        norm.update(Support.uniform(30, seed: 9, scale: 3), rows: 10)
        let math = PolicyMath(architecture: arch, normalizer: norm)
        var params = arch.network.initialParameters(seed: 4, outputScale: 1)
        if kind == .gaussian { params += [-0.3, 0.1, 0.2] }
        params += [Double](repeating: 0.3, count: context)
        let count = 2 * PolicyMath.surrogateRows + 77
        let b = batch(arch: arch, count: count, seed: 5)
        var cache = MLP.Cache()
        math.forward(params, observations: b.observations, count: count, cache: &cache)
        let whole = math.surrogate(params, batch: b, weights: b.weights, cache: cache)
        let passes = math.surrogate(params, batch: b)
        #expect(passes.loss.bitPattern == whole.loss.bitPattern)
        #expect(passes.gradient.map(\.bitPattern) == whole.gradient.map(\.bitPattern))
        #expect(whole.gradient.allSatisfy(\.isFinite) && whole.gradient.contains { $0 != 0 })
        // Cancelled, it gives no gradient at all rather than part of one.
        let cancel = Cancellation()
        #expect(math.surrogate(params, batch: b, cancel: cancel) != nil)
        cancel.cancel()
        #expect(math.surrogate(params, batch: b, cancel: cancel) == nil)
    }

    /// Context parameters (CAVIA) are network inputs taken from the parameters: their gradient
    /// is the input gradient summed over rows, after the normalized observations.
    @Test func contextParameterGradientMatchesFiniteDifferences() {
        var arch = PolicyArchitecture(kind: .gaussian, observationCount: 3, actionCount: 2, hidden: [5], initialLogStd: -0.3)
        arch.contextParameters = 2
        var norm = ObservationNormalizer(size: 3, enabled: true)
        norm.update(Support.uniform(30, seed: 9, scale: 3), rows: 10)
        let math = PolicyMath(architecture: arch, normalizer: norm)
        let params = arch.network.initialParameters(seed: 4, outputScale: 1) + [-0.3, 0.1] + [0.4, -0.7]
        #expect(params.count == arch.parameterCount && arch.contextOffset == params.count - 2)
        let b = batch(arch: arch, count: 7, seed: 5)
        let g = math.surrogate(params, batch: b).gradient
        #expect(Support.maxRelativeError(g, Support.numericGradient(params) { math.surrogate($0, batch: b).loss }) < 1e-5)
        #expect(g[arch.contextOffset] != 0 && g[arch.contextOffset + 1] != 0)
        // The context changes the actions: it is an input, not a dead parameter.
        var other = params
        other[arch.contextOffset] += 1
        #expect(math.logLikelihoods(params, batch: b) != math.logLikelihoods(other, batch: b))
        // CAVIA's multipliers move the context alone: two inner steps, second-order meta-gradient.
        let scales = arch.contextRateScales
        #expect(scales.count == params.count && scales.reduce(0, +) == 2 && scales[arch.contextOffset] == 1)
        let bs = (0..<3).map { batch(arch: arch, count: 5, seed: 40 + UInt64($0)) }
        let rates = [2.0, 1.5]
        func path(_ t: [Double]) -> [[Double]] {
            var out = [t]
            for k in 0..<2 {
                let gk = math.surrogate(out[k], batch: bs[k]).gradient
                out.append((0..<t.count).map { out[k][$0] - rates[k] * scales[$0] * gk[$0] })
            }
            return out
        }
        let adapted = path(params)[2]
        #expect(adapted[0..<arch.contextOffset] == params[0..<arch.contextOffset] && adapted[arch.contextOffset...] != params[arch.contextOffset...])
        func meta(_ t: [Double]) -> Double {
            let p = path(t)
            return 0.5 * (math.surrogate(p[1], batch: bs[1]).loss + math.surrogate(p[2], batch: bs[2]).loss)
        }
        let (mg, _, _) = MetaTrainer.metaGradient(math: math, parameters: path(params), batches: bs, learningRates: rates, scales: scales,
                                                  secondOrder: true, everyStep: true)
        #expect(Support.maxRelativeError(mg, Support.numericGradient(params, h: 1e-5) { meta($0) }) < 1e-4)
    }

    /// The second-order MAML gradient of F(θ) = L_post(θ − α ∇L_in(θ)) on fixed batches.
    @Test func mamlMetaGradientMatchesFiniteDifferences() {
        let arch = PolicyArchitecture(kind: .gaussian, observationCount: 2, actionCount: 2, hidden: [5], initialLogStd: -0.5)
        let math = PolicyMath(architecture: arch, normalizer: ObservationNormalizer(size: 2, enabled: false))
        let theta = arch.network.initialParameters(seed: 7, outputScale: 1) + [-0.5, -0.2]
        let inner = batch(arch: arch, count: 6, seed: 11), outer = batch(arch: arch, count: 6, seed: 12)
        let alpha = 0.1
        func adapted(_ t: [Double]) -> [Double] {
            let g = math.surrogate(t, batch: inner).gradient
            return zip(t, g).map { $0 - alpha * $1 }
        }
        func meta(_ t: [Double]) -> Double { math.surrogate(adapted(t), batch: outer).loss }
        var v = math.surrogate(adapted(theta), batch: outer).gradient
        let hv = MetaTrainer.hessianVectorProduct(math: math, at: theta, batch: inner, vector: v)
        for i in 0..<v.count { v[i] -= alpha * hv[i] }
        let numeric = Support.numericGradient(theta, h: 1e-5, meta)
        #expect(Support.maxRelativeError(v, numeric) < 1e-4)
    }

    /// Two inner steps with the multi-step loss, F(θ, α) = ½ [L_1(θ_1) + L_2(θ_2)], or the last
    /// step's loss alone: gradients with respect to θ and to the step sizes.
    @Test(arguments: [true, false])
    func multiStepMetaGradientMatchesFiniteDifferences(everyStep: Bool) {
        let arch = PolicyArchitecture(kind: .gaussian, observationCount: 2, actionCount: 2, hidden: [4], initialLogStd: -0.5)
        let math = PolicyMath(architecture: arch, normalizer: ObservationNormalizer(size: 2, enabled: false))
        let theta = arch.network.initialParameters(seed: 8, outputScale: 1) + [-0.4, -0.3]
        let b = (0..<3).map { batch(arch: arch, count: 5, seed: 20 + UInt64($0)) }
        let alpha = 0.05, alpha2 = 0.08
        func path(_ t: [Double], rates: [Double] = [alpha, alpha2]) -> [[Double]] {
            var out = [t]
            for k in 0..<2 {
                let g = math.surrogate(out[k], batch: b[k]).gradient
                out.append(zip(out[k], g).map { $0 - rates[k] * $1 })
            }
            return out
        }
        func meta(_ t: [Double], rates: [Double] = [alpha, alpha2]) -> Double {
            let p = path(t, rates: rates)
            let last = math.surrogate(p[2], batch: b[2]).loss
            return everyStep ? 0.5 * (math.surrogate(p[1], batch: b[1]).loss + last) : last
        }
        let (g, dRates, _) = MetaTrainer.metaGradient(math: math, parameters: path(theta), batches: b, learningRates: [alpha, alpha2],
                                                   secondOrder: true, everyStep: everyStep)
        let numeric = Support.numericGradient(theta, h: 1e-5) { meta($0) }
        #expect(Support.maxRelativeError(g, numeric) < 1e-4)
        let numericRates = Support.numericGradient([alpha, alpha2], h: 1e-6) { meta(theta, rates: $0) }
        #expect(Support.maxRelativeError(dRates, numericRates) < 1e-4)
    }

    /// Meta-SGD: the same two steps with one rate multiplier m_i per parameter,
    /// θ_{k+1} = θ_k − α_k m ⊙ ∇L_k(θ_k): gradients with respect to θ, the step sizes and m.
    @Test func perParameterRateMetaGradientMatchesFiniteDifferences() {
        let arch = PolicyArchitecture(kind: .gaussian, observationCount: 2, actionCount: 2, hidden: [4], initialLogStd: -0.5)
        let math = PolicyMath(architecture: arch, normalizer: ObservationNormalizer(size: 2, enabled: false))
        let theta = arch.network.initialParameters(seed: 9, outputScale: 1) + [-0.4, -0.3]
        let b = (0..<3).map { batch(arch: arch, count: 5, seed: 30 + UInt64($0)) }
        let rates = [0.05, 0.08]
        var rng = SeededGenerator(seed: 3)
        let scales = theta.map { _ in 0.3 + 1.5 * Double(rng.next(upperBound: UInt64(1000))) / 1000 }
        func path(_ t: [Double], rates: [Double], scales: [Double]) -> [[Double]] {
            var out = [t]
            for k in 0..<2 {
                let g = math.surrogate(out[k], batch: b[k]).gradient
                out.append((0..<t.count).map { out[k][$0] - rates[k] * scales[$0] * g[$0] })
            }
            return out
        }
        func meta(_ t: [Double], rates r: [Double] = rates, scales m: [Double] = scales) -> Double {
            let p = path(t, rates: r, scales: m)
            return 0.5 * (math.surrogate(p[1], batch: b[1]).loss + math.surrogate(p[2], batch: b[2]).loss)
        }
        let (g, dRates, dScales) = MetaTrainer.metaGradient(math: math, parameters: path(theta, rates: rates, scales: scales), batches: b,
                                                            learningRates: rates, scales: scales, secondOrder: true, everyStep: true)
        #expect(Support.maxRelativeError(g, Support.numericGradient(theta, h: 1e-5) { meta($0) }) < 1e-4)
        #expect(Support.maxRelativeError(dRates, Support.numericGradient(rates, h: 1e-6) { meta(theta, rates: $0) }) < 1e-4)
        #expect(Support.maxRelativeError(dScales, Support.numericGradient(scales, h: 1e-6) { meta(theta, scales: $0) }) < 1e-4)
        // The plain step is the special case m = 1.
        let ones = [Double](repeating: 1, count: theta.count)
        let plain = MetaTrainer.metaGradient(math: math, parameters: path(theta, rates: rates, scales: ones), batches: b,
                                             learningRates: rates, secondOrder: true, everyStep: true)
        let unit = MetaTrainer.metaGradient(math: math, parameters: path(theta, rates: rates, scales: ones), batches: b,
                                            learningRates: rates, scales: ones, secondOrder: true, everyStep: true)
        #expect(Support.maxRelativeError(plain.gradient, unit.gradient) < 1e-12 && plain.scales.isEmpty)
    }

    @Test func choleskySolvesASymmetricPositiveDefiniteSystem() {
        let a: [Double] = [4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]
        let x: [Double] = [1, -2, 0.5]
        let b = (0..<3).map { i in (0..<3).reduce(0) { $0 + a[i * 3 + $1] * x[$1] } }
        let solved = LinearFeatureBaseline.choleskySolve(a, b, 3)!
        #expect(Support.maxRelativeError(solved, x) < 1e-12)
        #expect(LinearFeatureBaseline.choleskySolve([1, 2, 2, 1], [1, 1], 2) == nil)
    }

    @Test func gaeWithLambdaOneAndNoBaselineIsTheReturnToGo() {
        var e = Episodes(count: 1, horizon: 3, observationCount: 1, actionWidth: 1)
        e.rewards = [1, 2, 3]
        e.lengths = [3]
        let g = Advantages.returnsToGo(e, gamma: 0.5)
        #expect(g == [1 + 0.5 * (2 + 0.5 * 3), 2 + 0.5 * 3, 3])
    }
}
