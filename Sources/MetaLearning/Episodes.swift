/// Episodes of one task collected with one policy, padded to a common horizon: step t of episode
/// e is row `e * horizon + t`, valid while t < lengths[e].
public struct Episodes: Sendable {
    public let count: Int
    public let horizon: Int
    public let observationCount: Int
    public let actionWidth: Int
    /// Raw observations before each step (count × horizon × observationCount).
    public var observations: [Double]
    /// The policy's samples, in its own units before scaling and clipping (count × horizon ×
    /// actionWidth).
    public var actions: [Double]
    /// count × horizon rewards (0 past the end).
    public var rewards: [Double]
    public var lengths: [Int]
    /// Whether each episode ended by termination (true) rather than truncation or the horizon.
    public var terminated: [Bool]

    public init(count: Int, horizon: Int, observationCount: Int, actionWidth: Int) {
        self.count = count
        self.horizon = horizon
        self.observationCount = observationCount
        self.actionWidth = actionWidth
        observations = [Double](repeating: 0, count: count * horizon * observationCount)
        actions = [Double](repeating: 0, count: count * horizon * actionWidth)
        rewards = [Double](repeating: 0, count: count * horizon)
        lengths = [Int](repeating: 0, count: count)
        terminated = [Bool](repeating: false, count: count)
    }

    /// Undiscounted return of each episode.
    public var returns: [Double] {
        (0..<count).map { e in
            var s = 0.0
            for t in 0..<lengths[e] { s += rewards[e * horizon + t] }
            return s
        }
    }

    public var meanReturn: Double { returns.reduce(0, +) / Double(max(count, 1)) }

    public var stepCount: Int { lengths.reduce(0, +) }

    /// The valid steps as a sample batch with the given per-row weights (count × horizon, only
    /// valid rows are read).
    public func sampleBatch(weights: [Double]) -> SampleBatch {
        let n = stepCount
        var obs: [Double] = [], act: [Double] = [], w: [Double] = []
        obs.reserveCapacity(n * observationCount); act.reserveCapacity(n * actionWidth); w.reserveCapacity(n)
        for e in 0..<count {
            for t in 0..<lengths[e] {
                let row = e * horizon + t
                obs.append(contentsOf: observations[(row * observationCount)..<((row + 1) * observationCount)])
                act.append(contentsOf: actions[(row * actionWidth)..<((row + 1) * actionWidth)])
                w.append(weights[row])
            }
        }
        return SampleBatch(count: n, observations: obs, actions: act, weights: w)
    }
}
