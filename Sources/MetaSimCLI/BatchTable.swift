import MetaSimBatch

/// The summary table a batch (or a merge) prints: one row per unit.
enum BatchTable {
    static func render(_ results: [UnitResult]) -> String {
        let adapted = results.contains { $0.adaptReturns != nil }
        var table = TextTable(["unit", "world", "task", "grid", "policy", "episodes", "mean return", "95% ci ±", "std",
                               "mean length", "ends"] + (adapted ? ["adaptation return, step 0 → S"] : []))
        for r in results {
            let s = UnitSummary(r)
            let parts = r.key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            table.add(["\(r.unit)", r.world, parts.count == 4 ? parts[1] : "", parts.count == 4 ? parts[2] : "", r.policy,
                       "\(s.episodes)", fmt(s.returnMean), fmt(s.returnHigh - s.returnMean), fmt(s.returnStd),
                       fmt(s.lengthMean, 1), s.ends.map { "\($0.reason) \($0.count)" }.joined(separator: ", ")]
                      + (adapted ? [r.adaptReturns.map { "\(fmt($0[0])) → \(fmt($0[$0.count - 1]))" } ?? ""] : []))
        }
        return table.render()
    }
}
