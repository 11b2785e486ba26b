import Foundation

/// Running mean and variance of observations (Chan et al.'s parallel merge, in Double), applied
/// as `clip((x - mean) / sqrt(var + 1e-8), -clip, clip)`. Training updates it between
/// iterations; adaptation and acting use it frozen, as stored in the checkpoint.
public struct ObservationNormalizer: Sendable, Equatable {
    public var enabled: Bool
    public var mean: [Double]
    public var variance: [Double]
    public var count: Double
    public var clip: Double = 10

    public init(size: Int, enabled: Bool) {
        self.enabled = enabled
        mean = [Double](repeating: 0, count: size)
        variance = [Double](repeating: 1, count: size)
        count = 0
    }

    /// Merges a batch of `rows` observations (rows × size, row-major) into the statistics.
    public mutating func update(_ batch: [Double], rows: Int) {
        guard enabled, rows > 0 else { return }
        let size = mean.count
        var bMean = [Double](repeating: 0, count: size), bVar = [Double](repeating: 0, count: size)
        for r in 0..<rows { for i in 0..<size { bMean[i] += batch[r * size + i] } }
        for i in 0..<size { bMean[i] /= Double(rows) }
        for r in 0..<rows { for i in 0..<size { let d = batch[r * size + i] - bMean[i]; bVar[i] += d * d } }
        for i in 0..<size { bVar[i] /= Double(rows) }
        let n = count, m = Double(rows), total = n + m
        for i in 0..<size {
            let delta = bMean[i] - mean[i]
            let m2 = (count == 0 ? 0 : variance[i] * n) + bVar[i] * m + delta * delta * n * m / total
            mean[i] += delta * m / total
            variance[i] = m2 / total
        }
        count = total
    }

    /// Normalizes a batch in place.
    public func apply(_ batch: inout [Double]) {
        guard enabled else { return }
        let size = mean.count
        guard size > 0 else { return }
        var scale = [Double](repeating: 1, count: size)
        for i in 0..<size { scale[i] = 1 / (variance[i] + 1e-8).squareRoot() }
        for k in 0..<batch.count {
            let i = k % size
            batch[k] = min(max((batch[k] - mean[i]) * scale[i], -clip), clip)
        }
    }
}
