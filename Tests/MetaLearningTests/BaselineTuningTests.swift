import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// The fair baseline (issue 29): the fine-tuned multi-task policy adapts at one inner rate chosen
/// by `metasim tune` on the meta-policy's validation tasks, and `evaluate` uses it; the report
/// counts the tasks on which each method beats a trained oracle.
struct BaselineTuningTests {
    static let multitaskConfig = MetaTrainingConfig(algorithm: .multitask, iterations: 2, metaBatch: 3,
                                                    inner: InnerLoop(steps: 1, episodes: 6, learningRate: 0.1),
                                                    outerLearningRate: 0.01, hidden: [8], seed: 11, threads: 2)

    static func multitask() throws -> (Checkpoint, WorldDefinition) {
        let d = try Support.definition("point-nav")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let policy = try MetaTrainer(definition: d, config: multitaskConfig).train(logger: logger)
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "multitask", hyperparameters: Checkpoint.json(multitaskConfig),
                                      trainingSeed: 11, metasimVersion: "test")
        return (Checkpoint(policy: policy, metadata: meta), d)
    }

    @Test("evaluate adapts a tuned baseline at its tuned rate, not at --inner-lr; an untuned one still at --inner-lr")
    func evaluateUsesTheTunedRate() throws {
        let (untuned, d) = try Self.multitask()
        #expect(untuned.policy.innerLearningRates.isEmpty)
        // What `metasim tune` writes: the rate for every step, and the record of the choice.
        var tuned = untuned
        tuned.policy.innerLearningRates = [0.4, 0.4, 0.4]
        tuned.metadata.laterRateTuning = LaterRateTuning(metaTrainedSteps: 0, steps: 3, episodes: 6, candidates: [0.1, 0.4], scores: [-30, -20],
                                                         leads: [Interval(mean: 0, low: 0, high: 0), Interval(mean: 10, low: 5, high: 15)],
                                                         chosen: 0.4, validationTaskSeeds: [900_000_000], seed: 0)
        let path = Support.temporaryPath("tuned-multitask.safetensors")
        try tuned.write(to: path)
        let loaded = try Checkpoint.load(path: path)
        #expect(loaded.policy.innerLearningRates == [0.4, 0.4, 0.4] && loaded.metadata.laterRateTuning?.metaTrainedSteps == 0)

        let seeds = (0..<4).map { TaskSeeds.evaluation.lowerBound + UInt64($0) }
        func curves(_ c: Checkpoint, innerLR: Double) throws -> [[Double]] {
            let evaluator = try Evaluator(definition: d, inner: InnerLoop(steps: 3, episodes: 6, learningRate: innerLR), taskSeeds: seeds, seed: 3, threads: 2)
            return try evaluator.run(methods: [try .baseline(c, name: "baseline")], scratch: nil).methods[0].perTask
        }
        let withTuned = try curves(loaded, innerLR: 0.1)
        let atInnerLR = try curves(untuned, innerLR: 0.1)
        let atTunedRate = try curves(untuned, innerLR: 0.4)
        #expect(withTuned == atTunedRate, "the tuned baseline adapts exactly as an adaptation at its tuned rate")
        #expect(withTuned != atInnerLR, "and not at --inner-lr")
        #expect(zip(withTuned, atInnerLR).allSatisfy { $0[0] == $1[0] }, "before adapting they are the same policy")
        // The same, one task adapted directly at the tuned rate.
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: seeds[2]))
        let direct = try AdaptationRunner(policy: untuned.policy).run(on: program, AdaptationRequest(
            inner: InnerLoop(steps: 3, episodes: 6, learningRate: 0.4), seed: SplitMix64.mix(3, seeds[2]), evaluateFinal: true, deterministicEpisodes: 6))
        #expect(direct.returns == withTuned[2])
        // --same-rates still overrides the tuned rate with the meta-policy's.
        var metaPolicy = untuned.policy
        metaPolicy.innerLearningRates = [0.1]
        #expect(try Evaluator.Method.baseline(loaded, name: "b", sameRatesAs: metaPolicy).policy.innerLearningRates == [0.1])
    }

    @Test("tune on a multi-task policy takes a candidate that clearly beats its current rate, for every step")
    func tuneEveryStepPicksTheBest() throws {
        let (c, d) = try Self.multitask()
        // Its current rate is 0: it does not adapt at all; 0.5 adapts.
        let inner = InnerLoop(steps: 3, episodes: 10, learningRate: 0)
        let tasks = LaterRateTuner.validationTaskSeeds(count: 10, excluding: try LaterRateTuner.trainingTaskSeeds(definition: d, config: Self.multitaskConfig))
        let (tuned, t) = try LaterRateTuner.tuneEveryStep(policy: c.policy, definition: d, inner: inner, candidates: [0.5], validationTasks: tasks, seed: 1, threads: 2)
        #expect(t.metaTrainedSteps == 0 && t.steps == 3 && t.candidates == [0, 0.5])
        #expect(t.scores[1] > t.scores[0] && t.leads[1].low > 0, "\(t.scores) \(t.leads)")
        #expect(t.chosen == 0.5)
        #expect(tuned.innerLearningRates == [0.5, 0.5, 0.5])
        #expect(tuned.parameters == c.policy.parameters)
        // Its score is the mean return after steps 1…3 at that rate for every step.
        let report = try Evaluator(definition: d, inner: InnerLoop(steps: 3, episodes: 10, learningRate: 0.5), validationTasks: tasks, seed: 1, threads: 1)
            .run(methods: [.init(name: "p", policy: c.policy)], scratch: nil)
        let r = report.methods[0].returns
        #expect(abs(t.scores[1] - (r[1].mean + r[2].mean + r[3].mean) / 3) < 1e-9)
        // An oracle is not tuned.
        var oracle = c.policy
        oracle.architecture.taskInputs = ["goal_x"]
        #expect(throws: LaterRateTuningError.self) {
            try LaterRateTuner.tuneEveryStep(policy: oracle, definition: d, inner: inner, candidates: [0.5], validationTasks: tasks, seed: 1, threads: 1)
        }
    }

    @Test("tune on a multi-task policy keeps its rate when the better-scoring candidate leads by noise")
    func tuneEveryStepKeepsTheRateOnNoise() throws {
        let (c, d) = try Self.multitask()
        let inner = InnerLoop(steps: 3, episodes: 6, learningRate: 0.1)
        let tasks = LaterRateTuner.validationTaskSeeds(count: 3, excluding: try LaterRateTuner.trainingTaskSeeds(definition: d, config: Self.multitaskConfig))
        let (tuned, t) = try LaterRateTuner.tuneEveryStep(policy: c.policy, definition: d, inner: inner, candidates: [0.09, 0.11],
                                                          validationTasks: tasks, seed: 5, threads: 2)
        let best = t.scores.indices.max { t.scores[$0] < t.scores[$1] }!
        // The case is one where a candidate scores higher, but not measurably so.
        #expect(best != 0 && t.scores[best] > t.scores[0], "\(t.scores)")
        #expect(t.leads[best].low <= 0, "\(t.leads)")
        #expect(t.chosen == 0.1)
        #expect(tuned.innerLearningRates == [0.1, 0.1, 0.1])
    }

    @Test("the baseline is tuned on the very validation tasks of the meta-policy's tuning; one it trained on is refused")
    func validationTasksAreTheMetaPolicys() throws {
        let (c, d) = try Self.multitask()
        let metaConfig = LaterRateTunerTests.config
        let metaTraining = try LaterRateTuner.trainingTaskSeeds(definition: d, config: metaConfig)
        let baselineTraining = try LaterRateTuner.trainingTaskSeeds(definition: d, config: Self.multitaskConfig)
        #expect(metaTraining.isDisjoint(with: baselineTraining))
        let (metaPolicy, _) = try LaterRateTunerTests.trained()
        let metaValidation = LaterRateTuner.validationTaskSeeds(count: 5, excluding: metaTraining)
        let (_, metaTuning) = try LaterRateTuner.tune(policy: metaPolicy, metaTrainedSteps: 1, definition: d, inner: InnerLoop(steps: 3, episodes: 4, learningRate: 0.3),
                                                      candidates: [0.05], validationTasks: metaValidation, seed: 9, threads: 2)
        let shared = try LaterRateTuner.sharedValidationTaskSeeds(metaTuning, excluding: baselineTraining)
        #expect(shared == metaTuning.validationTaskSeeds)
        // The other way (--skip-training-of on both tunings) gives the same set here.
        #expect(LaterRateTuner.validationTaskSeeds(count: 5, excluding: metaTraining.union(baselineTraining)) == shared)
        let (_, baselineTuning) = try LaterRateTuner.tuneEveryStep(policy: c.policy, definition: d, inner: InnerLoop(steps: 3, episodes: 4, learningRate: 0.1),
                                                                   candidates: [0.05], validationTasks: shared, seed: metaTuning.seed, threads: 2)
        #expect(Set(baselineTuning.validationTaskSeeds) == Set(metaTuning.validationTaskSeeds) && baselineTuning.seed == metaTuning.seed)

        // A meta-policy tuned on a task the baseline trained on: refused, naming it; skipping
        // both policies' training tasks avoids it.
        let collision = try #require(baselineTraining.min())
        var clashing = metaTuning
        clashing.validationTaskSeeds = LaterRateTuner.validationTaskSeeds(count: 3, first: collision, excluding: metaTraining)
        #expect(clashing.validationTaskSeeds.contains(collision))
        #expect(throws: LaterRateTuningError.sharedTaskTrainedOn(seed: collision)) {
            try LaterRateTuner.sharedValidationTaskSeeds(clashing, excluding: baselineTraining)
        }
        let both = LaterRateTuner.validationTaskSeeds(count: 3, first: collision, excluding: metaTraining.union(baselineTraining))
        clashing.validationTaskSeeds = both
        #expect(try LaterRateTuner.sharedValidationTaskSeeds(clashing, excluding: baselineTraining) == both)
    }

    @Test("the report counts the tasks on which each method is strictly above the trained oracle, after every step")
    func shareBeatingTheOracle() throws {
        func result(_ name: String, _ perTask: [[Double]]) -> EvaluationReport.MethodResult {
            .init(name: name, returns: (0..<perTask[0].count).map { k in Interval(samples: perTask.map { $0[k] }) }, perTask: perTask)
        }
        // Four tasks, two steps; the oracle scores 10, 20, 30, 40.
        var report = EvaluationReport(world: "w", taskSeeds: [1, 2, 3, 4], inner: InnerLoop(steps: 2, episodes: 1), horizon: nil, seed: 0,
                                      methods: [result("maml", [[5, 11, 12], [25, 19, 21], [0, 30, 31], [41, 42, 43]]),
                                                result("multitask", [[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]])])
        report.deterministic = [result("maml", [[11, 11, 11], [21, 21, 21], [31, 31, 31], [39, 39, 39]]),
                                result("multitask", [[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]])]
        #expect(report.beatingOracle(method: "maml") == nil, "no oracle, no count")
        report.oracle = result("oracle", [[10], [20], [30], [40]])
        let maml = try #require(report.beatingOracle(method: "maml"))
        // Step 0: 25 > 20 and 41 > 40; step 1: 11, 42 (30 = 30 is not above); step 2: 12, 21, 31, 43.
        #expect(maml.count == [2, 2, 4] && maml.tasks == 4 && maml.share == [0.5, 0.5, 1])
        #expect(report.beatingOracle(method: "multitask")?.count == [0, 0, 0])
        // Without a deterministic oracle, the deterministic table compares with the sampled one.
        #expect(report.beatingOracle(method: "maml", deterministic: true)?.count == [3, 3, 3])
        report.oracleDeterministic = result("oracle", [[12], [20], [30], [40]])
        #expect(report.beatingOracle(method: "maml", deterministic: true)?.count == [2, 2, 2])

        #expect(report.oracleSummary == nil)
        let summarized = report.withOracleSummary(reference: "multitask")
        let summary = try #require(summarized.oracleSummary)
        #expect(summary.reference == "multitask")
        #expect(summary.gap == report.oracleGap(reference: "multitask") && summary.gap?.mean == 22.5)
        #expect(summary.gapDeterministic == report.oracleGap(reference: "multitask", deterministic: true))
        #expect(summary.beating.count == 4)
        #expect(summary.beating.first { $0.method == "maml" && !$0.deterministic } == maml)
        // In the JSON when summarized, absent otherwise.
        let json = String(decoding: try JSONEncoder().encode(summarized), as: UTF8.self)
        #expect(json.contains("\"oracleSummary\""))
        #expect(!String(decoding: try JSONEncoder().encode(report), as: UTF8.self).contains("oracleSummary"))
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: Data(json.utf8))
        #expect(decoded.oracleSummary == summary)
    }
}
