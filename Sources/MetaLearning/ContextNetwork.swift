import Foundation
import MetaSimCore

/// A context policy (`--algo context`): a permutation-invariant encoder of the transitions seen
/// so far of a task gives a latent task vector that conditions the policy. This is PEARL's
/// structure (Rakelly et al. 2019) with a deterministic encoder — the mean of per-transition
/// codes instead of a product of Gaussian factors with a KL term — trained on-policy with the
/// same PPO over trials as RL² (`RecurrentTrainingRun`), end to end through the pooling, plus
/// VariBAD's decoder (Zintgraf et al. 2020; here deterministic): from the task vector, predict
/// the next transition's reward and change of observation, so the encoder learns what tells
/// tasks apart from the world's own signal, not only through the policy gradient.
///
///     e_t = E([s_{t−1}, x_t])          x_t = [s_t, a_{t−1}, r_{t−1}, episode end]  (the step input)
///     z_t = (Σ_{k ≤ t} e_k) / c_t      c_t transitions seen since the task's state was reset
///     [out_t, v_t] = P([s_t, z_t])     means (Gaussian) or logits (categorical), and the value
///     [r̂_t, Δŝ_t] = D([s_t, a_t, z_t]) the decoder (training only): r_t and s_{t+1} − s_t
///
/// E is an MLP `[n + inputs, H, L]` (tanh hidden layer, linear code), P an MLP
/// `[n + L, H, H, outputs + 1]` whose last output is PPO's value (the critic shares the policy's
/// layers, as RL²'s shares the GRU), D an MLP `[n + actions + L, H, 1 + n]` (acting never runs it). s is the normalized observation. The first step after a
/// reset has no transition yet (z = 0); a step after an episode end encodes the pair across the
/// boundary with its end flag set, so the encoder can tell a transition from a restart. Order
/// does not matter to the mean, so what the policy sees is a set of transitions, as PEARL's.
///
/// The state a session carries (`stateCount` values per row, the `RecurrentActor`'s "hidden"
/// part) is `[Σ e (L), c, s_{t−1} (n), has previous]`. Flat parameters: E's, P's, then D's.
///
/// Forward and backward are hand-written in Double over `MLP`; every sum runs in a fixed order,
/// and acting row by row and a whole trial run the same arithmetic on a row, so results are
/// reproducible to the bit.
public struct ContextNetwork: Sendable, Equatable {
    /// Observations (n): the first n values of a step input.
    public let observationCount: Int
    /// The step input's size (n + actions + 2, `RecurrentCell.stepInputs`).
    public let inputCount: Int
    /// H: the width of the encoder's and the policy's hidden layers.
    public let hiddenCount: Int
    /// L: the latent task vector's size.
    public let latentCount: Int
    /// Head outputs (means or logits), without the value.
    public let outputCount: Int

    /// The width of an action in the step input (`inputCount` − n − 2).
    public var actionInputCount: Int { inputCount - observationCount - 2 }

    public init(observationCount: Int, inputCount: Int, hiddenCount: Int, latentCount: Int, outputCount: Int) {
        precondition(observationCount > 0 && inputCount > observationCount && hiddenCount > 0 && latentCount > 0 && outputCount > 0,
                     "a context network needs observations, inputs, hidden units, a latent vector and outputs")
        self.observationCount = observationCount
        self.inputCount = inputCount
        self.hiddenCount = hiddenCount
        self.latentCount = latentCount
        self.outputCount = outputCount
    }

    public var encoder: MLP { MLP(sizes: [observationCount + inputCount, hiddenCount, latentCount]) }
    public var policy: MLP { MLP(sizes: [observationCount + latentCount, hiddenCount, hiddenCount, outputCount + 1]) }
    public var decoder: MLP { MLP(sizes: [observationCount + actionInputCount + latentCount, hiddenCount, 1 + observationCount]) }
    /// Where P's parameters start.
    public var policyOffset: Int { encoder.parameterCount }
    /// Where D's parameters start.
    public var decoderOffset: Int { encoder.parameterCount + policy.parameterCount }
    public var parameterCount: Int { decoderOffset + decoder.parameterCount }

