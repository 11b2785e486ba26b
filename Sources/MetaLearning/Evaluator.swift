import Foundation
import MetaSimCore

/// Few-shot evaluation on held-out tasks: every method starts from its parameters and adapts
/// with the same inner loop on the same episode seeds; the return of the episodes sampled with
/// θ_k is its score after k steps (MAML's protocol). A from-scratch policy (fresh weights per
/// task) gets the same budget. The oracle is a trained policy told the task (`--algo oracle`),
/// else an analytic one where it exists (point-nav).
public struct Evaluator: Sendable {
    public struct Method: Sendable {
        public var name: String
        public var policy: Policy
        public init(name: String, policy: Policy) {
            self.name = name
            self.policy = policy
        }
    }

    public let definition: WorldDefinition
    public let inner: InnerLoop
    public let taskSeeds: [UInt64]
    public let seed: UInt64
    public let threads: Int

    /// Refuses task seeds outside the reserved evaluation range.
    public init(definition: WorldDefinition, inner: InnerLoop, taskSeeds: [UInt64], seed: UInt64, threads: Int) throws(EvaluationError) {
        for s in taskSeeds where !TaskSeeds.evaluation.contains(s) {
            throw .trainingTask(seed: s)
        }
        self.init(definition: definition, inner: inner, validationTasks: taskSeeds, seed: seed, threads: threads)
    }

    /// An evaluator on validation tasks of the training range, to choose settings on (`metasim
    /// evaluate --validation`): refuses task seeds outside the training range. The caller keeps
    /// them away from the policies' training tasks (`LaterRateTuner.validationTaskSeeds`).
    public init(definition: WorldDefinition, inner: InnerLoop, validationTaskSeeds: [UInt64], seed: UInt64, threads: Int) throws(EvaluationError) {
        for s in validationTaskSeeds where !TaskSeeds.training.contains(s) {
            throw .notValidationTask(seed: s)
        }
        self.init(definition: definition, inner: inner, validationTasks: validationTaskSeeds, seed: seed, threads: threads)
    }

    /// An evaluator on validation tasks of the training range (`LaterRateTuner`), which must
    /// keep out of the held-out range and away from the policy's training tasks.
    init(definition: WorldDefinition, inner: InnerLoop, validationTasks taskSeeds: [UInt64], seed: UInt64, threads: Int) {
        self.definition = definition
        self.inner = inner
        self.taskSeeds = taskSeeds
        self.seed = seed
        self.threads = threads
    }

