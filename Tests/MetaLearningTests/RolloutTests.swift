import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// Episode collection, adaptation and meta-training are pure functions of their seeds, whatever
/// the thread count.
struct RolloutTests {
    func pointNavPolicy() throws -> (Policy, PolicyMath) {
        let arch = PolicyArchitecture(kind: .gaussian, observationCount: 2, actionCount: 2, hidden: [8, 8], initialLogStd: -1)
        let p = Policy(architecture: arch, seed: 3)
        return (p, PolicyMath(architecture: arch, normalizer: p.normalizer))
    }

    @Test func episodesAreIdenticalForAnyThreadCount() throws {
        let (policy, math) = try pointNavPolicy()
        let program = try Support.program("point-nav", taskSeed: 1)
        let params = policy.parameters.map { Double($0) }
        let one = try Sampler(program: program, threads: 1).collect(math: math, params: params, count: 6, seed: 42)
        let three = try Sampler(program: program, threads: 3).collect(math: math, params: params, count: 6, seed: 42)
        #expect(one.observations == three.observations)
        #expect(one.actions == three.actions)
        #expect(one.rewards == three.rewards)
        #expect(one.lengths == [Int](repeating: 100, count: 6))
        let other = try Sampler(program: program, threads: 1).collect(math: math, params: params, count: 6, seed: 43)
        #expect(other.actions != one.actions)
    }

    @Test func pointNavRewardIsMinusTheDistanceToTheGoal() throws {
        let (policy, math) = try pointNavPolicy()
        let program = try Support.program("point-nav", taskSeed: 2)
        let e = try Sampler(program: program).collect(math: math, params: policy.parameters.map { Double($0) }, count: 1, seed: 1)
        // The observation before step t + 1 is the position after step t.
        let gx = program.task["goal_x"]!, gy = program.task["goal_y"]!
        let x = e.observations[2], y = e.observations[3]
        let d = ((x - gx) * (x - gx) + (y - gy) * (y - gy)).squareRoot()
        #expect(abs(e.rewards[0] + d) < 1e-5)
    }

