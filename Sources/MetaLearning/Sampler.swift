import Foundation
import MetaSimCore

/// Collects episodes of one task with a policy on a `WorldBatch`: one instance per episode; an
/// instance whose episode ended is auto-reset by the batch and its later steps are ignored, so
/// each instance contributes exactly one episode.
///
/// Determinism: the episode seed of instance i is `WorldBatch.episodeSeed(batchSeed: seed,
/// instance: i)` and its action noise comes from its own generator seeded by (seed, i); the
/// policy runs on the calling thread in instance order. Results are bit-identical for any
/// thread count.
public struct Sampler: Sendable {
    public let program: WorldProgram
    public let threads: Int
    /// Episode length cap for worlds without a horizon.
    public let maxSteps: Int

    public init(program: WorldProgram, threads: Int = 1, maxSteps: Int = 1000) {
        self.program = program
        self.threads = max(1, threads)
        let horizon = program.resolved.episode.horizon
        self.maxSteps = horizon > 0 ? horizon : maxSteps
    }

    /// `count` episodes with `params` (Double flat parameters of `math`'s architecture).
    public func collect(math: PolicyMath, params: [Double], count: Int, seed: UInt64,
                        deterministic: Bool = false, cancel: Cancellation? = nil) throws(WorldError) -> Episodes {
        let batch = try WorldBatch(program: program, count: count, threads: threads, seed: seed, autoReset: true,
                                    cancellation: cancel)
        let arch = math.architecture
        // An oracle's task inputs: the task's values of the named family parameters, the same in every row.
        let taskValues = (arch.taskInputs ?? []).map { name in
            guard let v = program.task[name] else { preconditionFailure("task input '\(name)' is not a parameter of \(program.name)") }
            return v
        }
        let worldCount = batch.observationCount
        precondition(worldCount + taskValues.count == arch.observationCount, "policy observation size does not match the world")
        precondition(batch.actionCount == arch.actionWidth, "policy action size does not match the world")
        let obsCount = arch.observationCount, width = arch.actionWidth
        var episodes = Episodes(count: count, horizon: maxSteps, observationCount: obsCount, actionWidth: width)
        var rngs = (0..<count).map { SeededGenerator(seed: SplitMix64.mix(seed, UInt64($0)), stream: RandomStream.policy) }
        var active = [Bool](repeating: true, count: count)
        var remaining = count
        var obs = [Double](repeating: 0, count: count * obsCount)
        var cache = MLP.Cache()
        for t in 0..<maxSteps where remaining > 0 {
            if let cancel, cancel.isCancelled { break }
            for i in 0..<count {
                for k in 0..<worldCount { obs[i * obsCount + k] = Double(batch.observations[i * worldCount + k]) }
                for (k, v) in taskValues.enumerated() { obs[i * obsCount + worldCount + k] = v }
            }
            math.forward(params, observations: obs, count: count, cache: &cache)
            for i in 0..<count {
                let row = i * maxSteps + t
                math.sampleAction(params, cache: cache, row: i, deterministic: deterministic, rng: &rngs[i]) { k, v in
                    batch.actions[i * width + k] = Float(arch.worldAction(v, component: k))
                    episodes.actions[row * width + k] = v
                }
                if active[i] {
                    for k in 0..<obsCount { episodes.observations[row * obsCount + k] = obs[i * obsCount + k] }
                }
            }
            batch.step()
            for i in 0..<count where active[i] {
                episodes.rewards[i * maxSteps + t] = batch.rewards[i]
                let term = batch.terminated[i] != 0, trunc = batch.truncated[i] != 0
                if term || trunc || t == maxSteps - 1 {
                    active[i] = false
                    remaining -= 1
                    episodes.lengths[i] = t + 1
                    episodes.terminated[i] = term
                }
            }
        }
        return episodes
    }
}
