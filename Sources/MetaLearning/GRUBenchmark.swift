import Foundation
import MetaSimCore

/// Throughput of the GRU's hand-written passes (`metasim bench-gru`), beside the feed-forward
/// MLP's at the same width: samples (time steps or rows) per second on one thread.
public enum GRUBenchmark {
    public struct Row: Sendable, Codable {
        public var name: String
        public var samplesPerSecond: Double
    }

    /// Each figure runs its pass repeatedly for about `seconds` (after one warm-up pass): acting
    /// steps for batches of 1 and 64, a sequence forward pass and BPTT over `sequence` steps, and
    /// the MLP's forward and backward over `sequence` rows.
    public static func run(inputs: Int, hidden: Int, outputs: Int, sequence: Int, seconds: Double) -> [Row] {
        let g = GRUNetwork(inputCount: inputs, hiddenCount: hidden, outputCount: outputs)
        let params = g.initialParameters(seed: 1)
        var rng = SeededGenerator(seed: 2)
        let x = (0..<(sequence * inputs)).map { _ in rng.uniform(-1, 1) }
        var resets = [Bool](repeating: false, count: sequence)
        resets[0] = true
        var rows: [Row] = []
        for batch in [1, 64] {
            let input = Array(x[0..<(batch * inputs)])
            var h = [Double](repeating: 0, count: batch * hidden)
            rows.append(Row(name: "GRU \(hidden) step (acting), batch \(batch)",
                            samplesPerSecond: rate(samples: batch, seconds: seconds) { _ = g.step(params, input: input, hidden: &h, batch: batch) }))
        }
        let s = g.forward(params, inputs: x, resets: resets, length: sequence)
        rows.append(Row(name: "GRU \(hidden) forward, sequence of \(sequence)",
                        samplesPerSecond: rate(samples: sequence, seconds: seconds) { _ = g.forward(params, inputs: x, resets: resets, length: sequence) }))
        let up = [Double](repeating: 0.01, count: sequence * outputs), upV = [Double](repeating: 0.01, count: sequence)
        var grad = [Double](repeating: 0, count: g.parameterCount)
        rows.append(Row(name: "GRU \(hidden) backward (BPTT), sequence of \(sequence)",
                        samplesPerSecond: rate(samples: sequence, seconds: seconds) {
                            g.backward(params, sequence: s, outputGradient: up, valueGradient: upV, gradient: &grad)
                        }))
        let mlp = MLP(sizes: [inputs, hidden, hidden, outputs])
        let mp = mlp.initialParameters(seed: 1)
        var cache = MLP.Cache()
        rows.append(Row(name: "MLP \(hidden),\(hidden) forward, batch of \(sequence)",
                        samplesPerSecond: rate(samples: sequence, seconds: seconds) { mlp.forward(mp, input: x, batch: sequence, cache: &cache) }))
        var mg = [Double](repeating: 0, count: mlp.parameterCount)
        rows.append(Row(name: "MLP \(hidden),\(hidden) backward, batch of \(sequence)",
                        samplesPerSecond: rate(samples: sequence, seconds: seconds) {
                            mlp.backward(mp, cache: cache, outputGradient: up, gradient: &mg)
                        }))
        return rows
    }

    static func rate(samples: Int, seconds: Double, _ body: () -> Void) -> Double {
        body()
        let start = ContinuousClock.now
        var n = 0
        while true {
            body()
            n += 1
            let t = start.secondsAgo
            if t >= seconds { return Double(n * samples) / t }
        }
    }
}
