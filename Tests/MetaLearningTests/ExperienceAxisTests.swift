import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// Every method against episodes of experience of the held-out task (`metasim evaluate
/// --memory`): a memory-based policy's return is its trials' episode e, a gradient method's is
/// its return after ⌊e / episodes-per-step⌋ inner steps.
@Suite("Return against episodes of experience")
struct ExperienceAxisTests {
    static let result = FamilyRoleTests.result

    /// 3 tasks; MAML 2 inner steps of 3 episodes; a memory policy over trials of 7 episodes.
    static func report() -> EvaluationReport {
        var r = EvaluationReport(world: "w", taskSeeds: [1, 2, 3], inner: InnerLoop(steps: 2, episodes: 3), horizon: nil, seed: 0,
                                 methods: [result("maml", [[0, 5, 8], [1, 6, 9], [2, 7, 10]]),
                                           result("multitask", [[0, 1, 2], [1, 2, 3], [2, 3, 4]])])
        r.oracle = result("oracle", [[10], [11], [12]])
        r.memory = [result("rl2", [[3, 9, 9, 9, 9, 9, 9], [4, 10, 10, 10, 10, 10, 10], [5, 8, 11, 11, 11, 11, 11]])]
        r.experiencePoints = [0, 1, 3, 6]
        return r
    }

    @Test("a gradient method's return steps up once a step's episodes are all in; a memory method's is its trial's episode e")
    func mapping() throws {
        let r = Self.report()
        // Steps of 3 episodes: after 0–2 episodes θ_0, after 3–5 θ_1, after 6–8 θ_2.
        #expect(r.perTaskByExperience(method: "maml", points: [0, 2, 3, 5, 6, 8]) == [[0, 0, 5, 5, 8, 8], [1, 1, 6, 6, 9, 9], [2, 2, 7, 7, 10, 10]])
        #expect(r.perTaskByExperience(method: "rl2", points: [0, 1, 2, 6]) == [[3, 9, 9, 9], [4, 10, 10, 10], [5, 8, 11, 11]])
        // Beyond what was run: θ_3 (9 episodes) was not evaluated; the trials have 7 episodes.
        #expect(r.perTaskByExperience(method: "maml", points: [9]) == nil)
        #expect(r.perTaskByExperience(method: "rl2", points: [7]) == nil)
        #expect(r.perTaskByExperience(method: "nobody", points: [0]) == nil)
        #expect(r.experienceMethods(points: [0, 1, 3, 6]) == ["rl2", "maml", "multitask"])
        #expect(r.experienceMethods(points: [0, 7]) == ["maml", "multitask"], "the memory policy's trials end before 7")
        let means = try #require(r.byExperience(method: "rl2", points: [0, 1]))
        #expect(means.map(\.mean) == [4, 9])
        // Paired per task: rl2 − maml after 1 episode: 9−0, 10−1, 8−2.
        let d = try #require(r.pairedByExperience(method: "rl2", other: "maml", points: [1, 3]))
        #expect(d[0].mean == 8 && d[1].mean == (4 + 4 + 4) / 3.0)
        // rl2 after 1 and 6 episodes − MAML after its 2 steps: 9−8, 10−9, 8−10; 9−8, 10−9, 11−10.
        let adapted = try #require(r.pairedAgainstAdapted(memory: "rl2", method: "maml", points: [1, 6]))
        #expect(adapted.map(\.mean) == [0, 1])
        // Deterministic tables are their own: none here for the memory policy.
        #expect(r.perTaskByExperience(method: "rl2", points: [0], deterministic: true) == nil)
    }

    @Test("the share of the gap closed is Σ(method − multitask before) / Σ(oracle − multitask before), per point")
    func gapClosed() throws {
        let r = Self.report()
        // Multitask before adapting: 0, 1, 2; oracle 10, 11, 12: gap 10 per task.
        let g = try #require(r.gapClosedByExperience(method: "rl2", reference: "multitask", points: [0, 1, 6]))
        #expect(abs(g[0].mean - (3 + 3 + 3) / 30.0) < 1e-12)
        #expect(abs(g[1].mean - (9 + 9 + 6) / 30.0) < 1e-12)
        #expect(abs(g[2].mean - (9 + 9 + 9) / 30.0) < 1e-12)
        // It agrees with the per-step share for a gradient method at whole steps.
        let steps = try #require(r.gapClosed(method: "maml", reference: "multitask"))
        let byExperience = try #require(r.gapClosedByExperience(method: "maml", reference: "multitask", points: [0, 3, 6]))
        #expect(byExperience.map(\.mean) == steps.map(\.mean))
        // No gap above 0: nothing to close.
        var flat = r
        flat.oracle = Self.result("oracle", [[0], [1], [2]])
        #expect(flat.gapClosedByExperience(method: "rl2", reference: "multitask", points: [0]) == nil)
    }

    @Test("the memory fields round-trip through JSON and old reports without them still load")
    func codable() throws {
        let r = Self.report()
        let back = try JSONDecoder().decode(EvaluationReport.self, from: JSONEncoder().encode(r))
        #expect(back.memory?.map(\.perTask) == r.memory?.map(\.perTask))
        #expect(back.experiencePoints == [0, 1, 3, 6])
        var old = r
        old.memory = nil
        old.experiencePoints = nil
        let json = String(decoding: try JSONEncoder().encode(old), as: UTF8.self)
        #expect(!json.contains("memory") && !json.contains("experiencePoints"))
        #expect(try JSONDecoder().decode(EvaluationReport.self, from: Data(json.utf8)).memory == nil)
    }

    @Test("a memory policy's evaluation is its adaptation's trials, the same for any thread count")
    func runMemory() throws {
        let c = try RecurrentLearnerTests.train(RecurrentLearnerTests.config(threads: 1))
        let definition = try Support.definition("point-nav").withHorizon(12)
        let seeds: [UInt64] = [1_000_000_000, 1_000_000_001]
        let method = Evaluator.Method(name: "rl2", policy: c.policy)
        func run(threads: Int) throws -> (sampled: [EvaluationReport.MethodResult], deterministic: [EvaluationReport.MethodResult]) {
            try Evaluator(definition: definition, inner: InnerLoop(steps: 1, episodes: 4), taskSeeds: seeds, seed: 7, threads: threads)
                .runMemory(methods: [method], maxExperience: 3, trials: 2)
        }
        let one = try run(threads: 1), two = try run(threads: 2)
        #expect(one.sampled.map(\.perTask) == two.sampled.map(\.perTask))
        #expect(one.deterministic.map(\.perTask) == two.deterministic.map(\.perTask))
        #expect(one.sampled[0].perTask.map(\.count) == [4, 4], "episodes after 0…3 episodes of experience")
        // Task 2's row is RecurrentLearner.adapt's rounds on that task with the evaluator's seed.
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: seeds[1]))
        let a = try AdaptationRunner(policy: c.policy).run(on: program, AdaptationRequest(inner: InnerLoop(steps: 3, episodes: 2), seed: SplitMix64.mix(7, seeds[1], 0x3E3),
                                                                                         evaluateFinal: true, deterministicEpisodes: 2))
        #expect(one.sampled[0].perTask[1] == a.returns)
        #expect(one.deterministic[0].perTask[1] == a.deterministicReturns)
        #expect(one.sampled[0].perTask[0] != one.sampled[0].perTask[1], "another task, other returns")
    }
}
