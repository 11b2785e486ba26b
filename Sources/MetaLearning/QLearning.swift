import Foundation
import MetaSimCore

/// The update rule of meta-Q-learning's inner loop (DQN on one task, Mnih et al. 2015, with the
/// double-Q target of van Hasselt et al. 2016). Each inner step collects `InnerLoop.episodes`
/// ε-greedy episodes into the task's replay buffer (empty at the start of an adaptation), then
/// runs `updates` Adam steps on minibatches of the buffer against a target network that is a
/// copy of the online network, refreshed every `targetPeriod` updates. γ is `InnerLoop.gamma`.
///
/// The network is the policy's MLP; its outputs are Q-values (one per discrete action), so the
/// greedy action is the policy's deterministic action (`Policy.act`).
public struct QLearning: Sendable, Codable, Equatable {
    /// Gradient updates per inner step.
    public var updates: Int
    public var batchSize: Int
    /// Adam's learning rate for the TD loss.
    public var learningRate: Double
    /// Probability of a uniformly random action while collecting episodes.
    public var epsilon: Double
    /// Updates between copies of the online network into the target network.
    public var targetPeriod: Int
    /// Transitions kept (oldest dropped first).
    public var replayCapacity: Int
    /// Huber loss threshold on the TD error.
    public var huberDelta: Double
    /// Global gradient-norm clip of each update.
    public var gradientClip: Double

    public init(updates: Int = 250, batchSize: Int = 64, learningRate: Double = 1e-3, epsilon: Double = 0.1,
                targetPeriod: Int = 100, replayCapacity: Int = 100_000, huberDelta: Double = 1, gradientClip: Double = 10) {
        self.updates = updates
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.epsilon = epsilon
        self.targetPeriod = targetPeriod
        self.replayCapacity = replayCapacity
        self.huberDelta = huberDelta
        self.gradientClip = gradientClip
    }
}

extension QLearning {
    /// Why these settings cannot run (nil when they can): a checkpoint's are checked on load.
    public var problem: String? {
        guard updates >= 0, batchSize >= 1, targetPeriod >= 1, replayCapacity >= 1 else {
            return "needs updates >= 0, batchSize >= 1, targetPeriod >= 1 and replayCapacity >= 1"
        }
        guard learningRate.isFinite, learningRate >= 0, (0...1).contains(epsilon) else {
            return "needs a finite, non-negative learningRate and epsilon in [0, 1]"
        }
        guard huberDelta.isFinite, huberDelta > 0, gradientClip.isFinite, gradientClip > 0 else {
            return "needs finite, positive huberDelta and gradientClip"
        }
        return nil
    }
}

/// Transitions of one task, in a ring of fixed capacity.
public struct ReplayBuffer: Sendable {
    public let capacity: Int
    public let observationCount: Int
    public private(set) var count = 0
    private var next = 0
    /// `capacity` rows; row `i` is valid for i < count.
    private var rows: TransitionBatch

    public init(capacity: Int, observationCount: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.observationCount = observationCount
        rows = TransitionBatch(count: capacity, observationCount: observationCount)
    }

    public mutating func append(observation: UnsafeBufferPointer<Double>, action: Int, reward: Double,
                                next nextObservation: UnsafeBufferPointer<Double>, terminated: Bool) {
        let n = observationCount, o = next * n
        for k in 0..<n {
            rows.observations[o + k] = observation[k]
            rows.nextObservations[o + k] = nextObservation[k]
        }
        rows.actions[next] = action
        rows.rewards[next] = reward
        rows.terminal[next] = terminated ? 1 : 0
        next = (next + 1) % capacity
        count = min(count + 1, capacity)
    }

    /// Appends every transition of `other`, oldest first.
    public mutating func append(contentsOf other: ReplayBuffer) {
        precondition(other.observationCount == observationCount)
        let n = observationCount, r = other.rows
        let first = other.count < other.capacity ? 0 : other.next
        for k in 0..<other.count {
            let i = (first + k) % other.capacity
            r.observations.withUnsafeBufferPointer { o in
                r.nextObservations.withUnsafeBufferPointer { nx in
                    append(observation: UnsafeBufferPointer(rebasing: o[(i * n)..<((i + 1) * n)]), action: r.actions[i],
                           reward: r.rewards[i], next: UnsafeBufferPointer(rebasing: nx[(i * n)..<((i + 1) * n)]),
                           terminated: r.terminal[i] != 0)
                }
            }
        }
    }

    /// A minibatch of `size` transitions drawn uniformly with replacement.
    public func sample(size: Int, rng: inout SeededGenerator) -> TransitionBatch {
        precondition(count > 0)
        let n = observationCount
        var b = TransitionBatch(count: size, observationCount: n)
        for r in 0..<size {
            let i = Int(rng.next(upperBound: UInt64(count)))
            for k in 0..<n {
                b.observations[r * n + k] = rows.observations[i * n + k]
                b.nextObservations[r * n + k] = rows.nextObservations[i * n + k]
            }
            b.actions[r] = rows.actions[i]; b.rewards[r] = rows.rewards[i]; b.terminal[r] = rows.terminal[i]
        }
        return b
    }
}