    /// Values of one row's state: Σ e (L), the count c, the previous normalized observation (n),
    /// and 1 when there is one (0 right after a reset).
    public var stateCount: Int { latentCount + observationCount + 2 }
    var countIndex: Int { latentCount }
    var previousIndex: Int { latentCount + 1 }
    var hasPreviousIndex: Int { latentCount + 1 + observationCount }

    /// The name of value j of a row's state (for errors).
    public func stateField(_ j: Int) -> String {
        j < latentCount ? "context_sum[\(j)]" : j == countIndex ? "context_count"
            : j < hasPreviousIndex ? "previous_observation[\(j - previousIndex)]" : "has_previous_observation"
    }

    /// What is wrong with one row's state values (nil: nothing): the count is a whole number in
    /// 0...2⁵³ and the flag 0 or 1. (Finiteness is the caller's check.)
    public func stateProblem(_ row: ArraySlice<Double>) -> (field: String, value: Double)? {
        let c = row[row.startIndex + countIndex], flag = row[row.startIndex + hasPreviousIndex]
        if c < 0 || c != c.rounded() || c > 9_007_199_254_740_992 { return (stateField(countIndex), c) }
        if flag != 0 && flag != 1 { return (stateField(hasPreviousIndex), flag) }
        return nil
    }

    /// Glorot-uniform layers with zero biases (`MLP.initialParameters`): the encoder's code at
    /// full scale, the policy's output layer scaled by `outputScale` so a new policy starts near
    /// its mean action with a value near 0.
    public func initialParameters(seed: UInt64, outputScale: Double = 0.01) -> [Double] {
        encoder.initialParameters(seed: SplitMix64.mix(seed, 0xE4C), outputScale: 1)
            + policy.initialParameters(seed: SplitMix64.mix(seed, 0x9011C7), outputScale: outputScale)
            + decoder.initialParameters(seed: SplitMix64.mix(seed, 0xDEC), outputScale: 1)
    }

    /// The mean code: `sum` / c into `z` (zeros when c is 0).
    @inline(__always)
    private func pool(_ sum: UnsafePointer<Double>, count c: Double, into z: UnsafeMutablePointer<Double>) {
        for j in 0..<latentCount { z[j] = c > 0 ? sum[j] / c : 0 }
    }

    /// One step of `batch` rows (acting): each row's state (`stateCount` values, in `state`)
    /// takes the transition the input closes, if any; returns the head outputs (batch ×
    /// outputCount) and the values (batch).
    public func step(_ params: [Double], input: [Double], state: inout [Double], batch: Int) -> (outputs: [Double], values: [Double]) {
        precondition(params.count >= parameterCount && input.count == batch * inputCount && state.count == batch * stateCount)
        let n = observationCount, ic = inputCount, sc = stateCount, L = latentCount
        let enc = encoder, pol = policy
        // The rows that close a transition, encoded together.
        var rows: [Int] = []
        var encoderInput: [Double] = []
        for b in 0..<batch where state[b * sc + hasPreviousIndex] == 1 {
            rows.append(b)
            encoderInput += state[(b * sc + previousIndex)..<(b * sc + previousIndex + n)]
            encoderInput += input[(b * ic)..<((b + 1) * ic)]
        }
        if !rows.isEmpty {
            var cache = MLP.Cache()
            enc.forward(params, input: encoderInput, batch: rows.count, cache: &cache)
            let codes = cache.output
            for (i, b) in rows.enumerated() {
                for j in 0..<L { state[b * sc + j] += codes[i * L + j] }
                state[b * sc + countIndex] += 1
            }
        }
        var policyInput = [Double](repeating: 0, count: batch * (n + L))
        state.withUnsafeMutableBufferPointer { st in
            policyInput.withUnsafeMutableBufferPointer { pin in
                for b in 0..<batch {
                    let row = pin.baseAddress! + b * (n + L), s = st.baseAddress! + b * sc
                    for k in 0..<n { row[k] = input[b * ic + k]; s[previousIndex + k] = input[b * ic + k] }
                    pool(s, count: s[countIndex], into: row + n)
                    s[hasPreviousIndex] = 1
                }
            }
        }
        var cache = MLP.Cache()
        pol.forward(params, offset: policyOffset, input: policyInput, batch: batch, cache: &cache)
        let y = cache.output, m = outputCount
        var outputs = [Double](repeating: 0, count: batch * m), values = [Double](repeating: 0, count: batch)
        for b in 0..<batch {
            for j in 0..<m { outputs[b * m + j] = y[b * (m + 1) + j] }
            values[b] = y[b * (m + 1) + m]
        }
        return (outputs, values)
    }

