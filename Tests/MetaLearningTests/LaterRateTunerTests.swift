import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// `LaterRateTuner`: the rate of the inner steps past the meta-trained ones, chosen on validation
/// tasks of the training range that the policy did not train on.
struct LaterRateTunerTests {
    static let config = MetaTrainingConfig(algorithm: .maml, iterations: 2, metaBatch: 3, inner: InnerLoop(steps: 1, episodes: 6, learningRate: 0.3),
                                           outerLearningRate: 0.01, hidden: [8], learnInnerLearningRates: true, seed: 4, threads: 2)

    static func trained() throws -> (Policy, WorldDefinition) {
        let d = try Support.definition("point-nav")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return (try MetaTrainer(definition: d, config: config).train(logger: logger), d)
    }

    @Test("validation tasks are consecutive seeds of the training range that skip every training task")
    func validationTasksSkipTrainingTasks() throws {
        let f = LaterRateTuner.firstValidationSeed
        #expect(TaskSeeds.training.contains(f) && !TaskSeeds.evaluation.contains(f))
        #expect(LaterRateTuner.validationTaskSeeds(count: 3, excluding: [f, f + 2, 5]) == [f + 1, f + 3, f + 4])
        let d = try Support.definition("point-nav")
        let training = try LaterRateTuner.trainingTaskSeeds(definition: d, config: Self.config)
        let trainer = try MetaTrainer(definition: d, config: Self.config)
        #expect(training == Set(trainer.taskSeeds(iteration: 0) + trainer.taskSeeds(iteration: 1)))
        #expect(training.count == 6)
        // Forced to start on a training task, the validation tasks step over it.
        let first = try #require(training.min())
        let validation = LaterRateTuner.validationTaskSeeds(count: 4, first: first, excluding: training)
        #expect(validation.count == 4 && validation.allSatisfy { !training.contains($0) } && validation.first == first + 1)
    }

    @Test("tune keeps the meta-trained rates, adds the best-scoring candidate for the later steps, and records every score")
    func tunePicksTheBestCandidate() throws {
        let (policy, d) = try Self.trained()
        let learned = try #require(policy.innerLearningRates.first)
        #expect(policy.innerLearningRates.count == 1)
        let inner = InnerLoop(steps: 3, episodes: 6, learningRate: 0.3)
        let tasks = LaterRateTuner.validationTaskSeeds(count: 6, excluding: try LaterRateTuner.trainingTaskSeeds(definition: d, config: Self.config))
        // The untuned rate given again as a candidate, or a candidate given twice, is tried once.
        let (tuned, t) = try LaterRateTuner.tune(policy: policy, metaTrainedSteps: 1, definition: d, inner: inner,
                                                 candidates: [0, learned, 1.5, 0], validationTasks: tasks, seed: 2, threads: 2)
        #expect(t.candidates == [learned, 0, 1.5])
        #expect(t.scores.count == 3 && t.metaTrainedSteps == 1 && t.steps == 3 && t.validationTaskSeeds == tasks)
        #expect(t.leads.count == 3 && t.leads[0].mean == 0)
        #expect(t.chosen == t.candidates[LaterRateTuner.choice(scores: t.scores, leads: t.leads)])
        #expect(tuned.innerLearningRates == [learned, t.chosen, t.chosen])
        #expect(tuned.parameters == policy.parameters)
        // The scores differ between candidates (rate 0 leaves the adapted policy where one step
        // took it), and each is the mean return after steps 2 and 3 of that candidate, as an
        // evaluation of the same tasks and seed measures it.
        #expect(Set(t.scores).count == 3, "\(t.scores)")
        var laterReturns: [[Double]] = []
        for (i, r) in t.candidates.enumerated() {
            var p = policy
            p.innerLearningRates = [learned, r, r]
            let report = try Evaluator(definition: d, inner: inner, validationTasks: tasks, seed: 2, threads: 1)
                .run(methods: [.init(name: "p", policy: p)], scratch: nil)
            #expect(t.scores[i] == (report.methods[0].returns[2].mean + report.methods[0].returns[3].mean) / 2)
            laterReturns.append(report.methods[0].perTask.map { ($0[2] + $0[3]) / 2 })
        }
        for i in 1..<3 {
            #expect(abs(t.leads[i].mean - Interval(samples: zip(laterReturns[i], laterReturns[0]).map { $0 - $1 }).mean) < 1e-9)
        }
        // Same inputs, same result, whatever the thread count.
        let one = try LaterRateTuner.tune(policy: policy, metaTrainedSteps: 1, definition: d, inner: inner,
                                          candidates: [0, learned, 1.5], validationTasks: tasks, seed: 2, threads: 1)
        #expect(one.0 == tuned && one.1 == t)
    }

