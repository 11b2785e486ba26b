import MetaLearning
import MetaSimCore

/// A session's policy: the checkpoint it was taken from, its current (adapted) parameters and
/// the random stream of its sampled actions. Used only by the owner connection's thread.
struct PolicyBinding {
    let entry: PolicyCatalog.Entry
    let math: PolicyMath
    /// The current parameters (the checkpoint's, then after each adapt the adapted ones).
    private(set) var parameters: [Double]
    /// Inner steps taken from the checkpoint's parameters.
    private(set) var adaptedSteps = 0
    var rng: SeededGenerator
    private var cache = MLP.Cache()
    private var inputs: [Double] = []

    init(entry: PolicyCatalog.Entry) {
        self.entry = entry
        let p = entry.checkpoint.policy
        math = PolicyMath(architecture: p.architecture, normalizer: p.normalizer)
        parameters = p.parameters.map { Double($0) }
        rng = Self.generator(seed: 0)
    }

    static func generator(seed: UInt64) -> SeededGenerator { SeededGenerator(seed: seed, stream: RandomStream.policy) }

    /// Takes adapted parameters, rounded to Float as a checkpoint stores them: what the session
    /// acts with is exactly what `save_policy` writes and an in-process `Policy` would do.
    mutating func adapted(to parameters: [Double], steps: Int) {
        self.parameters = parameters.map { Double(Float($0)) }
        adaptedSteps += steps
    }

    /// The inner-step learning rates still ahead: the policy's meta-learned per-step rates from
    /// step `adaptedSteps` on (its last rate beyond them), or `override` for every step.
    func learningRates(override: Double?) -> [Double] {
        if let override { return [override] }
        let rates = entry.checkpoint.policy.innerLearningRates
        guard !rates.isEmpty else { return [entry.inner.learningRate] }
        return adaptedSteps < rates.count ? Array(rates[adaptedSteps...]) : [rates[rates.count - 1]]
    }

    /// The current policy, as a checkpoint would store it.
    var policy: Policy {
        var p = entry.checkpoint.policy
        p.parameters = parameters.map { Float($0) }
        return p
    }

    var actionWidth: Int { math.architecture.actionWidth }

    /// Actions for `count` observations (float32, count × observation size) written as world
    /// actions: float32 for a Gaussian policy, int32 indices for a categorical one.
    mutating func act(observations: UnsafeRawBufferPointer, count: Int, deterministic: Bool, into out: UnsafeMutableRawBufferPointer) {
        let arch = math.architecture
        let n = count * arch.observationCount
        if inputs.count != n { inputs = [Double](repeating: 0, count: n) }
        for k in 0..<n { inputs[k] = Double(observations.loadUnaligned(fromByteOffset: 4 * k, as: Float.self)) }
        math.forward(parameters, observations: inputs, count: count, cache: &cache)
        let width = arch.actionWidth
        let categorical = arch.kind == .categorical
        for r in 0..<count {
            math.sampleAction(parameters, cache: cache, row: r, deterministic: deterministic, rng: &rng) { k, v in
                let at = 4 * (r * width + k)
                if categorical {
                    out.storeBytes(of: Int32(v), toByteOffset: at, as: Int32.self)
                } else {
                    out.storeBytes(of: Float(arch.worldAction(v, component: k)), toByteOffset: at, as: Float.self)
                }
            }
        }
    }

    /// Same as `act`, into a world batch's action buffer (discrete indices as floats).
    mutating func act(batch: WorldBatch, deterministic: Bool) {
        let arch = math.architecture
        let n = batch.count * arch.observationCount
        if inputs.count != n { inputs = [Double](repeating: 0, count: n) }
        for k in 0..<n { inputs[k] = Double(batch.observations[k]) }
        math.forward(parameters, observations: inputs, count: batch.count, cache: &cache)
        let width = arch.actionWidth
        for r in 0..<batch.count {
            math.sampleAction(parameters, cache: cache, row: r, deterministic: deterministic, rng: &rng) { k, v in
                batch.actions[r * width + k] = Float(arch.worldAction(v, component: k))
            }
        }
    }
}