    /// Per-task return curves (task × step) of each method, the scratch baseline and the oracle.
    /// `scratchLearningRates`: per-step inner learning rates of the scratch policy (empty: the
    /// inner loop's); `scratchRateScales`: its per-parameter rate multipliers (empty: none).
    /// `oracle`: a policy with task inputs, scored without adapting on the episodes (same seeds)
    /// the methods are scored on before adapting, sampled and deterministic.
    /// `scratchQLearning`: the scratch network is a Q-network adapted by Q-learning with these
    /// settings (the meta-Q-learning baseline).
    public func run(methods: [Method], scratch: PolicyArchitecture?, scratchLearningRates: [Double] = [],
                    scratchRateScales: [Float] = [], scratchQLearning: QLearning? = nil, oracle oraclePolicy: Policy? = nil) throws -> EvaluationReport {
        struct TaskOutcome: Sendable {
            var curves: [[Double]]
            var deterministic: [[Double]]
            var oracle: Double?
            var oracleDeterministic: Double?
            var stepSeconds: [Double]
        }
        let definition = self.definition, inner = self.inner, seed = self.seed
        let outcomes = try ParallelTasks.map(count: taskSeeds.count, threads: threads) { j throws -> TaskOutcome in
            let taskSeed = self.taskSeeds[j]
            let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: taskSeed))
            let episodeSeed = SplitMix64.mix(seed, taskSeed)
            var all = methods.map(\.policy)
            if let scratch {
                var p = Policy(architecture: scratch, seed: SplitMix64.mix(seed, taskSeed, 0x5C8A7C4))
                p.innerLearningRates = scratchLearningRates
                p.innerRateScales = scratchRateScales
                p.qLearning = scratchQLearning
                all.append(p)
            }
            var curves: [[Double]] = [], deterministic: [[Double]] = [], seconds: [Double] = []
            for p in all {
                let a = try AdaptationRunner(policy: p).run(on: program, AdaptationRequest(inner: inner, seed: episodeSeed, evaluateFinal: true,
                                                                                           deterministicEpisodes: inner.episodes))
                curves.append(a.returns)
                deterministic.append(a.deterministicReturns)
                seconds += a.stepSeconds
            }
            var oracle: Double?, oracleDeterministic: Double?
            let specs = program.specs
            if let oraclePolicy {
                var zero = inner
                zero.steps = 0
                let a = try AdaptationRunner(policy: oraclePolicy).run(on: program, AdaptationRequest(inner: zero, seed: episodeSeed, evaluateFinal: true,
                                                                                                      deterministicEpisodes: inner.episodes))
                oracle = a.returns[0]
                oracleDeterministic = a.deterministicReturns[0]
            } else if let o = Oracle.pointNav(program: program, specs: specs) {
                oracle = try Oracle.meanReturn(program: program, policy: o, count: inner.episodes,
                                               seed: Adapter.episodeSeed(episodeSeed, step: 0))
            }
            return TaskOutcome(curves: curves, deterministic: deterministic, oracle: oracle,
                               oracleDeterministic: oracleDeterministic, stepSeconds: seconds)
        }
        var names = methods.map(\.name)
        if scratch != nil { names.append("scratch") }
        var report = EvaluationReport(world: definition.name, taskSeeds: taskSeeds, inner: inner,
                                      horizon: definition.episode.horizon, seed: seed, methods: [])
        for (m, name) in names.enumerated() {
            let perTask = outcomes.map { $0.curves[m] }
            let steps = (0...inner.steps).map { k in Interval(samples: perTask.map { $0[k] }) }
            report.methods.append(.init(name: name, returns: steps, perTask: perTask))
            let perTaskD = outcomes.map { $0.deterministic[m] }
            let stepsD = (0...inner.steps).map { k in Interval(samples: perTaskD.map { $0[k] }) }
            report.deterministic.append(.init(name: name, returns: stepsD, perTask: perTaskD))
        }
        if outcomes.allSatisfy({ $0.oracle != nil }) {
            let o = outcomes.map { $0.oracle! }
            report.oracle = .init(name: "oracle", returns: [Interval(samples: o)], perTask: o.map { [$0] })
        }
        if outcomes.allSatisfy({ $0.oracleDeterministic != nil }) {
            let o = outcomes.map { $0.oracleDeterministic! }
            report.oracleDeterministic = .init(name: "oracle", returns: [Interval(samples: o)], perTask: o.map { [$0] })
        }
        report.qLearning = methods.first?.policy.qLearning
        let times = outcomes.flatMap(\.stepSeconds).sorted()
        report.innerStepSecondsMedian = times.isEmpty ? 0 : times[times.count / 2]
        return report
    }
}

extension Evaluator.Method {
    /// The fine-tuned baseline (`metasim evaluate --baseline`): `checkpoint`'s policy, which
    /// adapts at its own per-step rates when it has them (the rate `metasim tune` chose for it on
    /// validation tasks, `LaterRateTuner.tuneEveryStep`), else at the inner loop's rate
    /// (`--inner-lr`). With `sameRatesAs`, at that meta-policy's rates and per-parameter
    /// multipliers instead (`--same-rates`).
    public static func baseline(_ checkpoint: Checkpoint, name: String, sameRatesAs meta: Policy? = nil) throws(EvaluationError) -> Self {
        var p = checkpoint.policy
        if let meta {
            let scales = meta.innerRateScales
            guard scales.isEmpty || scales.count == p.parameters.count else {
                throw .rateScalesMismatch(parameters: p.parameters.count, scales: scales.count)
            }
            p.innerLearningRates = meta.innerLearningRates
            p.innerRateScales = scales
        }
        return Self(name: name, policy: p)
    }
}

public enum EvaluationError: Error, CustomStringConvertible, Sendable {
    case trainingTask(seed: UInt64)
    /// A validation task (`--validation`) outside the training range.
    case notValidationTask(seed: UInt64)
    /// A memory method's trials on a task ended before their last episode.
    case incompleteTrials(method: String, task: UInt64)
    /// `--same-rates`: the meta-policy's per-parameter rates do not fit the baseline.
    case rateScalesMismatch(parameters: Int, scales: Int)

