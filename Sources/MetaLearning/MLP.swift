import Foundation
import MetaSimCore

/// A multilayer perceptron with tanh hidden layers and a linear output layer, over flat
/// parameters. Layer l maps `sizes[l]` inputs to `sizes[l + 1]` outputs as `y = x W + b`, with
/// `W` stored row-major as [inputs][outputs] followed by `b` [outputs]; layers follow each other
/// in the flat vector.
///
/// Forward and backward are hand-written over a batch and computed in Double (parameters are
/// converted once per call); every sum runs in a fixed order, so results are reproducible.
public struct MLP: Sendable, Equatable, Codable {
    public let sizes: [Int]

    public init(sizes: [Int]) {
        precondition(sizes.count >= 2 && sizes.allSatisfy { $0 > 0 }, "an MLP needs at least an input and an output size")
        self.sizes = sizes
    }

    public var inputCount: Int { sizes[0] }
    public var outputCount: Int { sizes[sizes.count - 1] }
    public var layerCount: Int { sizes.count - 1 }

    /// Offset of layer l's weights in the flat vector (its bias follows the weights).
    public func weightOffset(_ l: Int) -> Int {
        var o = 0
        for k in 0..<l { o += (sizes[k] + 1) * sizes[k + 1] }
        return o
    }

    public func biasOffset(_ l: Int) -> Int { weightOffset(l) + sizes[l] * sizes[l + 1] }

    public var parameterCount: Int { weightOffset(layerCount) }

    /// Glorot-uniform weights and zero biases; the output layer is scaled by `outputScale` so a
    /// new policy starts near its mean action.
    public func initialParameters(seed: UInt64, outputScale: Double = 0.01) -> [Double] {
        var rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
        var p = [Double](repeating: 0, count: parameterCount)
        for l in 0..<layerCount {
            let fanIn = sizes[l], fanOut = sizes[l + 1]
            let limit = (6.0 / Double(fanIn + fanOut)).squareRoot() * (l == layerCount - 1 ? outputScale : 1)
            let w = weightOffset(l)
            for k in 0..<(fanIn * fanOut) { p[w + k] = rng.uniform(-limit, limit) }
        }
        return p
    }

    /// Activations of one forward pass over a batch, kept for the backward pass.
    public struct Cache: Sendable {
        public var batch = 0
        /// activations[0] is the input, activations[l] the output of layer l (tanh for hidden
        /// layers, linear for the last).
        public var activations: [[Double]] = []
        public var output: [Double] { activations[activations.count - 1] }
        public init() {}
    }

    /// Forward pass over `batch` inputs (batch × inputCount, row-major). The network's parameters
    /// start at `offset` of `params`, which may hold more (a policy keeps its log-std after the
    /// network; a context policy holds two networks); the rest is unused.
    public func forward(_ params: [Double], offset: Int = 0, input: [Double], batch: Int, cache: inout Cache) {
        precondition(offset >= 0 && params.count >= offset + parameterCount && input.count == batch * inputCount)
        cache.batch = batch
        if cache.activations.count != sizes.count {
            cache.activations = sizes.map { [Double](repeating: 0, count: 0 * $0) }
        }
        cache.activations[0] = input
        params.withUnsafeBufferPointer { p in
            for l in 0..<layerCount {
                let n = sizes[l], m = sizes[l + 1]
                var y = [Double](repeating: 0, count: batch * m)
                let w = p.baseAddress! + offset + weightOffset(l), b = p.baseAddress! + offset + biasOffset(l)
                let hidden = l < layerCount - 1
                cache.activations[l].withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { y in
                        for r in 0..<batch {
                            let yr = y.baseAddress! + r * m, xr = x.baseAddress! + r * n
                            for j in 0..<m { yr[j] = b[j] }
                            for i in 0..<n {
                                let xi = xr[i], wi = w + i * m
                                for j in 0..<m { yr[j] += xi * wi[j] }
                            }
                            if hidden { for j in 0..<m { yr[j] = tanh(yr[j]) } }
                        }
                    }
                }
                cache.activations[l + 1] = y
            }
        }
    }

    /// Backward pass: adds d(loss)/d(params) to `gradient` given d(loss)/d(output) (batch ×
    /// outputCount) for the forward pass in `cache`, the network's parameters and their gradient
    /// both starting at `offset`. Returns d(loss)/d(input) if asked.
    @discardableResult
    public func backward(_ params: [Double], offset: Int = 0, cache: Cache, outputGradient: [Double], gradient: inout [Double],
                         inputGradient: Bool = false) -> [Double]? {
        let batch = cache.batch
        precondition(offset >= 0 && params.count >= offset + parameterCount && outputGradient.count == batch * outputCount
                     && gradient.count >= offset + parameterCount)
        var delta = outputGradient
        var dInput: [Double]?
        params.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                for l in stride(from: layerCount - 1, through: 0, by: -1) {
                    let n = sizes[l], m = sizes[l + 1]
                    let w = p.baseAddress! + offset + weightOffset(l)
                    let gw = g.baseAddress! + offset + weightOffset(l), gb = g.baseAddress! + offset + biasOffset(l)
                    let needPrevious = l > 0 || inputGradient
                    var previous = [Double](repeating: 0, count: needPrevious ? batch * n : 0)
                    // W transposed ([outputs][inputs]), so the input gradient of a row is a sum of
                    // contiguous vectors: each element still adds its m products in the order
                    // j = 0, 1, ..., m - 1 from 0 (the same bits as a dot product per input), but
                    // the n sums advance side by side instead of as n serial dependency chains.
                    var transposed = [Double](repeating: 0, count: needPrevious ? n * m : 0)
                    if needPrevious {
                        for i in 0..<n { for j in 0..<m { transposed[j * n + i] = w[i * m + j] } }
                    }
                    cache.activations[l].withUnsafeBufferPointer { x in
                        delta.withUnsafeBufferPointer { d in
                            previous.withUnsafeMutableBufferPointer { pd in
                                for r in 0..<batch {
                                    let dr = d.baseAddress! + r * m, xr = x.baseAddress! + r * n
                                    for j in 0..<m { gb[j] += dr[j] }
                                    for i in 0..<n {
                                        let xi = xr[i], gwi = gw + i * m
                                        for j in 0..<m { gwi[j] += xi * dr[j] }
                                    }
                                    guard needPrevious else { continue }
                                    let pr = pd.baseAddress! + r * n
                                    transposed.withUnsafeBufferPointer { wt in
                                        for j in 0..<m {
                                            let dj = dr[j], wj = wt.baseAddress! + j * n
                                            for i in 0..<n { pr[i] += wj[i] * dj }
                                        }
                                    }
                                    // Through the tanh of the layer below: 1 - tanh^2.
                                    if l > 0 { for i in 0..<n { pr[i] *= 1 - xr[i] * xr[i] } }
                                }
                            }
                        }
                    }
                    if l > 0 { delta = previous } else if inputGradient { dInput = previous }
                }
            }
        }
        return dInput
    }
}
