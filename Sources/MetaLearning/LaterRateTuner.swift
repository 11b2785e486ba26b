import MetaSimCore

/// How the inner learning rates of the steps past the meta-trained ones were chosen (recorded in
/// the checkpoint as `later_rate_tuning`). For the fine-tuned multi-task baseline, which was
/// meta-trained for no inner step, `metaTrainedSteps` is 0 and the rate is that of every step.
public struct LaterRateTuning: Sendable, Codable, Equatable {
    /// Inner steps the policy was meta-trained for; their rates are left as they were.
    public var metaTrainedSteps: Int
    /// Inner steps of the adaptation the rates were chosen for, and its episodes per step.
    public var steps: Int
    public var episodes: Int
    /// Each candidate rate (applied to every later step) and its score: the mean return over
    /// the validation tasks of the episodes sampled after each later step, averaged over those
    /// steps. The first candidate is the rule without tuning (the last meta-trained rate; for
    /// the multi-task baseline, the rate it adapted with before: its training's inner rate).
    public var candidates: [Double]
    public var scores: [Double]
    /// Each candidate's score minus the untuned one's, paired per task, with a Student-t 95%
    /// interval (the first is 0).
    public var leads: [Interval]
    /// The best-scoring candidate if its lead's interval lies above 0, else the untuned rate.
    public var chosen: Double
    /// The validation tasks: in the training range, none of them one the policy trained on.
    public var validationTaskSeeds: [UInt64]
    /// The episode seed of the validation adaptations (`Evaluator`'s).
    public var seed: UInt64
}

public enum LaterRateTuningError: Error, CustomStringConvertible, Sendable, Equatable {
    case notTunable(String)
    /// A validation task of the meta-policy's tuning is one the baseline trained on.
    case sharedTaskTrainedOn(seed: UInt64)

    public var description: String {
        switch self {
        case .notTunable(let why): "error: cannot tune the later inner learning rates: \(why)"
        case .sharedTaskTrainedOn(let seed):
            "error: validation task \(seed) of the meta-policy's tuning is one of this policy's training tasks: tune the meta-policy again with --skip-training-of this policy, so that both skip it"
        }
    }
}

/// Chooses the learning rate of the inner steps a policy was not meta-trained for.
///
/// A policy meta-trained for m inner steps has m rates; adapting for K > m steps repeats the
/// last one (`InnerLoop.learningRate(step:rates:)`), a rate tuned for a first step from the
/// meta-initialization, not for refining an already adapted policy. The tuner adapts the policy
/// for K steps on validation tasks with each candidate rate for steps m + 1 … K (and the repeated
/// last rate itself), scores each by the mean return after those steps, and takes the best only
/// if it beats the untuned rate paired per task with a 95% interval above 0: on a family where
/// the candidates differ by noise, the policy keeps its rates. The validation
/// tasks come from the training range, so the held-out range stays for evaluation, and skip
/// every task seed the policy's training drew. The result is a function of the policy, the
/// candidates, the tasks and the seed (`Evaluator` is independent of the thread count).
public enum LaterRateTuner {
    /// The first validation task seed: the top tenth of the training range.
    public static let firstValidationSeed: UInt64 = TaskSeeds.training.upperBound - UInt64(TaskSeeds.training.count / 10)

    /// `count` consecutive seeds from `first`, skipping those in `training`.
    public static func validationTaskSeeds(count: Int, first: UInt64 = firstValidationSeed, excluding training: Set<UInt64>) -> [UInt64] {
        var seeds: [UInt64] = []
        var s = first
        while seeds.count < count {
            precondition(TaskSeeds.training.contains(s), "validation task seeds ran out of the training range")
            if !training.contains(s) { seeds.append(s) }
            s += 1
        }
        return seeds
    }

    /// The validation tasks `tuning` (a meta-policy's) was made on, for another policy to be tuned
    /// on the same tasks: refused if one of them is among `training`, that policy's training tasks
    /// (the meta-policy must then be tuned again skipping them too: `validationTaskSeeds(count:
    /// excluding:)` with the union of both policies' training tasks).
    public static func sharedValidationTaskSeeds(_ tuning: LaterRateTuning, excluding training: Set<UInt64>) throws(LaterRateTuningError) -> [UInt64] {
        if let s = tuning.validationTaskSeeds.first(where: { training.contains($0) }) { throw .sharedTaskTrainedOn(seed: s) }
        return tuning.validationTaskSeeds
    }

    /// Every task seed the meta-training recorded in `config` drew.
    public static func trainingTaskSeeds(definition: WorldDefinition, config: MetaTrainingConfig) throws(WorldError) -> Set<UInt64> {
        let trainer = try MetaTrainer(definition: definition, config: config)
        var seeds = Set<UInt64>()
        for i in 0..<config.iterations { seeds.formUnion(trainer.taskSeeds(iteration: i)) }
        return seeds
    }

