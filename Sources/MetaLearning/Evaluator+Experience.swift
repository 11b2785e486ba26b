import MetaSimCore

/// Return against **episodes of experience** of the held-out task, the one axis on which a
/// memory-based meta-policy (RL²: it adapts by acting, its state carried across the episodes of
/// a task) and a gradient-based one (MAML: one inner step = `inner.episodes` episodes) compare.
extension Evaluator {
    /// Memory-based `methods` (recurrent policies) on the same held-out tasks as `run`: per task,
    /// `trials` trials of `maxExperience + 1` episodes, each from a zero state carried across its
    /// episodes (`RecurrentLearner.adapt`); returns[e] is the mean over tasks of the mean return
    /// of the trials' episode e, acted after e episodes of experience. The deterministic result
    /// acts with the mean (most likely) action on `trials` separate trials.
    public func runMemory(methods: [Method], maxExperience: Int, trials: Int) throws
        -> (sampled: [EvaluationReport.MethodResult], deterministic: [EvaluationReport.MethodResult]) {
        precondition(maxExperience >= 0 && trials > 0)
        let definition = self.definition, seed = self.seed
        var inner = self.inner
        inner.steps = maxExperience
        inner.episodes = trials
        let request = inner
        // [task][method] → (sampled, deterministic) returns by episode of the trial.
        let outcomes = try ParallelTasks.map(count: taskSeeds.count, threads: threads) { j throws -> [([Double], [Double])] in
            let taskSeed = self.taskSeeds[j]
            let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: taskSeed))
            let episodeSeed = SplitMix64.mix(seed, taskSeed, 0x3E3)
            return try methods.map { m in
                let a = try AdaptationRunner(policy: m.policy).run(on: program, AdaptationRequest(inner: request, seed: episodeSeed, evaluateFinal: true,
                                                                                                  deterministicEpisodes: trials))
                // Every round is there unless the run was cut short (nothing cancels it here).
                guard a.returns.count == maxExperience + 1, a.deterministicReturns.count == maxExperience + 1 else {
                    throw EvaluationError.incompleteTrials(method: m.name, task: taskSeed)
                }
                return (a.returns, a.deterministicReturns)
            }
        }
        func results(_ deterministic: Bool) -> [EvaluationReport.MethodResult] {
            methods.enumerated().map { m, method in
                let perTask = outcomes.map { deterministic ? $0[m].1 : $0[m].0 }
                let returns = (0...maxExperience).map { e in Interval(samples: perTask.map { $0[e] }) }
                return EvaluationReport.MethodResult(name: method.name, returns: returns, perTask: perTask)
            }
        }
        return (results(false), results(true))
    }
}

extension EvaluationReport {
    /// The episodes of experience `metasim evaluate` tabulates by default (issue 31): MAML's three
    /// inner steps of 20 episodes end at 20, 40 and 60.
    public static let defaultExperiencePoints = [0, 1, 2, 3, 5, 10, 20, 60]

    /// The names of every method with a return for each of `points` episodes of experience:
    /// the memory methods, then the gradient ones (and scratch) whose inner steps cover them.
    public func experienceMethods(points: [Int], deterministic: Bool = false) -> [String] {
        let memoryNames = (deterministic ? memoryDeterministic : memory)?.map(\.name) ?? []
        let gradient = (deterministic ? self.deterministic : methods).map(\.name)
        return (memoryNames + gradient).filter { perTaskByExperience(method: $0, points: points, deterministic: deterministic) != nil }
    }