    @Test func episodesEndAtTerminationInAWorldThatTerminates() throws {
        let d = try Support.definition("cartpole")
        let program = try WorldProgram(definition: d, task: d.nominalTask())
        let specs = program.specs
        let arch = PolicyArchitecture(specs: specs, hidden: [4])
        let p = Policy(architecture: arch, seed: 1)
        let e = try Sampler(program: program).collect(math: PolicyMath(architecture: arch, normalizer: p.normalizer),
                                                      params: p.parameters.map { Double($0) }, count: 4, seed: 5)
        #expect(e.lengths.allSatisfy { $0 > 0 && $0 < e.horizon })
        #expect(e.terminated.allSatisfy { $0 })
        for (i, len) in e.lengths.enumerated() { #expect(e.rewards[(i * e.horizon + len)..<((i + 1) * e.horizon)].allSatisfy { $0 == 0 }) }
    }

    @Test(arguments: [MetaAlgorithm.maml, .fomaml, .reptile, .multitask])
    func metaTrainingIsIdenticalForAnyThreadCount(algorithm: MetaAlgorithm) throws {
        let d = try Support.definition("point-nav")
        func train(threads: Int) throws -> Policy {
            let config = MetaTrainingConfig(algorithm: algorithm, iterations: 2, metaBatch: 3,
                                            inner: InnerLoop(steps: 1, episodes: 3), hidden: [8], normalizeObservations: true,
                                            seed: 9, threads: threads)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            return try MetaTrainer(definition: d, config: config).train(logger: logger)
        }
        let a = try train(threads: 1), b = try train(threads: 3)
        #expect(a == b)
        let fresh = Policy(architecture: a.architecture, seed: 0)
        #expect(a.parameters != fresh.parameters)
    }

    /// `--horizon`: training truncates episodes at the configured length, records it in the
    /// checkpoint's hyperparameters, and leaves the JSON unchanged when it is not set.
    @Test func horizonOverrideTruncatesEpisodesAndIsRecorded() throws {
        let d = try Support.definition("point-nav")
        let config = MetaTrainingConfig(algorithm: .multitask, iterations: 1, metaBatch: 2,
                                        inner: InnerLoop(steps: 1, episodes: 2), hidden: [4], seed: 3, horizon: 7)
        let trainer = try MetaTrainer(definition: d, config: config)
        #expect(trainer.definition.episode.horizon == 7)
        #expect(d.episode.horizon == 100)
        let program = try WorldProgram(definition: d.withHorizon(7), task: d.sampleTask(seed: 1))
        let policy = Policy(architecture: trainer.architecture, seed: 1)
        let e = try Sampler(program: program).collect(math: PolicyMath(architecture: policy.architecture, normalizer: policy.normalizer),
                                                      params: policy.parameters.map { Double($0) }, count: 3, seed: 2)
        #expect(e.horizon == 7 && e.lengths == [7, 7, 7])
        let meta = CheckpointMetadata(definition: d, specs: try WorldProgram(definition: d, task: d.nominalTask()).specs, algorithm: "multitask",
                                      hyperparameters: Checkpoint.json(config), trainingSeed: 3, metasimVersion: "test")
        #expect(meta.trainingHorizon == 7)
        #expect(meta.trainingConfig == config)
        var unset = config
        unset.horizon = nil
        #expect(!Checkpoint.json(unset).contains("horizon"))
        #expect(d.withHorizon(nil).episode.horizon == 100)
    }

    @Test func trainingTaskSeedsStayInTheTrainingRange() throws {
        let d = try Support.definition("point-nav")
        let t = try MetaTrainer(definition: d, config: MetaTrainingConfig(algorithm: .maml, metaBatch: 50))
        for i in 0..<5 { #expect(t.taskSeeds(iteration: i).allSatisfy { TaskSeeds.training.contains($0) }) }
        #expect(!TaskSeeds.training.overlaps(TaskSeeds.evaluation))
    }

    @Test func evaluationRefusesTrainingTaskSeeds() throws {
        let d = try Support.definition("point-nav")
        #expect(throws: EvaluationError.self) {
            try Evaluator(definition: d, inner: InnerLoop(), taskSeeds: [TaskSeeds.evaluation.lowerBound, 17], seed: 0, threads: 1)
        }
    }

    /// The straight-line oracle is optimal: it beats a fresh policy by a wide margin.
    @Test func pointNavOracleBeatsAFreshPolicy() throws {
        let program = try Support.program("point-nav", taskSeed: TaskSeeds.evaluation.lowerBound)
        let specs = program.specs
        let oracle = try #require(Oracle.pointNav(program: program, specs: specs))
        let best = try Oracle.meanReturn(program: program, policy: oracle, count: 2, seed: 0)
        let (policy, math) = try pointNavPolicy()
        let e = try Sampler(program: program).collect(math: math, params: policy.parameters.map { Double($0) }, count: 2, seed: 0)
        #expect(best > e.meanReturn + 5)
        // Each step moves at most 0.1 per axis from the origin towards a goal in [-0.5, 0.5]^2.
        #expect(best < 0 && best > -10)
    }

    /// A short adaptation on fixed seeds measurably improves the return of a point-nav policy.
    @Test func adaptationImprovesPointNavReturn() throws {
        let (policy, _) = try pointNavPolicy()
        let program = try Support.program("point-nav", taskSeed: TaskSeeds.evaluation.lowerBound + 3)
        let (adapted, a) = try policy.adapted(to: program, inner: InnerLoop(steps: 3, episodes: 10, learningRate: 0.1),
                                              seed: 1, evaluate: true)
        #expect(a.returns.count == 4)
        #expect(a.returns[3] > a.returns[0] + 5)
        #expect(adapted.parameters != policy.parameters)
    }
}

/// Gaussian policies act in units of the action bounds.
struct ActionScalingTests {
    @Test func pointNavPolicyUnitIsTheActionBound() throws {
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let arch = PolicyArchitecture(specs: specs)
        #expect(arch.actionScale.map { Float($0) } == [0.1, 0.1])
        #expect(arch.actionOffset == [0, 0])
        #expect(abs(arch.worldAction(-0.5, component: 1) + 0.05) < 1e-9)
        let raw = PolicyArchitecture(specs: specs, scaledActions: false)
        #expect(raw.worldAction(-0.5, component: 1) == -0.5)
    }
}

/// The held-out evaluation end to end, on a tiny budget.
struct EvaluatorTests {
    @Test func reportHasEveryMethodStepAndTheOracleAndIsReproducible() throws {
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let arch = PolicyArchitecture(specs: specs, hidden: [4])
        let seeds = [TaskSeeds.evaluation.lowerBound, TaskSeeds.evaluation.lowerBound + 1, TaskSeeds.evaluation.lowerBound + 2]
        func run(threads: Int) throws -> EvaluationReport {
            let e = try Evaluator(definition: d, inner: InnerLoop(steps: 1, episodes: 2), taskSeeds: seeds, seed: 3, threads: threads)
            return try e.run(methods: [.init(name: "a", policy: Policy(architecture: arch, seed: 1)),
                                       .init(name: "b", policy: Policy(architecture: arch, seed: 2))], scratch: arch)
        }
        let r = try run(threads: 1)
        #expect(r.methods.map(\.name) == ["a", "b", "scratch"])
        #expect(r.methods.allSatisfy { $0.returns.count == 2 && $0.perTask.count == 3 })
        #expect(r.deterministic.count == 3)
        let oracle = try #require(r.oracle)
        #expect(r.methods.allSatisfy { $0.returns[0].mean < oracle.returns[0].mean })
        let gap = try #require(r.gapClosed(method: "a", reference: "b"))
        #expect(gap.count == 2)
        let again = try run(threads: 2)
        #expect(again.methods.map(\.perTask) == r.methods.map(\.perTask))
    }
}

/// The gap-closed ratio and the paired differences of a report, on hand-made per-task returns.
struct GapClosedTests {
    func report(oracle: [Double]) -> EvaluationReport {
        func result(_ name: String, _ perTask: [[Double]]) -> EvaluationReport.MethodResult {
            .init(name: name, returns: (0..<perTask[0].count).map { k in Interval(samples: perTask.map { $0[k] }) }, perTask: perTask)
        }
        return EvaluationReport(world: "w", taskSeeds: [1, 2, 3], inner: InnerLoop(steps: 1), horizon: nil, seed: 0,
                                methods: [result("maml", [[0, 5], [1, 7], [2, 8]]), result("multitask", [[1, 2], [2, 3], [3, 3]])],
                                oracle: result("oracle", oracle.map { [$0] }))
    }