    /// The index of the chosen candidate: the first best score (the untuned rule, index 0, wins
    /// ties), kept only if its lead over the untuned rule has a 95% interval above 0.
    public static func choice(scores: [Double], leads: [Interval]) -> Int {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] { best = i }
        return leads[best].low > 0 ? best : 0
    }

    /// The policy with rates for `inner.steps` steps (its first `metaTrainedSteps` unchanged, the
    /// chosen candidate for the rest), and the record of the choice.
    public static func tune(policy: Policy, metaTrainedSteps m: Int, definition: WorldDefinition, inner: InnerLoop,
                            candidates: [Double], validationTasks: [UInt64], seed: UInt64, threads: Int) throws -> (Policy, LaterRateTuning) {
        guard policy.qLearning == nil else { throw LaterRateTuningError.notTunable("a Q-network adapts by Q-learning at its Adam rate") }
        guard m >= 1 else { throw LaterRateTuningError.notTunable("the policy was not meta-trained for any inner step") }
        guard inner.steps > m else {
            throw LaterRateTuningError.notTunable("the policy was meta-trained for \(m) inner steps; tuning is for more (--steps)")
        }
        var trainedInner = inner
        trainedInner.steps = m
        let trained = trainedInner.stepLearningRates(policy.innerLearningRates)
        return try choose(policy: policy, fixed: trained, untuned: trained[m - 1], definition: definition, inner: inner, candidates: candidates,
                          validationTasks: validationTasks, seed: seed, threads: threads)
    }

    /// The fine-tuned multi-task baseline's inner learning rate: one rate for every one of the
    /// `inner.steps` steps, chosen by the same rule from `candidates` and its current rate (its
    /// last per-step rate if it has any, else `inner.learningRate`, the rate it adapts with
    /// untuned), on validation tasks (the meta-policy's: `sharedValidationTaskSeeds`). The
    /// policy comes back with that rate for every step (`innerLearningRates`), which `Evaluator`,
    /// `metasim adapt` and the daemon adapt it with; the record has `metaTrainedSteps` 0.
    public static func tuneEveryStep(policy: Policy, definition: WorldDefinition, inner: InnerLoop, candidates: [Double],
                                     validationTasks: [UInt64], seed: UInt64, threads: Int) throws -> (Policy, LaterRateTuning) {
        guard inner.steps >= 1 else { throw LaterRateTuningError.notTunable("need at least one inner step (--steps)") }
        guard policy.architecture.taskInputs?.isEmpty != false else {
            throw LaterRateTuningError.notTunable("an oracle is told the task and is not adapted")
        }
        return try choose(policy: policy, fixed: [], untuned: policy.innerLearningRates.last ?? inner.learningRate, definition: definition,
                          inner: inner, candidates: candidates, validationTasks: validationTasks, seed: seed, threads: threads)
    }

    /// Adapts `policy` for `inner.steps` steps at rates `fixed` and then each candidate (the
    /// untuned rate first) for the rest, scores each by the mean return after those steps, and
    /// takes `choice`'s.
    static func choose(policy: Policy, fixed: [Double], untuned: Double, definition: WorldDefinition, inner: InnerLoop, candidates: [Double],
                       validationTasks: [UInt64], seed: UInt64, threads: Int) throws -> (Policy, LaterRateTuning) {
        guard policy.qLearning == nil else { throw LaterRateTuningError.notTunable("a Q-network adapts by Q-learning at its Adam rate") }
        guard !candidates.isEmpty, candidates.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw LaterRateTuningError.notTunable("candidate rates must be finite and non-negative")
        }
        guard !validationTasks.isEmpty, validationTasks.allSatisfy({ TaskSeeds.training.contains($0) }) else {
            throw LaterRateTuningError.notTunable("validation tasks must lie in the training range")
        }
        let m = fixed.count
        var all = [untuned]
        for r in candidates where !all.contains(r) { all.append(r) }
        let methods = all.enumerated().map { i, r in
            var p = policy
            p.innerLearningRates = fixed + [Double](repeating: r, count: inner.steps - m)
            return Evaluator.Method(name: "candidate \(i)", policy: p)
        }
        let evaluator = Evaluator(definition: definition, inner: inner, validationTasks: validationTasks, seed: seed, threads: threads)
        let report = try evaluator.run(methods: methods, scratch: nil)
        // Per task: the mean return after the later steps.
        let perTask = report.methods.map { result in
            result.perTask.map { curve in ((m + 1)...inner.steps).map { curve[$0] }.reduce(0, +) / Double(inner.steps - m) }
        }
        let scores = report.methods.map { result in
            ((m + 1)...inner.steps).map { result.returns[$0].mean }.reduce(0, +) / Double(inner.steps - m)
        }
        let leads = perTask.map { candidate in Interval(samples: zip(candidate, perTask[0]).map { $0 - $1 }) }
        let best = choice(scores: scores, leads: leads)
        var tuned = policy
        tuned.innerLearningRates = methods[best].policy.innerLearningRates
        return (tuned, LaterRateTuning(metaTrainedSteps: m, steps: inner.steps, episodes: inner.episodes, candidates: all, scores: scores,
                                       leads: leads, chosen: all[best], validationTaskSeeds: validationTasks, seed: seed))
    }
}
