/// Runs whole episodes headless: reset with an episode seed, act, step until the episode ends.
/// Shared by `metasim run` and the batch runner so both count returns, lengths and end reasons
/// the same way.
public struct EpisodeRunner {
    /// What one episode gave.
    public struct Outcome: Sendable, Equatable {
        public var seed: UInt64
        public var episodeReturn: Double
        public var length: Int
        /// The end reason: a termination's name, or "horizon".
        public var end: String
    }

    public let world: World
    private var action: [Float]

    public init(world: World) {
        self.world = world
        action = [Float](repeating: 0, count: world.actionCount)
    }

    /// One episode from `seed`; `act` writes each action (`world.actionCount` floats) into its
    /// buffer, `observe` is told each step's outcome.
    public mutating func run(seed: UInt64, act: (UnsafeMutablePointer<Float>) -> Void,
                             observe: (StepResult) -> Void = { _ in }) -> Outcome {
        world.reset(seed: seed)
        var result: StepResult
        repeat {
            action.withUnsafeMutableBufferPointer { act($0.baseAddress!) }
            result = action.withUnsafeBufferPointer { world.step($0) }
            observe(result)
        } while !(result.terminated || result.truncated)
        return Outcome(seed: seed, episodeReturn: world.episodeReturn, length: world.episodeLength,
                       end: result.end?.description ?? "?")
    }

    /// One episode from `seed` with a baseline policy.
    public mutating func run(seed: UInt64, policy: inout BaselinePolicy) -> Outcome {
        run(seed: seed) { policy.act(into: $0) }
    }

    /// One episode from `seed` with a policy that sees the observations and is told each step's
    /// reward and end. The policy is reset with the same seed first, so the episode is a
    /// function of the seed alone (and, for a policy with memory, of the episodes before it).
    public mutating func run(seed: UInt64, resetting policy: inout some EpisodePolicy) -> Outcome {
        policy.reset(seed: seed)
        let world = self.world
        let observation = UnsafeBufferPointer(start: world.observationBuffer.baseAddress, count: world.observationCount)
        return run(seed: seed, act: { policy.act(observation: observation, into: $0) },
                   observe: { policy.observe(reward: $0.reward, ended: $0.terminated || $0.truncated) })
    }
}