/// A minibatch of transitions (s, a, r, s', terminal), row-major observations.
public struct TransitionBatch: Sendable {
    public var count: Int
    public var observations: [Double]
    public var nextObservations: [Double]
    public var actions: [Int]
    public var rewards: [Double]
    /// 1 when the episode terminated at this transition (no bootstrap), else 0 (also at a
    /// truncation or the horizon: the next state's value still counts).
    public var terminal: [Double]

    public init(count: Int, observationCount n: Int) {
        self.count = count
        observations = [Double](repeating: 0, count: count * n)
        nextObservations = observations
        actions = [Int](repeating: 0, count: count)
        rewards = [Double](repeating: 0, count: count)
        terminal = rewards
    }
}

/// Q-learning on one task: ε-greedy collection and double-DQN updates of a flat-parameter MLP.
public struct QLearner: Sendable {
    public let math: PolicyMath
    public let program: WorldProgram
    public let inner: InnerLoop
    public let q: QLearning
    public let maxSteps: Int
    /// Threads stepping the collection batch (the episodes do not depend on it; updates run on
    /// the calling thread).
    public let threads: Int

    public init(math: PolicyMath, program: WorldProgram, inner: InnerLoop, q: QLearning, threads: Int = 1) {
        precondition(math.architecture.kind == .categorical, "Q-learning needs discrete actions")
        self.math = math
        self.program = program
        self.inner = inner
        self.q = q
        self.threads = max(1, threads)
        let horizon = program.resolved.episode.horizon
        maxSteps = horizon > 0 ? horizon : 1000
    }

    /// `count` episodes acting ε-greedily (greedily when `epsilon` is 0) with `params`; every
    /// transition goes into `replay` when given. Episode i's seed and its exploration draws come
    /// from (seed, i), so the result does not depend on anything else.
    public func collect(params: [Double], count: Int, epsilon: Double, seed: UInt64, replay: inout ReplayBuffer?,
                        cancel: Cancellation? = nil) throws(WorldError) -> Episodes {
        let batch = try WorldBatch(program: program, count: count, threads: threads, seed: seed, autoReset: true,
                                    cancellation: cancel)
        let n = batch.observationCount, actionsCount = math.architecture.actionCount
        precondition(n == math.architecture.observationCount && batch.actionCount == 1, "Q-network does not fit the world")
        var episodes = Episodes(count: count, horizon: maxSteps, observationCount: n, actionWidth: 1)
        var rngs = (0..<count).map { SeededGenerator(seed: SplitMix64.mix(seed, UInt64($0)), stream: RandomStream.policy) }
        var active = [Bool](repeating: true, count: count)
        var remaining = count
        var obs = [Double](repeating: 0, count: count * n), nextRow = [Double](repeating: 0, count: n)
        var chosen = [Int](repeating: 0, count: count)
        var cache = MLP.Cache()
        for t in 0..<maxSteps where remaining > 0 {
            if let cancel, cancel.isCancelled { break }
            for k in 0..<(count * n) { obs[k] = Double(batch.observations[k]) }
            math.forward(params, observations: obs, count: count, cache: &cache)
            let values = cache.output
            for i in 0..<count {
                // Both draws happen on every step, so an instance's sequence does not depend on ε.
                let explore = rngs[i].unit() < epsilon
                let random = rngs[i].integer(0, actionsCount - 1)
                var best = 0
                for j in 1..<actionsCount where values[i * actionsCount + j] > values[i * actionsCount + best] { best = j }
                chosen[i] = explore ? random : best
                batch.actions[i] = Float(chosen[i])
            }
            batch.step()
            for i in 0..<count where active[i] {
                let row = i * maxSteps + t
                for k in 0..<n { episodes.observations[row * n + k] = obs[i * n + k] }
                episodes.actions[row] = Double(chosen[i])
                episodes.rewards[row] = batch.rewards[i]
                let term = batch.terminated[i] != 0, trunc = batch.truncated[i] != 0
                let ended = term || trunc
                if replay != nil {
                    let source = ended ? batch.finalObservations : batch.observations
                    for k in 0..<n { nextRow[k] = Double(source[i * n + k]) }
                    obs.withUnsafeBufferPointer { o in
                        nextRow.withUnsafeBufferPointer { nx in
                            replay!.append(observation: UnsafeBufferPointer(rebasing: o[(i * n)..<((i + 1) * n)]), action: chosen[i],
                                           reward: batch.rewards[i], next: nx, terminated: term)
                        }
                    }
                }
                if ended || t == maxSteps - 1 {
                    active[i] = false
                    remaining -= 1
                    episodes.lengths[i] = t + 1
                    episodes.terminated[i] = term
                }
            }
        }
        return episodes
    }

    /// One double-DQN update of `params` (Adam) on a minibatch; returns the mean Huber loss.
    @discardableResult
    public func update(_ params: inout [Double], target: [Double], replay: ReplayBuffer, adam: inout Adam,
                       rng: inout SeededGenerator) -> Double {
        Self.update(&params, target: target, replay: replay, adam: &adam, rng: &rng, math: math, q: q, gamma: inner.gamma)
    }