    @Test("gap closed is (R_k − R_ref,0) / (R_oracle − R_ref,0), and undefined when the oracle is not measurably above the reference")
    func gapClosed() throws {
        // Reference before adapting: 1, 2, 3 (mean 2); oracle 11, 12, 13: a gap of 10 on every task.
        let r = report(oracle: [11, 12, 13])
        let size = try #require(r.oracleGap(reference: "multitask"))
        #expect(size.mean == 10 && size.low == 10 && size.high == 10)
        let gap = try #require(r.gapClosed(method: "maml", reference: "multitask"))
        #expect(abs(gap[0].mean - (-1.0 / 10)) < 1e-12)   // (1 − 2) / 10
        #expect(abs(gap[1].mean - (14.0 / 3 / 10)) < 1e-12) // (20/3 − 2) / 10
        let reference = try #require(r.gapClosed(method: "multitask", reference: "multitask"))
        #expect(reference[0].mean == 0)
        // An oracle no better than the reference leaves no gap: no ratio, and the gap says so.
        let worse = report(oracle: [1, 2, 2.5])
        #expect(try #require(worse.oracleGap(reference: "multitask")).mean < 0)
        #expect(worse.gapClosed(method: "maml", reference: "multitask") == nil)
        // Better on average but not measurably (per-task gaps 2, −1, 0.5: the interval spans 0).
        let noisy = report(oracle: [3, 1, 3.5])
        let small = try #require(noisy.oracleGap(reference: "multitask"))
        #expect(small.mean > 0 && small.low < 0)
        #expect(noisy.gapClosed(method: "maml", reference: "multitask") == nil)
    }

    @Test("the paired difference is the per-task difference at each step, with a Student-t interval")
    func pairedDifference() throws {
        let d = try #require(report(oracle: [11, 12, 13]).pairedDifference(method: "maml", other: "multitask"))
        // Per task: step 0 −1, −1, −1; step 1 3, 4, 5.
        #expect(d[0] == Interval(samples: [-1, -1, -1]) && d[0].mean == -1)
        #expect(d[1] == Interval(samples: [3, 4, 5]) && d[1].mean == 4 && d[1].low > 0)
        #expect(report(oracle: [1, 2, 3]).pairedDifference(method: "maml", other: "nobody") == nil)
    }
}
