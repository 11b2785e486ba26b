import Foundation
import MetaSimCore

/// A mean with its 95% interval.
public struct Interval: Sendable, Codable, Equatable {
    public var mean: Double
    public var low: Double
    public var high: Double

    /// Student-t interval of the mean over independent samples.
    public init(samples xs: [Double]) {
        let n = Double(xs.count)
        mean = xs.reduce(0, +) / max(n, 1)
        guard xs.count > 1 else { low = mean; high = mean; return }
        let m = mean
        let s = (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot()
        let h = Self.t975(degrees: xs.count - 1) * s / n.squareRoot()
        low = mean - h
        high = mean + h
    }

    public init(mean: Double, low: Double, high: Double) {
        self.mean = mean
        self.low = low
        self.high = high
    }

    /// True when this interval lies entirely above `other`.
    public func above(_ other: Interval) -> Bool { low > other.high }

    /// The 97.5% quantile of Student's t (Cornish-Fisher expansion; within 1e-3 for df >= 5).
    static func t975(degrees df: Int) -> Double {
        let z = 1.959963984540054, d = Double(max(df, 1))
        let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z
        return z + (z3 + z) / (4 * d) + (5 * z5 + 16 * z3 + 3 * z) / (96 * d * d)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * d * d * d)
    }

    /// Percentile-bootstrap interval of a statistic of paired per-task samples (resampling tasks
    /// with a fixed seed, so the interval is reproducible).
    public static func bootstrap(count n: Int, resamples: Int = 2000, seed: UInt64 = 0,
                                 statistic: ([Int]) -> Double) -> Interval {
        let full = statistic(Array(0..<n))
        var rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
        var values: [Double] = []
        values.reserveCapacity(resamples)
        for _ in 0..<resamples {
            let idx = (0..<n).map { _ in rng.integer(0, n - 1) }
            let v = statistic(idx)
            if v.isFinite { values.append(v) }
        }
        values.sort()
        guard !values.isEmpty else { return Interval(mean: full, low: .nan, high: .nan) }
        let lo = values[Int(0.025 * Double(values.count - 1))], hi = values[Int(0.975 * Double(values.count - 1))]
        return Interval(mean: full, low: lo, high: hi)
    }
}
