import Foundation
import MetaSimCore

/// A gated recurrent unit (Cho et al. 2014, in PyTorch's form) with two linear heads on its
/// hidden state, over flat parameters: RL²'s recurrent policy (`RecurrentLearner`).
///
///     r = σ(x W_r + b_xr + h W_hr + b_hr)          reset gate
///     z = σ(x W_z + b_xz + h W_hz + b_hz)          update gate
///     n = tanh(x W_n + b_xn + r ⊙ (h W_hn + b_hn))  candidate
///     h' = (1 − z) ⊙ n + z ⊙ h
///     out = h' W_o + b_o                           means (Gaussian) or logits (categorical)
///     v = h' w_v + b_v                             the value (PPO's critic; it shares the GRU)
///
/// Flat layout: `weightIH` [inputs][3·hidden] (gates in the order r, z, n), `weightHH`
/// [hidden][3·hidden], `biasIH` [3·hidden], `biasHH` [3·hidden], `head` [hidden][outputs],
/// `headBias` [outputs], `value` [hidden], `valueBias` [1]. A policy keeps its log-std after them.
///
/// Forward and backward (through time) are hand-written in Double; every sum runs in a fixed
/// order, and a batch step and a sequence step run the same code on a row, so results are
/// reproducible to the bit.
public struct GRUNetwork: Sendable, Equatable {
    public let inputCount: Int
    public let hiddenCount: Int
    public let outputCount: Int

    public init(inputCount: Int, hiddenCount: Int, outputCount: Int) {
        precondition(inputCount > 0 && hiddenCount > 0 && outputCount > 0, "a GRU needs inputs, hidden units and outputs")
        self.inputCount = inputCount
        self.hiddenCount = hiddenCount
        self.outputCount = outputCount
    }

    var gates: Int { 3 * hiddenCount }
    public var weightIH: Int { 0 }
    public var weightHH: Int { inputCount * gates }
    public var biasIH: Int { weightHH + hiddenCount * gates }
    public var biasHH: Int { biasIH + gates }
    public var head: Int { biasHH + gates }
    public var headBias: Int { head + hiddenCount * outputCount }
    public var value: Int { headBias + outputCount }
    public var valueBias: Int { value + hiddenCount }
    public var parameterCount: Int { valueBias + 1 }

    /// PyTorch's GRU initialization (uniform in ±1/√hidden) for the cell; Glorot-uniform heads,
    /// the policy head scaled by `outputScale` so a new policy starts near its mean action; zero
    /// head biases.
    public func initialParameters(seed: UInt64, outputScale: Double = 0.01) -> [Double] {
        var rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
        var p = [Double](repeating: 0, count: parameterCount)
        let k = 1 / Double(hiddenCount).squareRoot()
        for i in 0..<head { p[i] = rng.uniform(-k, k) }
        let limit = (6.0 / Double(hiddenCount + outputCount)).squareRoot() * outputScale
        for i in head..<headBias { p[i] = rng.uniform(-limit, limit) }
        let valueLimit = (6.0 / Double(hiddenCount + 1)).squareRoot()
        for i in value..<valueBias { p[i] = rng.uniform(-valueLimit, valueLimit) }
        return p
    }

    /// What one step keeps for the backward pass.
    struct StepRecord {
        var r: [Double], z: [Double], n: [Double]
        /// h W_hn + b_hn (what r multiplies).
        var hn: [Double]
    }