    /// One double-DQN update of `params`: the TD loss's gradient on a minibatch of `replay`,
    /// clipped to a global norm of `q.gradientClip`, then an Adam step. Returns the loss.
    @discardableResult
    public static func update(_ params: inout [Double], target: [Double], replay: ReplayBuffer, adam: inout Adam,
                              rng: inout SeededGenerator, math: PolicyMath, q: QLearning, gamma: Double) -> Double {
        let batch = replay.sample(size: q.batchSize, rng: &rng)
        var (loss, g) = tdLoss(params, target: target, batch: batch, math: math, huberDelta: q.huberDelta, gamma: gamma)
        var norm = 0.0
        for x in g { norm += x * x }
        norm = norm.squareRoot()
        if norm > q.gradientClip { let s = q.gradientClip / norm; for i in 0..<g.count { g[i] *= s } }
        adam.step(&params, gradient: g)
        return loss
    }

    /// The double-DQN loss and its gradient in `params`: the mean over the batch of
    /// Huber(Q(s, a) − y), y = r + γ (1 − terminal) Q_target(s', argmax_a' Q(s', a')). The
    /// target y is held fixed (the semi-gradient of Q-learning; the argmax is piecewise constant).
    public static func tdLoss(_ params: [Double], target: [Double], batch: TransitionBatch, math: PolicyMath,
                              huberDelta h: Double, gamma: Double) -> (loss: Double, gradient: [Double]) {
        let size = batch.count, a = math.architecture.actionCount
        var online = MLP.Cache(), onlineNext = MLP.Cache(), targetNext = MLP.Cache()
        math.forward(params, observations: batch.observations, count: size, cache: &online)
        math.forward(params, observations: batch.nextObservations, count: size, cache: &onlineNext)
        math.forward(target, observations: batch.nextObservations, count: size, cache: &targetNext)
        let values = online.output, nextOnline = onlineNext.output, nextTarget = targetNext.output
        var dOut = [Double](repeating: 0, count: size * a)
        var loss = 0.0
        for b in 0..<size {
            var best = 0
            for j in 1..<a where nextOnline[b * a + j] > nextOnline[b * a + best] { best = j }
            let y = batch.rewards[b] + gamma * (1 - batch.terminal[b]) * nextTarget[b * a + best]
            let delta = values[b * a + batch.actions[b]] - y
            loss += abs(delta) <= h ? 0.5 * delta * delta : h * (abs(delta) - 0.5 * h)
            dOut[b * a + batch.actions[b]] = max(-h, min(h, delta)) / Double(size)
        }
        var g = [Double](repeating: 0, count: params.count)
        math.network.backward(params, cache: online, outputGradient: dOut, gradient: &g)
        return (loss / Double(size), g)
    }

    /// Adapts from `start`: `inner.steps` rounds of (ε-greedy episodes, `q.updates` updates), one
    /// replay buffer and one Adam state for the whole adaptation, the target network refreshed
    /// every `q.targetPeriod` updates. `returns[k]` is the mean return of the ε-greedy episodes
    /// collected with θ_k (with `evaluateFinal`, also θ_K's); with `deterministicEpisodes` > 0,
    /// `deterministicReturns[k]` is θ_k's greedy return on that many separate episodes.
    public func run(from start: [Double], seed: UInt64, evaluateFinal: Bool, deterministicEpisodes: Int = 0,
                    cancel: Cancellation? = nil, progress: (Int, Episodes) -> Void = { _, _ in }) throws(WorldError) -> Adaptation {
        var target = start
        var replay: ReplayBuffer? = ReplayBuffer(capacity: q.replayCapacity, observationCount: math.architecture.observationCount)
        var adam = Adam(count: start.count, learningRate: q.learningRate)
        var rng = SeededGenerator(seed: SplitMix64.mix(seed, 0x9E91A7), stream: RandomStream.policy)
        var none: ReplayBuffer?
        var updates = 0
        return try Adaptation.run(
            steps: inner.steps, from: start, evaluateFinal: evaluateFinal, cancel: cancel,
            scoreDeterministic: { theta, k throws(WorldError) in
                guard deterministicEpisodes > 0 else { return nil }
                return try collect(params: theta, count: deterministicEpisodes, epsilon: 0,
                                   seed: Adapter.deterministicSeed(seed, step: k), replay: &none).meanReturn
            },
            // The final evaluation's episodes (k = steps) go into the buffer too, but no update follows.
            collect: { theta, k throws(WorldError) in
                try collect(params: theta, count: inner.episodes, epsilon: q.epsilon, seed: Adapter.episodeSeed(seed, step: k),
                            replay: &replay, cancel: cancel)
            },
            update: { theta, _, _ in
                for _ in 0..<q.updates {
                    // Cancelled: the run ends after this step's update (and drops it).
                    if let cancel, cancel.isCancelled { break }
                    update(&theta, target: target, replay: replay!, adam: &adam, rng: &rng)
                    updates += 1
                    if updates % q.targetPeriod == 0 { target = theta }
                }
                return nil
            },
            progress: progress)
    }
}
