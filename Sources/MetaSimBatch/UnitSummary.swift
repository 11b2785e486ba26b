import Foundation

/// Per-unit statistics of a batch: return (mean, sample std, 95 % confidence interval of the
/// mean by Student's t), length, and how episodes ended.
public struct UnitSummary: Sendable, Equatable {
    public let unit: Int
    public let key: String
    public let world: String
    public let taskSeed: UInt64?
    public let policy: String
    public let adaptSteps: Int?
    public let episodes: Int
    public let returnMean: Double
    public let returnStd: Double
    public let returnLow: Double
    public let returnHigh: Double
    public let returnMin: Double
    public let returnMax: Double
    public let lengthMean: Double
    public let lengthStd: Double
    /// End reasons and their counts, sorted by reason.
    public let ends: [(reason: String, count: Int)]
    /// Adapted checkpoint policies: mean return of the adaptation's episodes after 0 … S steps.
    public let adaptReturns: [Double]?

    public init(_ r: UnitResult) {
        unit = r.unit
        key = r.key
        world = r.world
        taskSeed = r.taskSeed
        policy = r.policy
        adaptSteps = r.adaptSteps
        episodes = r.episodes.count
        let returns = r.episodes.map(\.episodeReturn)
        (returnMean, returnStd) = Self.meanStd(returns)
        let half = returns.count > 1 ? Self.tQuantile975(df: returns.count - 1) * returnStd / Double(returns.count).squareRoot() : 0
        returnLow = returnMean - half
        returnHigh = returnMean + half
        returnMin = returns.min() ?? 0
        returnMax = returns.max() ?? 0
        (lengthMean, lengthStd) = Self.meanStd(r.episodes.map { Double($0.length) })
        var counts: [String: Int] = [:]
        for e in r.episodes { counts[e.end, default: 0] += 1 }
        ends = counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        adaptReturns = r.adaptReturns
    }

    public static func == (a: UnitSummary, b: UnitSummary) -> Bool {
        a.csvRow == b.csvRow
    }

    /// Mean and sample standard deviation, summed in order (so the same values give the same bits).
    static func meanStd(_ xs: [Double]) -> (Double, Double) {
        guard !xs.isEmpty else { return (0, 0) }
        let n = Double(xs.count)
        let m = xs.reduce(0, +) / n
        guard xs.count > 1 else { return (m, 0) }
        return (m, (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot())
    }

    /// The 0.975 quantile of Student's t with `df` degrees of freedom: exact table to 30, then
    /// the Cornish-Fisher expansion around the normal quantile (error below 1e-4).
    static func tQuantile975(df: Int) -> Double {
        let table: [Double] = [12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
                               2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
                               2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
                               2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272]
        if df >= 1, df <= table.count { return table[df - 1] }
        let z = 1.959963984540054, n = Double(max(df, 1))
        let z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
            + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * n * n * n)
    }

    public static let csvHeader = "unit,key,world,task_seed,policy,adapt_steps,episodes,return_mean,return_std,return_ci95_low,return_ci95_high,return_min,return_max,length_mean,length_std,ends,adapt_returns"

    /// One row of `summary.csv` (numbers printed so that they read back exactly).
    public var csvRow: String {
        let fields: [String] = [
            "\(unit)", key, world, taskSeed.map { "\($0)" } ?? "", policy, adaptSteps.map { "\($0)" } ?? "", "\(episodes)",
            "\(returnMean)", "\(returnStd)", "\(returnLow)", "\(returnHigh)", "\(returnMin)", "\(returnMax)",
            "\(lengthMean)", "\(lengthStd)", ends.map { "\($0.reason)=\($0.count)" }.joined(separator: " "),
            adaptReturns.map { $0.map { "\($0)" }.joined(separator: " ") } ?? "",
        ]
        return fields.map(Self.csvField).joined(separator: ",")
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