    /// One step of one row: from input `x` (inputCount) and hidden state `h` (hiddenCount) to
    /// `hOut`; the gates go to `r`, `z`, `n`, `hn` when they are kept. Sums run over inputs then
    /// hidden units, each from its bias, in index order.
    @inline(__always)
    func cell(_ p: UnsafePointer<Double>, x: UnsafePointer<Double>, h: UnsafePointer<Double>, hOut: UnsafeMutablePointer<Double>,
              ax: UnsafeMutablePointer<Double>, ah: UnsafeMutablePointer<Double>,
              r: UnsafeMutablePointer<Double>, z: UnsafeMutablePointer<Double>, n: UnsafeMutablePointer<Double>) {
        let g = gates, hc = hiddenCount
        let wi = p + weightIH, wh = p + weightHH, bi = p + biasIH, bh = p + biasHH
        for j in 0..<g { ax[j] = bi[j]; ah[j] = bh[j] }
        for i in 0..<inputCount {
            let xi = x[i], row = wi + i * g
            for j in 0..<g { ax[j] += xi * row[j] }
        }
        for i in 0..<hc {
            let hi = h[i], row = wh + i * g
            for j in 0..<g { ah[j] += hi * row[j] }
        }
        for j in 0..<hc {
            r[j] = 1 / (1 + exp(-(ax[j] + ah[j])))
            z[j] = 1 / (1 + exp(-(ax[hc + j] + ah[hc + j])))
            n[j] = tanh(ax[2 * hc + j] + r[j] * ah[2 * hc + j])
            hOut[j] = (1 - z[j]) * n[j] + z[j] * h[j]
        }
    }

    /// The heads of one row: `out` (outputCount) and the value.
    @inline(__always)
    func heads(_ p: UnsafePointer<Double>, h: UnsafePointer<Double>, out: UnsafeMutablePointer<Double>) -> Double {
        let m = outputCount, w = p + head, b = p + headBias
        for j in 0..<m { out[j] = b[j] }
        for i in 0..<hiddenCount {
            let hi = h[i], row = w + i * m
            for j in 0..<m { out[j] += hi * row[j] }
        }
        var v = p[valueBias]
        for i in 0..<hiddenCount { v += h[i] * p[value + i] }
        return v
    }

    /// One step of `batch` rows (acting): `hidden` (batch × hiddenCount) becomes the new state;
    /// returns the head outputs (batch × outputCount) and the values (batch).
    public func step(_ params: [Double], input: [Double], hidden: inout [Double], batch: Int) -> (outputs: [Double], values: [Double]) {
        precondition(params.count >= parameterCount && input.count == batch * inputCount && hidden.count == batch * hiddenCount)
        var out = [Double](repeating: 0, count: batch * outputCount), values = [Double](repeating: 0, count: batch)
        var ax = [Double](repeating: 0, count: gates), ah = ax
        var r = [Double](repeating: 0, count: hiddenCount), z = r, n = r, h = r
        params.withUnsafeBufferPointer { p in
            input.withUnsafeBufferPointer { x in
                hidden.withUnsafeMutableBufferPointer { hs in
                    out.withUnsafeMutableBufferPointer { o in
                        for b in 0..<batch {
                            let hb = hs.baseAddress! + b * hiddenCount
                            cell(p.baseAddress!, x: x.baseAddress! + b * inputCount, h: hb, hOut: &h, ax: &ax, ah: &ah, r: &r, z: &z, n: &n)
                            for j in 0..<hiddenCount { hb[j] = h[j] }
                            values[b] = heads(p.baseAddress!, h: hb, out: o.baseAddress! + b * outputCount)
                        }
                    }
                }
            }
        }
        return (out, values)
    }

    /// A forward pass over one sequence, kept for the backward pass.
    public struct Sequence: Sendable {
        public var length = 0
        /// length × inputCount.
        public var inputs: [Double] = []
        /// Whether the state was reset (to zeros) before step t.
        public var resets: [Bool] = []
        /// (length + 1) × hiddenCount: the state before step 0, then after each step (a reset
        /// step reads zeros, not its row).
        public var states: [Double] = []
        var r: [Double] = [], z: [Double] = [], n: [Double] = [], hn: [Double] = []
        /// length × outputCount head outputs.
        public var outputs: [Double] = []
        /// length values.
        public var values: [Double] = []
        public init() {}
    }

