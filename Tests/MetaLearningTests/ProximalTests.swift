import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// ProMP's outer loop (`ProximalOuter`): the likelihood-ratio surrogates and the meta-gradient
/// through inner steps redone on fixed episodes, against central finite differences.
struct ProximalTests {
    static let arch = PolicyArchitecture(kind: .gaussian, observationCount: 2, actionCount: 2, hidden: [4], initialLogStd: -0.5)
    static let math = PolicyMath(architecture: arch, normalizer: ObservationNormalizer(size: 2, enabled: false))

    static func batch(count: Int, seed: UInt64) -> SampleBatch {
        var rng = SeededGenerator(seed: seed)
        let obs = (0..<(count * arch.observationCount)).map { _ in rng.uniform(-2, 2) }
        let actions = (0..<(count * arch.actionCount)).map { _ in rng.uniform(-1, 1) }
        let weights = (0..<count).map { _ in rng.uniform(-1, 1) }
        return SampleBatch(count: count, observations: obs, actions: actions, weights: weights)
    }

    /// θ and a nearby θ_old (so that ratios differ from 1), and the log-likelihoods under θ_old.
    static func setup(seed: UInt64) -> (theta: [Double], old: [Double]) {
        let old = arch.network.initialParameters(seed: seed, outputScale: 1) + [-0.4, -0.3]
        let shift = Support.uniform(old.count, seed: seed + 100, scale: 0.3)
        return (zip(old, shift).map { $0 + $1 }, old)
    }

    @Test(arguments: [nil, 0.2] as [Double?])
    func ratioSurrogateGradientMatchesFiniteDifferences(clip: Double?) {
        let (theta, old) = Self.setup(seed: 3)
        let b = Self.batch(count: 9, seed: 4)
        let oldLL = Self.math.logLikelihoods(old, batch: b)
        let (loss, g) = Self.math.ratioSurrogate(theta, batch: b, oldLogLikelihoods: oldLL, clip: clip)
        // The loss, from its definition.
        let ll = Self.math.logLikelihoods(theta, batch: b)
        var expected = 0.0
        for r in 0..<b.count {
            let ratio = exp(ll[r] - oldLL[r]), a = b.weights[r]
            expected -= clip.map { min(ratio * a, min(max(ratio, 1 - $0), 1 + $0) * a) } ?? ratio * a
        }
        #expect(abs(loss - expected / Double(b.count)) < 1e-12)
        let numeric = Support.numericGradient(theta) { Self.math.ratioSurrogate($0, batch: b, oldLogLikelihoods: oldLL, clip: clip).loss }
        #expect(Support.maxRelativeError(g, numeric) < 1e-5)
        if let clip {
            // The shift is large enough that some samples are clipped (else this checks nothing more).
            let clipped = (0..<b.count).filter { r in
                let ratio = exp(ll[r] - oldLL[r])
                return (b.weights[r] > 0 && ratio > 1 + clip) || (b.weights[r] < 0 && ratio < 1 - clip)
            }
            #expect(!clipped.isEmpty && clipped.count < b.count)
        }
    }

    @Test func ratioSurrogateAtTheSamplingParametersIsReinforce() {
        let (_, old) = Self.setup(seed: 5)
        let b = Self.batch(count: 9, seed: 6)
        let oldLL = Self.math.logLikelihoods(old, batch: b)
        let ratio = Self.math.ratioSurrogate(old, batch: b, oldLogLikelihoods: oldLL, clip: 0.2).gradient
        #expect(ratio == Self.math.surrogate(old, batch: b).gradient)
    }

    /// Two inner steps and the clipped post-adaptation objective, through θ and the step sizes.
    @Test(arguments: [true, false])
    func metaGradientMatchesFiniteDifferences(everyStep: Bool) {
        let (theta, old) = Self.setup(seed: 7)
        let b = (0..<3).map { Self.batch(count: 6, seed: 40 + UInt64($0)) }
        let rates = [0.05, 0.08]
        // The episodes' own parameters: θ_old's inner path.
        var sampled = [old]
        for k in 0..<2 {
            let g = Self.math.surrogate(sampled[k], batch: b[k]).gradient
            sampled.append(zip(sampled[k], g).map { $0 - rates[k] * $1 })
        }
        let oldLL = (0..<3).map { Self.math.logLikelihoods(sampled[$0], batch: b[$0]) }
        func meta(_ t: [Double], rates r: [Double] = rates) -> Double {
            var p = [t]
            for k in 0..<2 {
                let g = Self.math.ratioSurrogate(p[k], batch: b[k], oldLogLikelihoods: oldLL[k], clip: nil).gradient
                p.append(zip(p[k], g).map { $0 - r[k] * $1 })
            }
            let last = Self.math.ratioSurrogate(p[2], batch: b[2], oldLogLikelihoods: oldLL[2], clip: 0.2).loss
            guard everyStep else { return last }
            return 0.5 * (Self.math.ratioSurrogate(p[1], batch: b[1], oldLogLikelihoods: oldLL[1], clip: nil).loss + last)
        }
        let (g, dRates, _) = MetaTrainer.proximalMetaGradient(math: Self.math, theta: theta, batches: b, oldLogLikelihoods: oldLL,
                                                              learningRates: rates, scales: [], clip: 0.2, secondOrder: true,
                                                              everyStep: everyStep)
        #expect(Support.maxRelativeError(g, Support.numericGradient(theta, h: 1e-5) { meta($0) }) < 1e-4)
        #expect(Support.maxRelativeError(dRates, Support.numericGradient(rates, h: 1e-6) { meta(theta, rates: $0) }) < 1e-4)
    }

    /// At the sampling parameters the first-order part is MAML's: first-order ProMP and
    /// first-order MAML give the same gradient there (the Hessians differ by the LVC term).
    @Test func firstOrderAtTheSamplingParametersIsMAML() {
        let (_, old) = Self.setup(seed: 9)
        let b = (0..<2).map { Self.batch(count: 6, seed: 50 + UInt64($0)) }
        let g0 = Self.math.surrogate(old, batch: b[0]).gradient
        let path = [old, zip(old, g0).map { $0 - 0.1 * $1 }]
        let oldLL = (0..<2).map { Self.math.logLikelihoods(path[$0], batch: b[$0]) }
        let maml = MetaTrainer.metaGradient(math: Self.math, parameters: path, batches: b, learningRates: [0.1], secondOrder: false, everyStep: true)
        let promp = MetaTrainer.proximalMetaGradient(math: Self.math, theta: old, batches: b, oldLogLikelihoods: oldLL, learningRates: [0.1],
                                                     scales: [], clip: 0.2, secondOrder: false, everyStep: true)
        #expect(Support.maxRelativeError(promp.gradient, maml.gradient) < 1e-12)
        #expect(Support.maxRelativeError(promp.learningRates, maml.learningRates) < 1e-12)
        let second = MetaTrainer.proximalMetaGradient(math: Self.math, theta: old, batches: b, oldLogLikelihoods: oldLL, learningRates: [0.1],
                                                      scales: [], clip: 0.2, secondOrder: true, everyStep: true)
        let mamlSecond = MetaTrainer.metaGradient(math: Self.math, parameters: path, batches: b, learningRates: [0.1], secondOrder: true, everyStep: true)
        #expect(Support.maxRelativeError(second.gradient, mamlSecond.gradient) > 1e-6)
    }
}