    /// Per task, `method`'s return after each of `points` episodes of experience ([task][point]).
    /// A memory method: the return of its trials' episode e. A gradient method: its return after
    /// ⌊e / `inner.episodes`⌋ inner steps (a step is taken once its episodes are all in). Nil for
    /// an unknown method, or when a point lies beyond what was run (a memory method's trial
    /// length, a gradient method's `inner.steps` steps).
    public func perTaskByExperience(method: String, points: [Int], deterministic: Bool = false) -> [[Double]]? {
        if let m = (deterministic ? memoryDeterministic : memory)?.first(where: { $0.name == method }) {
            guard let n = m.perTask.first?.count, points.allSatisfy({ $0 >= 0 && $0 < n }) else { return nil }
            return m.perTask.map { row in points.map { row[$0] } }
        }
        guard let m = (deterministic ? self.deterministic : methods).first(where: { $0.name == method }), inner.episodes > 0,
              points.allSatisfy({ $0 >= 0 && $0 / inner.episodes <= inner.steps }) else { return nil }
        return m.perTask.map { row in points.map { row[$0 / inner.episodes] } }
    }

    /// Mean over tasks after each of `points` episodes of experience, with Student-t 95% intervals.
    public func byExperience(method: String, points: [Int], deterministic: Bool = false) -> [Interval]? {
        guard let v = perTaskByExperience(method: method, points: points, deterministic: deterministic) else { return nil }
        return points.indices.map { p in Interval(samples: v.map { $0[p] }) }
    }

    /// `method` minus `other` after each of `points` episodes of experience, per task (paired:
    /// the same tasks), with Student-t 95% intervals.
    public func pairedByExperience(method: String, other: String, points: [Int], deterministic: Bool = false) -> [Interval]? {
        guard let a = perTaskByExperience(method: method, points: points, deterministic: deterministic),
              let b = perTaskByExperience(method: other, points: points, deterministic: deterministic), a.count == b.count else { return nil }
        return points.indices.map { p in Interval(samples: zip(a, b).map { $0[p] - $1[p] }) }
    }

    /// A memory method after each of `points` episodes of experience minus `method` after all
    /// its inner steps, per task (paired), with Student-t 95% intervals: how few episodes the
    /// memory policy needs to match the fully adapted one.
    public func pairedAgainstAdapted(memory: String, method: String, points: [Int], deterministic: Bool = false) -> [Interval]? {
        guard let a = perTaskByExperience(method: memory, points: points, deterministic: deterministic),
              let b = (deterministic ? self.deterministic : methods).first(where: { $0.name == method }), a.count == b.perTask.count else { return nil }
        return points.indices.map { p in Interval(samples: zip(a, b.perTask).map { $0[p] - $1[inner.steps] }) }
    }

    /// The share of the gap (oracle − `reference` before adapting) that `method` closes after
    /// each of `points` episodes of experience, as `gapClosed` computes it per step: nil without
    /// a gap whose 95% interval lies above 0.
    public func gapClosedByExperience(method: String, reference: String, points: [Int], deterministic: Bool = false) -> [Interval]? {
        let results = deterministic ? self.deterministic : methods
        guard let oracle = oracle(deterministic: deterministic), let r = results.first(where: { $0.name == reference }),
              let gap = oracleGap(reference: reference, deterministic: deterministic), gap.low > 0,
              let v = perTaskByExperience(method: method, points: points, deterministic: deterministic), v.count == r.perTask.count else { return nil }
        return Self.closedShares(v, reference: r.perTask.map { $0[0] }, oracle: oracle.perTask.map { $0[0] },
                                 seed: { SplitMix64.mix(seed, UInt64(points[$0]), 0xE7) })
    }

    /// Per column c of `values` ([task][column]): Σ(values − reference) / Σ(oracle − reference)
    /// over tasks, with a task-bootstrap 95% interval (seeded per column).
    static func closedShares(_ values: [[Double]], reference: [Double], oracle: [Double], seed: (Int) -> UInt64) -> [Interval] {
        let columns = values.first?.count ?? 0
        return (0..<columns).map { c in
            Interval.bootstrap(count: values.count, seed: seed(c)) { idx in
                var num = 0.0, den = 0.0
                for i in idx {
                    num += values[i][c] - reference[i]
                    den += oracle[i] - reference[i]
                }
                return num / den
            }
        }
    }
}