    /// A forward pass over one sequence, kept for the backward pass.
    public struct Sequence: Sendable {
        public var length = 0
        /// Whether step t closed a transition (it has a code).
        var encoded: [Bool] = []
        /// c_t: transitions pooled into z_t.
        var counts: [Double] = []
        var encoderCache = MLP.Cache()
        var policyCache = MLP.Cache()
        /// length × outputCount head outputs.
        public var outputs: [Double] = []
        /// length values.
        public var values: [Double] = []
        public init() {}
    }

    /// Runs `length` steps from a reset state; the state is reset before every step t with
    /// `resets[t]` (a new task).
    public func forward(_ params: [Double], inputs: [Double], resets: [Bool], length: Int) -> Sequence {
        precondition(params.count >= parameterCount && inputs.count == length * inputCount && resets.count == length)
        let n = observationCount, ic = inputCount, L = latentCount, m = outputCount
        var s = Sequence()
        s.length = length
        s.encoded = (0..<length).map { t in t > 0 && !resets[t] }
        var encoderInput: [Double] = []
        for t in 0..<length where s.encoded[t] {
            encoderInput += inputs[((t - 1) * ic)..<((t - 1) * ic + n)]
            encoderInput += inputs[(t * ic)..<((t + 1) * ic)]
        }
        let encodedCount = s.encoded.count { $0 }
        if encodedCount > 0 { encoder.forward(params, input: encoderInput, batch: encodedCount, cache: &s.encoderCache) }
        var policyInput = [Double](repeating: 0, count: length * (n + L))
        var sum = [Double](repeating: 0, count: L), c = 0.0, code = 0
        s.counts = [Double](repeating: 0, count: length)
        let codes = encodedCount > 0 ? s.encoderCache.output : []
        sum.withUnsafeMutableBufferPointer { sm in
            policyInput.withUnsafeMutableBufferPointer { pin in
                for t in 0..<length {
                    if resets[t] { for j in 0..<L { sm[j] = 0 }; c = 0 }
                    if s.encoded[t] {
                        for j in 0..<L { sm[j] += codes[code * L + j] }
                        c += 1
                        code += 1
                    }
                    s.counts[t] = c
                    let row = pin.baseAddress! + t * (n + L)
                    for k in 0..<n { row[k] = inputs[t * ic + k] }
                    pool(UnsafePointer(sm.baseAddress!), count: c, into: row + n)
                }
            }
        }
        policy.forward(params, offset: policyOffset, input: policyInput, batch: length, cache: &s.policyCache)
        let y = s.policyCache.output
        s.outputs = [Double](repeating: 0, count: length * m)
        s.values = [Double](repeating: 0, count: length)
        for t in 0..<length {
            for j in 0..<m { s.outputs[t * m + j] = y[t * (m + 1) + j] }
            s.values[t] = y[t * (m + 1) + m]
        }
        return s
    }

