/// The value baseline of MAML's reference code (rllab's LinearFeatureBaseline): a ridge
/// regression of discounted returns-to-go on features [o, o², t/100, (t/100)², (t/100)³, 1]
/// (observations clipped to ±10), fitted per task on the episodes it then scores.
public struct LinearFeatureBaseline: Sendable {
    public private(set) var coefficients: [Double] = []
    public var regularization = 1e-5

    public init() {}

    static func features(_ episodes: Episodes, row: Int, t: Int, into f: inout [Double]) {
        let n = episodes.observationCount
        for k in 0..<n {
            let o = min(max(episodes.observations[row * n + k], -10), 10)
            f[k] = o
            f[n + k] = o * o
        }
        let al = Double(t) / 100
        f[2 * n] = al; f[2 * n + 1] = al * al; f[2 * n + 2] = al * al * al; f[2 * n + 3] = 1
    }

    /// Fits the coefficients to the episodes' discounted returns-to-go.
    public mutating func fit(_ episodes: Episodes, returnsToGo: [Double]) {
        let d = 2 * episodes.observationCount + 4
        var xtx = [Double](repeating: 0, count: d * d), xty = [Double](repeating: 0, count: d)
        var f = [Double](repeating: 0, count: d)
        for e in 0..<episodes.count {
            for t in 0..<episodes.lengths[e] {
                let row = e * episodes.horizon + t
                Self.features(episodes, row: row, t: t, into: &f)
                let y = returnsToGo[row]
                for i in 0..<d {
                    xty[i] += f[i] * y
                    for j in 0..<d { xtx[i * d + j] += f[i] * f[j] }
                }
            }
        }
        var reg = regularization
        for _ in 0..<6 {
            var a = xtx
            for i in 0..<d { a[i * d + i] += reg }
            if let solution = Self.choleskySolve(a, xty, d), solution.allSatisfy(\.isFinite) {
                coefficients = solution
                return
            }
            reg *= 10
        }
        coefficients = [Double](repeating: 0, count: d)
    }

    /// Predicted value of every row (count × horizon; 0 past the end).
    public func predict(_ episodes: Episodes) -> [Double] {
        var out = [Double](repeating: 0, count: episodes.count * episodes.horizon)
        guard !coefficients.isEmpty else { return out }
        var f = [Double](repeating: 0, count: coefficients.count)
        for e in 0..<episodes.count {
            for t in 0..<episodes.lengths[e] {
                let row = e * episodes.horizon + t
                Self.features(episodes, row: row, t: t, into: &f)
                var v = 0.0
                for i in 0..<f.count { v += f[i] * coefficients[i] }
                out[row] = v
            }
        }
        return out
    }

    /// Solves A x = b for symmetric positive definite A (d × d), or nil if A is not.
    static func choleskySolve(_ a: [Double], _ b: [Double], _ d: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var s = a[i * d + j]
                for k in 0..<j { s -= l[i * d + k] * l[j * d + k] }
                if i == j {
                    guard s > 0 else { return nil }
                    l[i * d + i] = s.squareRoot()
                } else {
                    l[i * d + j] = s / l[j * d + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: d)
        for i in 0..<d {
            var s = b[i]
            for k in 0..<i { s -= l[i * d + k] * y[k] }
            y[i] = s / l[i * d + i]
        }
        var x = [Double](repeating: 0, count: d)
        for i in stride(from: d - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<d { s -= l[k * d + i] * x[k] }
            x[i] = s / l[i * d + i]
        }
        return x
    }
}
