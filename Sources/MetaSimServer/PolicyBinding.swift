import MetaLearning
import MetaSimCore

/// A session's policy: the checkpoint it was taken from, its current (adapted) parameters and
/// the random stream of its sampled actions; a recurrent policy (rl2) also its state, one row per
/// instance of the session (`RecurrentActor`). Used only by the owner connection's thread.
struct PolicyBinding {
    let entry: PolicyCatalog.Entry
    let architecture: PolicyArchitecture
    /// A feed-forward policy's math (nil for a recurrent one).
    private let math: PolicyMath?
    /// A recurrent policy's state and acting (nil for a feed-forward one).
    private(set) var recurrent: RecurrentActor?
    /// The current parameters (the checkpoint's, then after each adapt the adapted ones).
    private(set) var parameters: [Double]
    /// Inner steps taken from the checkpoint's parameters.
    private(set) var adaptedSteps = 0
    var rng: SeededGenerator
    private var cache = MLP.Cache()
    private var inputs: [Double] = []

    /// `rows`: the session's instances (a recurrent policy keeps a state for each).
    init(entry: PolicyCatalog.Entry, rows: Int) {
        self.entry = entry
        let p = entry.checkpoint.policy
        architecture = p.architecture
        if p.architecture.recurrent != nil {
            math = nil
            recurrent = RecurrentActor(math: RecurrentMath(architecture: p.architecture, normalizer: p.normalizer), rows: rows)
        } else {
            math = PolicyMath(architecture: p.architecture, normalizer: p.normalizer)
            recurrent = nil
        }
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

    var actionWidth: Int { architecture.actionWidth }

    // MARK: A recurrent policy's state

    /// What happened to the session's instances since the policy last acted: a step's rewards and
    /// episode ends (`terminated` or `truncated`). Nothing for a feed-forward policy.
    mutating func noteStep(rewards: (Int) -> Double, ended: (Int) -> Bool) {
        guard recurrent != nil else { return }
        for i in 0..<recurrent!.rows { recurrent!.noteStep(row: i, reward: rewards(i), ended: ended(i)) }
    }

    mutating func noteStep(batch: WorldBatch) {
        noteStep(rewards: { batch.rewards[$0] }, ended: { batch.terminated[$0] | batch.truncated[$0] != 0 })
    }

    /// Instances whose episodes restarted by hand (`reset`): the episode-end flag, the state kept.
    mutating func noteReset(instances: [Int]) {
        guard recurrent != nil else { return }
        for i in instances { recurrent!.noteReset(row: i) }
    }

    /// A new task: every instance's state back to zero.
    mutating func resetState() {
        recurrent?.resetState()
    }

    /// Replaces the state (`RecurrentActor.restore`: checked whole, untouched when refused).
    mutating func restoreState(_ values: [Double], architecture tag: String) throws(RecurrentStateError) {
        try recurrent?.restore(values, architecture: tag)
    }

    // MARK: Acting

    /// Actions for `count` observations (float32, count × observation size) written as world
    /// actions: float32 for a Gaussian policy, int32 indices for a categorical one. A recurrent
    /// policy takes one row per instance (`count` is its rows) and steps its state.
    mutating func act(observations: UnsafeRawBufferPointer, count: Int, deterministic: Bool, into out: UnsafeMutableRawBufferPointer) {
        let arch = architecture
        let categorical = arch.kind == .categorical
        if recurrent != nil {
            precondition(count == recurrent!.rows, "a recurrent policy acts for each of its rows")
            let width = arch.actionWidth, o = arch.observationCount
            let observation: (Int, Int) -> Double = { r, k in
                Double(observations.loadUnaligned(fromByteOffset: 4 * (r * o + k), as: Float.self))
            }
            let emit: (Int, Int, Double) -> Void = { r, k, v in
                let at = 4 * (r * width + k)
                if categorical {
                    out.storeBytes(of: Int32(v), toByteOffset: at, as: Int32.self)
                } else {
                    out.storeBytes(of: Float(arch.worldAction(v, component: k)), toByteOffset: at, as: Float.self)
                }
            }
            recurrent!.act(parameters, deterministic: deterministic, rng: &rng, observation: observation, emit: emit)
            return
        }
        guard let math else { return }
        let n = count * arch.observationCount
        if inputs.count != n { inputs = [Double](repeating: 0, count: n) }
        for k in 0..<n { inputs[k] = Double(observations.loadUnaligned(fromByteOffset: 4 * k, as: Float.self)) }
        math.forward(parameters, observations: inputs, count: count, cache: &cache)
        let width = arch.actionWidth
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
        let arch = architecture
        if recurrent != nil {
            precondition(batch.count == recurrent!.rows, "a recurrent policy acts for each of its rows")
            let width = arch.actionWidth, o = arch.observationCount
            let observations = batch.observations, actions = batch.actions
            let observation: (Int, Int) -> Double = { r, k in Double(observations[r * o + k]) }
            let emit: (Int, Int, Double) -> Void = { r, k, v in actions[r * width + k] = Float(arch.worldAction(v, component: k)) }
            recurrent!.act(parameters, deterministic: deterministic, rng: &rng, observation: observation, emit: emit)
            return
        }
        guard let math else { return }
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