    public var description: String {
        switch self {
        case .trainingTask(let s):
            return "error: task seed \(s) is not held out: evaluation and adaptation use seeds in [\(TaskSeeds.evaluation.lowerBound), \(TaskSeeds.evaluation.upperBound)), training draws from [\(TaskSeeds.training.lowerBound), \(TaskSeeds.training.upperBound))"
        case .notValidationTask(let s):
            return "error: task seed \(s) is not a validation task: validation tasks come from the training range [\(TaskSeeds.training.lowerBound), \(TaskSeeds.training.upperBound)), held-out seeds are for reporting"
        case .incompleteTrials(let method, let task):
            return "error: \(method)'s trials on task \(task) ended before their last episode"
        case .rateScalesMismatch(let n, let scales):
            return "the baseline has \(n) parameters, the meta-policy's per-parameter rates are for \(scales) (train both with the same --hidden)"
        }
    }
}

/// Returns per method and step with 95% intervals, and the fraction of the gap closed.
public struct EvaluationReport: Sendable, Codable {
    public struct MethodResult: Sendable, Codable {
        public var name: String
        /// Mean return over tasks after k inner steps, k = 0 … steps.
        public var returns: [Interval]
        public var perTask: [[Double]]
    }

    public var world: String
    public var taskSeeds: [UInt64]
    public var inner: InnerLoop
    /// Episode length cap (the world's horizon, or the override it was evaluated with).
    public var horizon: Int?
    public var seed: UInt64
    /// Returns of the episodes sampled with θ_k (MAML's protocol; also the adaptation data).
    public var methods: [MethodResult]
    /// Returns of θ_k acting deterministically (mean or most likely action) on separate episodes.
    public var deterministic: [MethodResult] = []
    /// The oracle's return: analytic, or a trained oracle's sampled episodes.
    public var oracle: MethodResult?
    /// A trained oracle acting deterministically (nil: `oracle` serves both tables).
    public var oracleDeterministic: MethodResult?
    public var innerStepSecondsMedian = 0.0
    /// Set when the first method is a Q-network (meta-Q-learning): its Q-learning settings. The
    /// sampled episodes are then ε-greedy and the deterministic ones greedy.
    public var qLearning: QLearning?
    /// Against a trained oracle (`withOracleSummary`): the gap and, per method and step, the tasks
    /// on which the method beats the oracle. Nil (and absent from the JSON) otherwise.
    public var oracleSummary: OracleSummary?
    /// Memory-based methods (`metasim evaluate --memory`: recurrent policies, evaluated by
    /// `Evaluator.runMemory` on the same tasks): `returns[e]` is the return after e episodes of
    /// experience of the task, e = 0 … the trials' length − 1. Nil without such methods.
    public var memory: [MethodResult]?
    /// The same policies acting deterministically (mean or most likely action) on separate trials.
    public var memoryDeterministic: [MethodResult]?
    /// Trials per task behind each memory method's returns.
    public var memoryTrials: Int?
    /// The episodes of experience the report tabulates every method at (`byExperience`).
    public var experiencePoints: [Int]?

    /// How the methods compare with a trained oracle, task by task (sampled and deterministic).
    public struct OracleSummary: Sendable, Codable, Equatable {
        /// The method the gap is measured from before adapting (the multi-task baseline), and the
        /// gap `oracleGap` (oracle − it, per task, 95% interval); nil without a reference.
        public var reference: String?
        public var gap: Interval?
        public var gapDeterministic: Interval?
        public var beating: [Beating]
    }

    /// Tasks on which `method`'s return after k inner steps is strictly above the oracle's (the
    /// same tasks and, before adapting, the same episode seeds), k = 0 … steps, out of `tasks`.
    public struct Beating: Sendable, Codable, Equatable {
        public var method: String
        public var deterministic: Bool
        public var count: [Int]
        public var tasks: Int
        /// `count / tasks` after each step.
        public var share: [Double]
    }

    /// Per step, the tasks on which `method` beats the oracle (`Beating`); nil without an oracle
    /// or that method.
    public func beatingOracle(method: String, deterministic: Bool = false) -> Beating? {
        let results = deterministic ? self.deterministic : methods
        guard let oracle = oracle(deterministic: deterministic), let m = results.first(where: { $0.name == method }) else { return nil }
        let count = (0...inner.steps).map { k in zip(m.perTask, oracle.perTask).filter { $0[k] > $1[0] }.count }
        let n = m.perTask.count
        return Beating(method: method, deterministic: deterministic, count: count, tasks: n, share: count.map { n > 0 ? Double($0) / Double(n) : 0 })
    }