    @Test("the best candidate is taken only if it beats the untuned rate paired per task; the untuned rate wins ties")
    func choiceNeedsALead() {
        let zero = Interval(mean: 0, low: 0, high: 0)
        let noisy = Interval(mean: 1.5, low: -0.2, high: 3.2), clear = Interval(mean: 1.5, low: 0.4, high: 2.6)
        #expect(LaterRateTuner.choice(scores: [10, 11.5, 10.5], leads: [zero, noisy, zero]) == 0)
        #expect(LaterRateTuner.choice(scores: [10, 11.5, 10.5], leads: [zero, clear, zero]) == 1)
        #expect(LaterRateTuner.choice(scores: [10, 10, 9], leads: [zero, clear, zero]) == 0)
        #expect(LaterRateTuner.choice(scores: [10, 9, 12], leads: [zero, clear, clear]) == 2)
    }

    @Test("tune refuses what it cannot tune: no later steps, held-out tasks, a Q-network, bad rates")
    func tuneRefuses() throws {
        let (policy, d) = try Self.trained()
        let tasks = [LaterRateTuner.firstValidationSeed]
        func refused(_ p: Policy = policy, steps: Int = 3, m: Int = 1, rates: [Double] = [0.1], tasks: [UInt64] = tasks) -> String? {
            do {
                _ = try LaterRateTuner.tune(policy: p, metaTrainedSteps: m, definition: d, inner: InnerLoop(steps: steps, episodes: 2, learningRate: 0.1),
                                            candidates: rates, validationTasks: tasks, seed: 0, threads: 1)
                return nil
            } catch let e as LaterRateTuningError {
                return e.description
            } catch {
                return "\(error)"
            }
        }
        #expect(refused(steps: 1)?.contains("meta-trained for 1 inner steps") == true)
        #expect(refused(m: 0)?.contains("not meta-trained") == true)
        #expect(refused(tasks: [TaskSeeds.evaluation.lowerBound])?.contains("training range") == true)
        #expect(refused(rates: [-1])?.contains("non-negative") == true)
        #expect(refused(rates: [.nan])?.contains("non-negative") == true)
        var q = policy
        q.qLearning = QLearning()
        #expect(refused(q)?.contains("Q-network") == true)
    }

    @Test("the shipped cheetah-vel policy's later rates are its tuning's choice, made on validation tasks it did not train on")
    func shippedTuningIsConsistent() throws {
        let c = try Checkpoint.load(path: Support.packageRoot.appendingPathComponent("policies/cheetah-vel.safetensors").path)
        let t = try #require(c.metadata.laterRateTuning)
        let config = try #require(c.metadata.trainingConfig)
        #expect(t.metaTrainedSteps == config.inner.steps)
        #expect(t.candidates.count == t.scores.count && t.leads.count == t.scores.count)
        #expect(t.chosen == t.candidates[LaterRateTuner.choice(scores: t.scores, leads: t.leads)])
        #expect(t.chosen != t.candidates[0], "cheetah-vel's later rate is tuned")
        #expect(c.policy.innerLearningRates.count == t.steps)
        #expect(Array(c.policy.innerLearningRates.dropFirst(t.metaTrainedSteps)) == [Double](repeating: t.chosen, count: t.steps - t.metaTrainedSteps))
        #expect(t.candidates[0] == c.policy.innerLearningRates[t.metaTrainedSteps - 1], "the untuned rule is the first candidate")
        let training = try LaterRateTuner.trainingTaskSeeds(definition: try Support.definition("cheetah-vel"), config: config)
        #expect(training.count > 3000)
        #expect(t.validationTaskSeeds.count == 40)
        #expect(t.validationTaskSeeds.allSatisfy { TaskSeeds.training.contains($0) && !training.contains($0) })
    }

    @Test("the tuning record survives a checkpoint round trip")
    func tuningRoundTrips() throws {
        let (policy, d) = try Self.trained()
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        var meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "maml", hyperparameters: Checkpoint.json(Self.config),
                                      trainingSeed: 4, metasimVersion: "test")
        meta.laterRateTuning = LaterRateTuning(metaTrainedSteps: 1, steps: 3, episodes: 6, candidates: [0.2, 0.05], scores: [-3.5, -2.25],
                                               leads: [Interval(mean: 0, low: 0, high: 0), Interval(mean: 1.25, low: 0.5, high: 2)],
                                               chosen: 0.05, validationTaskSeeds: [900_000_001, 900_000_002], seed: 7)
        var tuned = policy
        tuned.innerLearningRates += [0.05, 0.05]
        let c = Checkpoint(policy: tuned, metadata: meta)
        let path = Support.temporaryPath("tuned.safetensors")
        try c.write(to: path)
        let loaded = try Checkpoint.load(path: path)
        #expect(loaded == c)
        #expect(loaded.metadata.laterRateTuning?.chosen == 0.05)
        #expect(try Checkpoint.load(path: path).encoded() == c.encoded())
    }
}
