import MetaSimCore

/// The summary table a batch (or a merge) prints: one row per unit.
enum BatchTable {
    static func render(_ results: [UnitResult]) -> String {
        var table = TextTable(["unit", "world", "task", "grid", "policy", "episodes", "mean return", "95% ci ±", "std",
                               "mean length", "ends"])
        for r in results {
            let s = UnitSummary(r)
            let parts = r.key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            table.add(["\(r.unit)", r.world, parts.count == 4 ? parts[1] : "", parts.count == 4 ? parts[2] : "", r.policy,
                       "\(s.episodes)", fmt(s.returnMean), fmt(s.returnHigh - s.returnMean), fmt(s.returnStd),
                       fmt(s.lengthMean, 1), s.ends.map { "\($0.reason) \($0.count)" }.joined(separator: ", ")])
        }
        return table.render()
    }
}
