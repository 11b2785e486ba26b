/// The results of one unit: what the journal stores per line and the outputs are made from.
/// Identical for a unit whatever `--jobs`, sharding or resuming did.
public struct UnitResult: Codable, Sendable, Equatable {
    public struct Episode: Codable, Sendable, Equatable {
        public var episode: Int
        public var seed: UInt64
        public var episodeReturn: Double
        public var length: Int
        /// A termination's name, or "horizon".
        public var end: String

        enum CodingKeys: String, CodingKey {
            case episode, seed, length, end
            case episodeReturn = "return"
        }
    }

    public var unit: Int
    public var key: String
    public var world: String
    public var taskSeed: UInt64?
    /// The task's family parameters and grid overrides.
    public var params: [String: Double]
    public var policy: String
    /// For checkpoint policies: adaptation steps before evaluation (0: none).
    public var adaptSteps: Int?
    /// For adapted checkpoint policies: the mean return of the adaptation's own episodes with the
    /// parameters after 0, 1, …, `adaptSteps` steps (`adapt_steps + 1` values; the last is scored
    /// on episodes sampled after the final step). Absent for other policies.
    public var adaptReturns: [Double]?
    public var episodes: [Episode]

    enum CodingKeys: String, CodingKey {
        case unit, key, world, params, policy, episodes
        case taskSeed = "task_seed"
        case adaptSteps = "adapt_steps"
        case adaptReturns = "adapt_returns"
    }

    /// One line of `episodes.jsonl`.
    public struct EpisodeLine: Codable, Sendable, Equatable {
        public var unit: Int
        public var key: String
        public var world: String
        public var taskSeed: UInt64?
        public var params: [String: Double]
        public var policy: String
        public var adaptSteps: Int?
        /// The unit's `adaptReturns`, repeated on each of its lines.
        public var adaptReturns: [Double]?
        public var episode: Int
        public var episodeSeed: UInt64
        public var episodeReturn: Double
        public var length: Int
        public var end: String

        enum CodingKeys: String, CodingKey {
            case unit, key, world, params, policy, episode, length, end
            case taskSeed = "task_seed"
            case adaptSteps = "adapt_steps"
            case adaptReturns = "adapt_returns"
            case episodeSeed = "episode_seed"
            case episodeReturn = "return"
        }
    }

    public var lines: [EpisodeLine] {
        episodes.map {
            EpisodeLine(unit: unit, key: key, world: world, taskSeed: taskSeed, params: params, policy: policy,
                        adaptSteps: adaptSteps, adaptReturns: adaptReturns, episode: $0.episode, episodeSeed: $0.seed,
                        episodeReturn: $0.episodeReturn, length: $0.length, end: $0.end)
        }
    }
}
