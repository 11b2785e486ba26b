import Foundation
import MetaSimCore

/// Collects trials of one task with a recurrent policy on a `WorldBatch`: one instance per
/// trial, each acting `episodes` episodes in a row with its state carried across their
/// boundaries (the batch auto-resets an ended episode; an episode that reaches `maxSteps`
/// without ending is restarted by hand). An instance whose trial is over is still stepped
/// with the others and its steps are ignored.
///
/// Determinism: episode seeds as `Sampler`'s (instance i starts at `WorldBatch.episodeSeed(batchSeed:
/// seed, instance: i)`, its next episodes follow), action noise from instance i's own
/// generator seeded by (seed, i), the network run on the calling thread in instance order.
public struct TrialSampler: Sendable {
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

    /// `count` trials of `episodes` episodes each with `params`.
    public func collect(math: RecurrentMath, params: [Double], count: Int, episodes: Int, seed: UInt64,
                        deterministic: Bool = false, cancel: Cancellation? = nil) throws(WorldError) -> [Trial] {
        precondition(count > 0 && episodes > 0)
        let batch = try WorldBatch(program: program, count: count, threads: threads, seed: seed, autoReset: true, cancellation: cancel)
        let arch = math.architecture, net = math.network
        precondition(batch.observationCount == arch.observationCount, "policy observation size does not match the world")
        precondition(batch.actionCount == arch.actionWidth, "policy action size does not match the world")
        let n = arch.observationCount, width = arch.actionWidth, inputCount = net.inputCount
        var trials = (0..<count).map { _ in Trial(observationCount: n, actionWidth: width, inputCount: inputCount) }
        var rngs = (0..<count).map { SeededGenerator(seed: SplitMix64.mix(seed, UInt64($0)), stream: RandomStream.policy) }
        var hidden = [Double](repeating: 0, count: count * net.stateCount)
        var done = [Int](repeating: 0, count: count), stepsInEpisode = [Int](repeating: 0, count: count)
        var previous = [Double](repeating: 0, count: count * width), previousReward = [Double](repeating: 0, count: count)
        var ended = [Bool](repeating: false, count: count), first = [Bool](repeating: true, count: count)
        var input = [Double](repeating: 0, count: count * inputCount)
        var obs = [Double](repeating: 0, count: count * n)
        for i in 0..<count { trials[i].episodeStarts = [0] }
        while done.contains(where: { $0 < episodes }) {
            if let cancel, cancel.isCancelled { break }
            for i in 0..<count {
                for k in 0..<n { obs[i * n + k] = Double(batch.observations[i * n + k]) }
                math.stepInput(observation: obs[(i * n)..<((i + 1) * n)],
                               previousAction: first[i] ? nil : previous[(i * width)..<((i + 1) * width)],
                               previousReward: previousReward[i], episodeEnd: ended[i], into: &input, at: i * inputCount)
            }
            let (out, values) = net.step(params, input: input, state: &hidden, batch: count)
            for i in 0..<count {
                var u = [Double](repeating: 0, count: width)
                math.sampleAction(params, outputs: out, row: i, deterministic: deterministic, rng: &rngs[i]) { k, v in
                    batch.actions[i * width + k] = Float(arch.worldAction(v, component: k))
                    u[k] = v
                }
                guard done[i] < episodes else { continue }
                trials[i].observations += obs[(i * n)..<((i + 1) * n)]
                trials[i].inputs += input[(i * inputCount)..<((i + 1) * inputCount)]
                trials[i].actions += u
                trials[i].logLikelihoods.append(math.logLikelihood(params, outputs: out, row: i, actions: u, actionRow: 0))
                trials[i].values.append(values[i])
                for k in 0..<width { previous[i * width + k] = u[k] }
                first[i] = false
            }
            batch.step()
            for i in 0..<count where done[i] < episodes {
                let r = batch.rewards[i]
                trials[i].rewards.append(r)
                trials[i].length += 1
                previousReward[i] = r
                stepsInEpisode[i] += 1
                let term = batch.terminated[i] != 0, trunc = batch.truncated[i] != 0
                let capped = stepsInEpisode[i] >= maxSteps
                ended[i] = term || trunc || capped
                guard ended[i] else { continue }
                trials[i].terminated.append(term)
                done[i] += 1
                stepsInEpisode[i] = 0
                if capped && !term && !trunc {
                    // The batch does not restart an episode it does not see end.
                    try batch.resetChecked(instance: i, seed: SplitMix64.mix(seed, UInt64(i), UInt64(done[i]), 0xCA9))
                }
                if done[i] < episodes { trials[i].episodeStarts.append(trials[i].length) }
            }
        }
        return trials
    }

}