    /// The report with `oracleSummary` filled (every method, sampled and deterministic; the gap
    /// from `reference` when given).
    public func withOracleSummary(reference: String?) -> EvaluationReport {
        var r = self
        guard oracle != nil else { return r }
        let beating = [false, true].flatMap { d in (d ? deterministic : methods).compactMap { beatingOracle(method: $0.name, deterministic: d) } }
        r.oracleSummary = OracleSummary(reference: reference, gap: reference.flatMap { oracleGap(reference: $0) },
                                        gapDeterministic: reference.flatMap { oracleGap(reference: $0, deterministic: true) }, beating: beating)
        return r
    }

    /// The reports of an evaluation's JSON file: one report, or a list of them (`--blocks N`).
    public static func load(contentsOfFile path: String) throws -> [EvaluationReport] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        if let list = try? JSONDecoder().decode([EvaluationReport].self, from: data) { return list }
        return [try JSONDecoder().decode(EvaluationReport.self, from: data)]
    }

    /// The gap between the oracle and the multi-task baseline before adapting (`oracleGap` from
    /// the method named `multitask`, else `baseline`), nil without an oracle or a baseline.
    public var multitaskGap: Interval? {
        oracleGap(reference: "multitask") ?? oracleGap(reference: "baseline")
    }

    /// What a family's evaluation (one report per block of held-out tasks) says it is good for:
    /// a meta-learning family when the oracle leads the multi-task policy with a 95% interval
    /// above 0 on every block, a control when it does not on some block (knowing the task pays
    /// nothing measurable there, so no adaptation can beat the multi-task policy), nil when a
    /// report has no oracle or no multi-task baseline.
    public enum FamilyRole: Sendable, Equatable {
        case metaLearning(gaps: [Interval])
        case control(gaps: [Interval])

        public init?(reports: [EvaluationReport]) {
            let gaps = reports.compactMap(\.multitaskGap)
            guard !reports.isEmpty, gaps.count == reports.count else { return nil }
            self = gaps.allSatisfy { $0.low > 0 } ? .metaLearning(gaps: gaps) : .control(gaps: gaps)
        }
    }

    /// The oracle the sampled or the deterministic table compares with.
    public func oracle(deterministic: Bool) -> MethodResult? {
        deterministic ? (oracleDeterministic ?? oracle) : oracle
    }

    /// `method` minus `other` after each step, per task (same tasks and episode seeds: paired),
    /// mean over tasks with a Student-t 95% interval. Tighter than comparing the two methods'
    /// own intervals, whose width is mostly the spread between tasks.
    public func pairedDifference(method: String, other: String, deterministic: Bool = false) -> [Interval]? {
        let results = deterministic ? self.deterministic : methods
        guard let m = results.first(where: { $0.name == method }), let o = results.first(where: { $0.name == other }) else { return nil }
        return (0...inner.steps).map { k in Interval(samples: zip(m.perTask, o.perTask).map { $0[k] - $1[k] }) }
    }

    /// The gap itself: the oracle's return minus `reference`'s before adaptation, per task
    /// (paired), mean over tasks with a Student-t 95% interval.
    public func oracleGap(reference: String, deterministic: Bool = false) -> Interval? {
        let results = deterministic ? self.deterministic : methods
        guard let oracle = oracle(deterministic: deterministic), let r = results.first(where: { $0.name == reference }) else { return nil }
        return Interval(samples: zip(oracle.perTask, r.perTask).map { $0[0] - $1[0] })
    }

    /// Fraction of the gap between `reference` before adaptation and the oracle that `method`
    /// closes after each step: (R_method,k − R_ref,0) / (R_oracle − R_ref,0), means over tasks,
    /// with a task-bootstrap 95% interval. Nil when there is no measurable gap to close: the 95%
    /// interval of `oracleGap` is not above 0 (the ratio of two noises would mean nothing).
    public func gapClosed(method: String, reference: String, deterministic: Bool = false) -> [Interval]? {
        let results = deterministic ? self.deterministic : methods
        guard let oracle = oracle(deterministic: deterministic), let m = results.first(where: { $0.name == method }),
              let r = results.first(where: { $0.name == reference }),
              let gap = oracleGap(reference: reference, deterministic: deterministic), gap.low > 0 else { return nil }
        return Self.closedShares(m.perTask.map { Array($0.prefix(inner.steps + 1)) }, reference: r.perTask.map { $0[0] },
                                 oracle: oracle.perTask.map { $0[0] }, seed: { SplitMix64.mix(seed, UInt64($0)) })
    }
}