    /// Runs `length` steps from `initial` (zeros when nil); the state is reset to zeros before
    /// every step t with `resets[t]` (a new task).
    public func forward(_ params: [Double], inputs: [Double], resets: [Bool], initial: [Double]? = nil, length: Int) -> Sequence {
        precondition(params.count >= parameterCount && inputs.count == length * inputCount && resets.count == length)
        let hc = hiddenCount
        var states = [Double](repeating: 0, count: (length + 1) * hc)
        if let initial { precondition(initial.count == hc); for j in 0..<hc { states[j] = initial[j] } }
        var rs = [Double](repeating: 0, count: length * hc), zs = rs, ns = rs, hns = rs
        var outputs = [Double](repeating: 0, count: length * outputCount), values = [Double](repeating: 0, count: length)
        let zeros = [Double](repeating: 0, count: hc)
        var ax = [Double](repeating: 0, count: gates), ah = ax
        params.withUnsafeBufferPointer { pp in
            let p = pp.baseAddress!
            inputs.withUnsafeBufferPointer { x in
                states.withUnsafeMutableBufferPointer { st in
                    rs.withUnsafeMutableBufferPointer { r in
                        zs.withUnsafeMutableBufferPointer { z in
                            ns.withUnsafeMutableBufferPointer { n in
                                outputs.withUnsafeMutableBufferPointer { o in
                                    zeros.withUnsafeBufferPointer { zero in
                                        for t in 0..<length {
                                            let h = resets[t] ? zero.baseAddress! : UnsafePointer(st.baseAddress! + t * hc)
                                            cell(p, x: x.baseAddress! + t * inputCount, h: h, hOut: st.baseAddress! + (t + 1) * hc,
                                                 ax: &ax, ah: &ah, r: r.baseAddress! + t * hc, z: z.baseAddress! + t * hc,
                                                 n: n.baseAddress! + t * hc)
                                            for j in 0..<hc { hns[t * hc + j] = ah[2 * hc + j] }
                                            values[t] = heads(p, h: st.baseAddress! + (t + 1) * hc, out: o.baseAddress! + t * outputCount)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var s = Sequence()
        s.length = length
        s.inputs = inputs
        s.resets = resets
        s.states = states
        s.r = rs; s.z = zs; s.n = ns; s.hn = hns
        s.outputs = outputs
        s.values = values
        return s
    }

    /// Backpropagation through time: adds d(loss)/d(params) to `gradient` given d(loss)/d(outputs)
    /// (length × outputCount) and d(loss)/d(values) (length) of the forward pass `s`. The
    /// gradient reaching a state stops at a reset and, with `truncation` > 0, at every step t that
    /// is a multiple of it (truncated BPTT: the state entering such a step is a constant).
    /// Returns d(loss)/d(inputs) (length × inputCount) when asked.
    @discardableResult
    public func backward(_ params: [Double], sequence s: Sequence, outputGradient: [Double], valueGradient: [Double],
                         gradient: inout [Double], truncation: Int = 0, inputGradient: Bool = false) -> [Double]? {
        let length = s.length, hc = hiddenCount, g = gates, m = outputCount
        precondition(outputGradient.count == length * m && valueGradient.count == length && gradient.count >= parameterCount)
        var dInput = [Double](repeating: 0, count: inputGradient ? length * inputCount : 0)
        var dh = [Double](repeating: 0, count: hc), dhPrev = dh
        var dax = [Double](repeating: 0, count: g), dah = dax
        // Transposed weights: the gradient of a state or input is a sum of contiguous rows, each
        // element still summing its products in gate order.
        var wiT = [Double](repeating: 0, count: inputGradient ? g * inputCount : 0)
        var whT = [Double](repeating: 0, count: g * hc)
        for i in 0..<hc { for j in 0..<g { whT[j * hc + i] = params[weightHH + i * g + j] } }
        if inputGradient { for i in 0..<inputCount { for j in 0..<g { wiT[j * inputCount + i] = params[weightIH + i * g + j] } } }
        let ic = inputCount, hd = head, vo = value, hb = headBias, vb = valueBias, bi = biasIH, bh = biasHH, wi = weightIH, wh = weightHH
        // Raw pointers throughout (no bounds checks in the loops); the arithmetic and its order
        // are those of the plain loops.
        params.withUnsafeBufferPointer { pp in
        s.states.withUnsafeBufferPointer { states in
        s.r.withUnsafeBufferPointer { rs in
        s.z.withUnsafeBufferPointer { zs in
        s.n.withUnsafeBufferPointer { ns in
        s.hn.withUnsafeBufferPointer { hns in
        s.inputs.withUnsafeBufferPointer { xs in
        outputGradient.withUnsafeBufferPointer { og in
        valueGradient.withUnsafeBufferPointer { vg in
        whT.withUnsafeBufferPointer { whTp in
        wiT.withUnsafeBufferPointer { wiTp in
        dInput.withUnsafeMutableBufferPointer { dIn in
        dh.withUnsafeMutableBufferPointer { dhb in
        dhPrev.withUnsafeMutableBufferPointer { dhpb in
        dax.withUnsafeMutableBufferPointer { daxb in
        dah.withUnsafeMutableBufferPointer { dahb in
        gradient.withUnsafeMutableBufferPointer { gg in
            let p = pp.baseAddress!, gp = gg.baseAddress!, st = states.baseAddress!
            let dh = dhb.baseAddress!, dhPrev = dhpb.baseAddress!, dax = daxb.baseAddress!, dah = dahb.baseAddress!
            let whT = whTp.baseAddress!
            for t in stride(from: length - 1, through: 0, by: -1) {
                let hNew = t * hc + hc
                // Heads.
                for i in 0..<hc {
                    let hi = st[hNew + i]
                    var d = dh[i]
                    for j in 0..<m {
                        let dj = og[t * m + j]
                        gp[hd + i * m + j] += hi * dj
                        d += p[hd + i * m + j] * dj
                    }
                    gp[vo + i] += hi * vg[t]
                    d += p[vo + i] * vg[t]
                    dh[i] = d
                }
                for j in 0..<m { gp[hb + j] += og[t * m + j] }
                gp[vb] += vg[t]
                // The cell.
                let reset = s.resets[t]
                for j in 0..<hc {
                    let k = t * hc + j
                    let r = rs[k], z = zs[k], n = ns[k]
                    let hp = reset ? 0 : st[t * hc + j]
                    let dn = dh[j] * (1 - z), dz = dh[j] * (hp - n)
                    dhPrev[j] = dh[j] * z
                    let dan = dn * (1 - n * n)
                    let dr = dan * hns[k]
                    dax[2 * hc + j] = dan
                    dah[2 * hc + j] = dan * r
                    let dar = dr * r * (1 - r), daz = dz * z * (1 - z)
                    dax[j] = dar; dah[j] = dar
                    dax[hc + j] = daz; dah[hc + j] = daz
                }
                for j in 0..<g { gp[bi + j] += dax[j]; gp[bh + j] += dah[j] }
                for i in 0..<ic {
                    let xi = xs[t * ic + i], row = gp + wi + i * g
                    for j in 0..<g { row[j] += xi * dax[j] }
                }
                if !reset {
                    for i in 0..<hc {
                        let hi = st[t * hc + i], row = gp + wh + i * g
                        for j in 0..<g { row[j] += hi * dah[j] }
                    }
                }
                if inputGradient {
                    let wiT = wiTp.baseAddress!, dx = dIn.baseAddress! + t * ic
                    for j in 0..<g {
                        let dj = dax[j], w = wiT + j * ic
                        for i in 0..<ic { dx[i] += w[i] * dj }
                    }
                }
                let cut = reset || (truncation > 0 && t % truncation == 0)
                if cut {
                    for i in 0..<hc { dh[i] = 0 }
                } else {
                    for j in 0..<g {
                        let dj = dah[j], w = whT + j * hc
                        for i in 0..<hc { dhPrev[i] += w[i] * dj }
                    }
                    for i in 0..<hc { dh[i] = dhPrev[i] }
                }
            }
        }}}}}}}}}}}}}}}}}
        return inputGradient ? dInput : nil
    }
}