    /// Adds d(loss)/d(params) to `gradient` given d(loss)/d(outputs) (length × outputCount) and
    /// d(loss)/d(values) (length) of the forward pass `s`: through P to each z_t, then to every
    /// code pooled into it (d e_k = Σ_{t ≥ k, same task} d z_t / c_t, summed from the last step
    /// back), then through E.
    /// `latentGradient` (length × L, optional) adds a gradient of the loss with respect to each z_t
    /// from elsewhere (the decoder's, `decoderLoss`).
    public func backward(_ params: [Double], sequence s: Sequence, outputGradient: [Double], valueGradient: [Double],
                         latentGradient: [Double]? = nil, gradient: inout [Double]) {
        let length = s.length, n = observationCount, L = latentCount, m = outputCount
        precondition(outputGradient.count == length * m && valueGradient.count == length && gradient.count >= parameterCount)
        precondition(latentGradient == nil || latentGradient!.count == length * L)
        guard length > 0 else { return }
        var dy = [Double](repeating: 0, count: length * (m + 1))
        for t in 0..<length {
            for j in 0..<m { dy[t * (m + 1) + j] = outputGradient[t * m + j] }
            dy[t * (m + 1) + m] = valueGradient[t]
        }
        guard let dInput = policy.backward(params, offset: policyOffset, cache: s.policyCache, outputGradient: dy, gradient: &gradient,
                                           inputGradient: true) else { preconditionFailure("the policy's input gradient was asked for") }
        let encodedCount = s.encoded.count { $0 }
        guard encodedCount > 0 else { return }
        var dCodes = [Double](repeating: 0, count: encodedCount * L)
        var acc = [Double](repeating: 0, count: L), code = encodedCount
        for t in stride(from: length - 1, through: 0, by: -1) {
            let c = s.counts[t]
            if c > 0 {
                if let extra = latentGradient {
                    for j in 0..<L { acc[j] += (dInput[t * (n + L) + n + j] + extra[t * L + j]) / c }
                } else {
                    for j in 0..<L { acc[j] += dInput[t * (n + L) + n + j] / c }
                }
            }
            if s.encoded[t] {
                code -= 1
                for j in 0..<L { dCodes[code * L + j] = acc[j] }
            } else {
                // A reset (or the first step): no code before it shares this task's pool.
                for j in 0..<L { acc[j] = 0 }
            }
        }
        encoder.backward(params, cache: s.encoderCache, outputGradient: dCodes, gradient: &gradient)
    }

    /// The decoder's loss over the forward pass `s` of `inputs`, times `coefficient`:
    /// Σ_t ½ ‖D([s_t, a_t, z_t]) − y_t‖², y_t = [r_t, s_{t+1} − s_t], over the steps whose next
    /// step closes a transition of the same episode (not the last step, nor one before a reset or
    /// an episode end); r_t and a_t as the next step input reads them (clipped, in the policy's
    /// units), the targets in their own units
    /// (standardizing them by running statistics was tried and did worse: docs/meta-learning.md,
    /// "Context meta-policy"). Adds its gradient with respect to D's parameters to `gradient` and
    /// returns it with respect to each z_t (length × L; `backward`'s `latentGradient`).
    public func decoderLoss(_ params: [Double], sequence s: Sequence, inputs: [Double], coefficient: Double,
                            gradient: inout [Double]) -> (loss: Double, latentGradient: [Double]) {
        let length = s.length, n = observationCount, L = latentCount, ic = inputCount, a = actionInputCount
        precondition(inputs.count == length * ic && gradient.count >= parameterCount)
        var dz = [Double](repeating: 0, count: length * L)
        var rows: [Int] = []
        for t in 0..<max(length - 1, 0) where s.encoded[t + 1] && inputs[(t + 1) * ic + ic - 1] == 0 { rows.append(t) }
        guard !rows.isEmpty, coefficient != 0 else { return (0, dz) }
        let width = n + a + L, out = 1 + n
        var input = [Double](repeating: 0, count: rows.count * width), target = [Double](repeating: 0, count: rows.count * out)
        let z = s.policyCache.activations[0]
        for (i, t) in rows.enumerated() {
            let next = (t + 1) * ic
            for k in 0..<n { input[i * width + k] = inputs[t * ic + k] }
            for k in 0..<a { input[i * width + n + k] = inputs[next + n + k] }
            for j in 0..<L { input[i * width + n + a + j] = z[t * (n + L) + n + j] }
            target[i * out] = inputs[next + n + a]
            for k in 0..<n { target[i * out + 1 + k] = inputs[next + k] - inputs[t * ic + k] }
        }
        var cache = MLP.Cache()
        decoder.forward(params, offset: decoderOffset, input: input, batch: rows.count, cache: &cache)
        let prediction = cache.output
        var loss = 0.0
        var dPrediction = [Double](repeating: 0, count: rows.count * out)
        for i in 0..<(rows.count * out) {
            let d = prediction[i] - target[i]
            loss += 0.5 * d * d
            dPrediction[i] = coefficient * d
        }
        guard let dInput = decoder.backward(params, offset: decoderOffset, cache: cache, outputGradient: dPrediction, gradient: &gradient,
                                            inputGradient: true) else { preconditionFailure("the decoder's input gradient was asked for") }
        for (i, t) in rows.enumerated() {
            for j in 0..<L { dz[t * L + j] = dInput[i * width + n + a + j] }
        }
        return (coefficient * loss, dz)
    }
}
