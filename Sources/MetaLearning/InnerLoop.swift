/// The adaptation budget and update rule: `steps` vanilla policy-gradient (REINFORCE with a
/// linear feature baseline and GAE) SGD steps, each on `episodes` fresh episodes of the task.
/// Defaults follow MAML's 2D navigation: learning rate 0.1, 20 episodes, γ 0.99, λ 1.
public struct InnerLoop: Sendable, Codable, Equatable {
    public var steps: Int
    public var episodes: Int
    public var learningRate: Double
    public var gamma: Double
    public var lambda: Double

    public init(steps: Int = 1, episodes: Int = 20, learningRate: Double = 0.1, gamma: Double = 0.99, lambda: Double = 1) {
        self.steps = steps
        self.episodes = episodes
        self.learningRate = learningRate
        self.gamma = gamma
        self.lambda = lambda
    }

    /// The learning rate of step k: the k-th meta-learned rate of `rates` (the last one for any
    /// later step), or `learningRate` when there are none.
    public func learningRate(step k: Int, rates: [Double]) -> Double {
        rates.isEmpty ? learningRate : rates[min(k, rates.count - 1)]
    }

    /// The learning rate of each of the `steps` steps (`learningRate(step:rates:)`).
    public func stepLearningRates(_ rates: [Double]) -> [Double] {
        (0..<steps).map { learningRate(step: $0, rates: rates) }
    }
}

/// Where task seeds come from: training draws from `training`, evaluation from the reserved
/// `evaluation` range; the two never overlap, and evaluation refuses training seeds.
public enum TaskSeeds {
    public static let training: Range<UInt64> = 0..<1_000_000_000
    public static let evaluation: Range<UInt64> = 1_000_000_000..<2_000_000_000
}
