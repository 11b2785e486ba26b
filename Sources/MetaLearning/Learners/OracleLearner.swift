import MetaSimCore

/// Analytic oracles: the best policy of a task where one is known in closed form.
public enum Oracle {
    /// point-nav: move each axis straight towards the goal at the largest allowed step
    /// (clip(goal - position, ±0.1)). Each axis moves independently, so this greedy move is
    /// optimal at every step. Nil for other worlds.
    public static func pointNav(program: WorldProgram, specs: WorldSpecs) -> (@Sendable ([Float]) -> [Float])? {
        guard program.name == "point-nav", let gx = program.task["goal_x"], let gy = program.task["goal_y"],
              specs.observation.entries == ["position_x", "position_y"], specs.action.count == 2 else { return nil }
        let low = specs.action.low, high = specs.action.high
        return { obs in
            [Float(min(max(gx - Double(obs[0]), low[0]), high[0])), Float(min(max(gy - Double(obs[1]), low[1]), high[1]))]
        }
    }

    /// Mean return of `count` episodes of a task under an analytic policy (episode seeds as the
    /// sampler's for `seed`).
    public static func meanReturn(program: WorldProgram, policy: ([Float]) -> [Float], count: Int, seed: UInt64) throws(WorldError) -> Double {
        let batch = try WorldBatch(program: program, count: count, threads: 1, seed: seed, autoReset: false)
        let n = batch.observationCount, w = batch.actionCount
        let horizon = program.resolved.episode.horizon > 0 ? program.resolved.episode.horizon : 1000
        var active = [Bool](repeating: true, count: count)
        var total = 0.0
        for _ in 0..<horizon where active.contains(true) {
            for i in 0..<count where active[i] {
                let a = policy(Array(batch.observations[(i * n)..<((i + 1) * n)]))
                for k in 0..<w { batch.actions[i * w + k] = a[k] }
            }
            // Without auto-reset an ended instance must not be stepped again: restart it (its
            // steps are ignored).
            for i in 0..<count where !active[i] { batch.reset(instance: i, seed: 0) }
            batch.step()
            for i in 0..<count where active[i] {
                total += batch.rewards[i]
                if batch.terminated[i] != 0 || batch.truncated[i] != 0 { active[i] = false }
            }
        }
        return total / Double(count)
    }
}

extension MetaAlgorithm {
    /// The oracle: the multi-task baseline's training with every family parameter appended to the
    /// observations, so the policy is told its task (MAML's oracle for HalfCheetahVel, which
    /// receives the goal velocity). Evaluation uses it, without adapting, as the level to reach.
    public static let oracle = MetaAlgorithm(declaring: "oracle")
}

/// The trained oracle: the multi-task baseline's training (`MultitaskLearner`) on a policy told
/// its task (the family parameters as extra inputs).
public struct OracleLearner: PolicyGradientLearner {
    public init() {}

    public var algorithms: [MetaAlgorithm] { [.oracle] }

    public func defaults(for algorithm: MetaAlgorithm) -> MetaLearnerDefaults { MultitaskLearner().defaults(for: algorithm) }

    /// The family parameters appended to the observations.
    public func architecture(_ base: PolicyArchitecture, definition: WorldDefinition, config: MetaTrainingConfig) -> PolicyArchitecture {
        var architecture = base
        let names = definition.familyParameters.map(\.name)
        architecture.taskInputs = names
        architecture.observationCount += names.count
        return architecture
    }

    public func episodesPerTask(_ config: MetaTrainingConfig) -> Int { MultitaskLearner().episodesPerTask(config) }

    public func adaptFirst(adapted: Bool) -> Bool { false }

    public func trainedSteps(_ record: TrainingRecord?) -> Int? { nil }

    public func taskStep(_ trainer: MetaTrainer, math: PolicyMath, sampler: Sampler, theta: [Double], rates: [Double], scales: [Double],
                         seed: UInt64) throws -> MetaTrainer.TaskResult {
        try MultitaskLearner().taskStep(trainer, math: math, sampler: sampler, theta: theta, rates: rates, scales: scales, seed: seed)
    }
}
