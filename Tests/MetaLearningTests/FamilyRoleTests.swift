import Foundation
import Testing

@testable import MetaLearning

/// What a family's shipped evaluation says it shows (`EvaluationReport.FamilyRole`, the demo's
/// line per family): a meta-learning family only when the oracle leads the multi-task policy
/// with a 95% interval above 0 on every block of held-out tasks.
@Suite("Family roles from evaluation reports")
struct FamilyRoleTests {
    static func result(_ name: String, _ perTask: [[Double]]) -> EvaluationReport.MethodResult {
        .init(name: name, returns: (0..<perTask[0].count).map { k in Interval(samples: perTask.map { $0[k] }) }, perTask: perTask)
    }

    /// A 4-task report whose oracle scores `oracle` per task and the multi-task policy 0, 1, 2, 3.
    static func report(oracle: [Double], baselineName: String = "multitask") -> EvaluationReport {
        var r = EvaluationReport(world: "w", taskSeeds: [1, 2, 3, 4], inner: InnerLoop(steps: 1, episodes: 1), horizon: nil, seed: 0,
                                 methods: [result("maml", [[0, 5], [1, 6], [2, 7], [3, 8]]),
                                           result(baselineName, [[0, 0], [1, 1], [2, 2], [3, 3]])])
        r.oracle = result("oracle", oracle.map { [$0] })
        return r
    }

    @Test("a gap above 0 on every block is a meta-learning family; a gap of noise on one block makes a control")
    func roles() throws {
        let clear = Self.report(oracle: [10, 11.5, 12, 13.5])          // gaps 10, 10.5, 10, 10.5
        let noise = Self.report(oracle: [1, 0, 3, 2])                  // gaps 1, -1, 1, -1: mean 0
        let gap = try #require(clear.multitaskGap)
        #expect(gap.mean == 10.25 && gap.low > 0)
        #expect(EvaluationReport.FamilyRole(reports: [clear, clear]) == .metaLearning(gaps: [gap, gap]))
        let none = try #require(noise.multitaskGap)
        #expect(none.mean == 0 && none.low < 0)
        #expect(EvaluationReport.FamilyRole(reports: [clear, noise]) == .control(gaps: [gap, none]))
        // The evaluate command names the baseline "baseline" when it shares the meta-policy's algorithm.
        #expect(Self.report(oracle: [10, 11.5, 12, 13.5], baselineName: "baseline").multitaskGap == gap)
        // No oracle, or no baseline: no role.
        var noOracle = clear
        noOracle.oracle = nil
        #expect(EvaluationReport.FamilyRole(reports: [clear, noOracle]) == nil)
        #expect(EvaluationReport.FamilyRole(reports: []) == nil)
    }

    @Test("an evaluation file holds one report, or a list of them (evaluate --blocks)")
    func load() throws {
        let folder = NSTemporaryDirectory() + "family-role-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let one = Self.report(oracle: [10, 11.5, 12, 13.5])
        let two = [one, Self.report(oracle: [1, 0, 3, 2])]
        try JSONEncoder().encode(one).write(to: URL(fileURLWithPath: "\(folder)/one.json"))
        try JSONEncoder().encode(two).write(to: URL(fileURLWithPath: "\(folder)/two.json"))
        #expect(try EvaluationReport.load(contentsOfFile: "\(folder)/one.json").map(\.multitaskGap) == [one.multitaskGap])
        #expect(try EvaluationReport.load(contentsOfFile: "\(folder)/two.json").map(\.multitaskGap) == two.map(\.multitaskGap))
        try Data("{\"world\": 1}".utf8).write(to: URL(fileURLWithPath: "\(folder)/bad.json"))
        #expect(throws: (any Error).self) { try EvaluationReport.load(contentsOfFile: "\(folder)/bad.json") }
    }
}
