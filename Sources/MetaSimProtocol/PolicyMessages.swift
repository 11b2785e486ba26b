/// The JSON metadata of protocol 1.1's policy requests (docs/protocol.md, "Policies"):
/// list_policies, adapt, act, run_episodes, open_external, record, save_policy.

/// A policy's inner loop: `adapt`'s defaults for it, and the steps it was meta-trained for.
public struct InnerBudget: Codable, Sendable, Equatable {
    /// Inner steps and episodes per step `adapt` takes by default.
    public var steps: Int
    public var episodes: Int
    /// One rate per inner step (meta-learned, or past the meta-trained steps chosen by `metasim
    /// tune`), or one rate for every step.
    public var learningRates: [Double]
    /// True when the policy also scales each parameter's step by its own meta-learned
    /// multiplier (Meta-SGD); absent otherwise.
    public var perParameterRates: Bool?
    /// The inner steps per task of its meta-training (MAML, first-order MAML, Reptile), which can
    /// be fewer than `steps`; absent for a policy trained without such an inner loop (multi-task,
    /// meta-Q-learning) and from daemons before this field.
    public var trainedSteps: Int?
    public init(steps: Int, episodes: Int, learningRates: [Double], perParameterRates: Bool? = nil, trainedSteps: Int? = nil) {
        self.steps = steps
        self.episodes = episodes
        self.learningRates = learningRates
        self.perParameterRates = perParameterRates
        self.trainedSteps = trainedSteps
    }
    enum CodingKeys: String, CodingKey {
        case steps, episodes, learningRates = "learning_rates", perParameterRates = "per_parameter_rates", trainedSteps = "trained_steps"
    }
}

/// ProMP's outer loop a policy was meta-trained with (`metasim train --outer-epochs`).
public struct ProximalInfo: Codable, Sendable, Equatable {
    /// Clipped outer steps per iteration, and the clip range.
    public var epochs: Int
    public var clip: Double
    public init(epochs: Int, clip: Double) {
        self.epochs = epochs
        self.clip = clip
    }
}

/// A checkpoint the daemon serves (`list_policies`).
public struct PolicyInfo: Codable, Sendable, Equatable {
    /// The file name without `.safetensors`: what adapt's `policy` names.
    public var name: String
    /// The world family it was trained on (a catalog name) and that file's SHA-256.
    public var world: String
    public var worldFileHash: String
    public var algorithm: String
    public var observation: WireTensorSpec
    public var action: WireTensorSpec
    public var discreteActions: Int?
    public var inner: InnerBudget
    public var trainingSeed: UInt64
    /// Set on a checkpoint saved after adaptation: the task it was adapted to.
    public var adaptedTaskSeed: UInt64?
    /// The episode length it was trained with when that replaced the world's (`metasim train
    /// --horizon`): open sessions with this `horizon` to reproduce its figures.
    public var trainingHorizon: Int?
    /// True for a meta-learned initialization (MAML, first-order MAML, Reptile, meta-Q-learning)
    /// not yet adapted: its parameters are a starting point for `adapt`, and acting with them
    /// as they are can score far below its adapted figures. False for a multi-task policy or a
    /// checkpoint saved after adaptation. Absent from daemons before this field.
    public var adaptFirst: Bool?
    /// Set when the policy was meta-trained with ProMP's outer loop (`algorithm` stays `maml` or
    /// `fomaml`: the inner loop, and so `adapt`, is the same).
    public var proximal: ProximalInfo?
    /// True for a policy a client saved (`save_policy`, the saved-policies folder); absent for
    /// the configured ones (the policies folder), which clients cannot overwrite.
    public var saved: Bool?
    public init(name: String, world: String, worldFileHash: String, algorithm: String, observation: WireTensorSpec,
                action: WireTensorSpec, discreteActions: Int?, inner: InnerBudget, trainingSeed: UInt64, adaptedTaskSeed: UInt64?,
                trainingHorizon: Int? = nil, adaptFirst: Bool? = nil, proximal: ProximalInfo? = nil) {
        self.trainingHorizon = trainingHorizon
        self.adaptFirst = adaptFirst
        self.proximal = proximal
        self.name = name
        self.world = world
        self.worldFileHash = worldFileHash
        self.algorithm = algorithm
        self.observation = observation
        self.action = action
        self.discreteActions = discreteActions
        self.inner = inner
        self.trainingSeed = trainingSeed
        self.adaptedTaskSeed = adaptedTaskSeed
    }
    enum CodingKeys: String, CodingKey {
        case name, world, worldFileHash = "world_file_hash", algorithm, observation, action, discreteActions = "discrete_actions",
             inner, trainingSeed = "training_seed", adaptedTaskSeed = "adapted_task_seed",
             trainingHorizon = "training_horizon", adaptFirst = "adapt_first", proximal, saved
    }
}

/// A file of the policies folder the daemon could not load, and why.
public struct RejectedPolicy: Codable, Sendable, Equatable {
    public var file: String
    public var error: String
    public init(file: String, error: String) {
        self.file = file
        self.error = error
    }
}

public struct ListPoliciesReply: Codable, Sendable {
    public var policies: [PolicyInfo]
    public var rejected: [RejectedPolicy]
    public init(policies: [PolicyInfo], rejected: [RejectedPolicy]) {
        self.policies = policies
        self.rejected = rejected
    }
}

/// Adapts the session's policy. With `policy`, starts from that checkpoint's (meta-learned)
/// parameters; without, continues from the session's current ones. A simulated session runs
/// `steps` inner steps of `episodes` episodes each on its own world (0 steps: just take the
/// policy); an external session takes one step on the episodes it recorded since its last adapt.
public struct AdaptRequest: Codable, Sendable {
    public var session: UInt32
    public var policy: String?
    public var steps: Int?
    public var episodes: Int?
    /// Inner learning rate for every step (default: the policy's own rates).
    public var learningRate: Double?
    /// Episode seed of the adaptation (default 0): the same seed gives the same parameters.
    public var seed: UInt64?
    /// Also run `episodes` episodes with the final parameters and report their mean return.
    public var evaluate: Bool?
    /// Stepping threads for the adaptation's episodes (default: the session's).
    public var threads: Int?
    public init(session: UInt32, policy: String? = nil, steps: Int? = nil, episodes: Int? = nil, learningRate: Double? = nil,
                seed: UInt64? = nil, evaluate: Bool? = nil, threads: Int? = nil) {
        self.session = session
        self.policy = policy
        self.steps = steps
        self.episodes = episodes
        self.learningRate = learningRate
        self.seed = seed
        self.evaluate = evaluate
        self.threads = threads
    }
    public static let keys: Set<String> = ["session", "policy", "steps", "episodes", "learning_rate", "seed", "evaluate", "threads"]
    enum CodingKeys: String, CodingKey { case session, policy, steps, episodes, learningRate = "learning_rate", seed, evaluate, threads }
}

/// An adapt progress event (flag EVENT, the adapt request's id), after each inner step.
public struct AdaptProgress: Codable, Sendable, Equatable {
    public var event: String
    public var session: UInt32
    /// Inner steps done, of `steps`.
    public var step: Int
    public var steps: Int
    /// Episodes run so far by this adaptation.
    public var episodes: Int
    /// Mean return of the episodes this step learned from (those of the parameters before it).
    public var meanReturn: Double
    public init(session: UInt32, step: Int, steps: Int, episodes: Int, meanReturn: Double) {
        self.event = "progress"
        self.session = session
        self.step = step
        self.steps = steps
        self.episodes = episodes
        self.meanReturn = meanReturn
    }
    enum CodingKeys: String, CodingKey { case event, session, step, steps, episodes, meanReturn = "mean_return" }
}

public struct AdaptReply: Codable, Sendable, Equatable {
    public var session: UInt32
    public var policy: String
    /// Inner steps taken from the checkpoint's parameters, over every adapt since the policy was taken.
    public var adaptedSteps: Int
    /// Mean return of each step's episodes, k = 0 … steps − 1 (k = 0: before this adapt), then
    /// with `evaluate` the final parameters' mean return.
    public var returns: [Double]
    public var episodesPerStep: Int
    /// Seconds from the request to the response's start (queueing for a worker included).
    public var seconds: Double
    public init(session: UInt32, policy: String, adaptedSteps: Int, returns: [Double], episodesPerStep: Int, seconds: Double) {
        self.session = session
        self.policy = policy
        self.adaptedSteps = adaptedSteps
        self.returns = returns
        self.episodesPerStep = episodesPerStep
        self.seconds = seconds
    }
    enum CodingKeys: String, CodingKey { case session, policy, adaptedSteps = "adapted_steps", returns, episodesPerStep = "episodes_per_step", seconds }
}

/// Actions of the session's policy for a batch of observations (data: count × observation
/// float32). Deterministic (the mean, or the most likely action) unless `deterministic` is false;
/// sampled actions come from the session's policy random stream, restarted by `seed`.
public struct ActRequest: Codable, Sendable {
    public var session: UInt32
    public var deterministic: Bool?
    public var seed: UInt64?
    public init(session: UInt32, deterministic: Bool? = nil, seed: UInt64? = nil) {
        self.session = session
        self.deterministic = deterministic
        self.seed = seed
    }
    public static let keys: Set<String> = ["session", "deterministic", "seed"]
}

/// The daemon drives the session's world with its policy until `episodes` episodes have ended.
public struct RunEpisodesRequest: Codable, Sendable {
    public var session: UInt32
    /// Episodes to finish (default: the batch size).
    public var episodes: Int?
    public var deterministic: Bool?
    /// A step event every `decimation` steps (default 1); 0: episode events only.
    public var decimation: Int?
    /// Batch episode seed: every instance is reset first (instance i to mix(seed, i)). Default:
    /// the session's seed.
    public var seed: UInt64?
    /// The seed of the policy's sampling (default: `seed`), for `deterministic: false`.
    public var policySeed: UInt64?
    public init(session: UInt32, episodes: Int? = nil, deterministic: Bool? = nil, decimation: Int? = nil,
                seed: UInt64? = nil, policySeed: UInt64? = nil) {
        self.session = session
        self.episodes = episodes
        self.deterministic = deterministic
        self.decimation = decimation
        self.seed = seed
        self.policySeed = policySeed
    }
    public static let keys: Set<String> = ["session", "episodes", "deterministic", "decimation", "seed", "policy_seed"]
    enum CodingKeys: String, CodingKey { case session, episodes, deterministic, decimation, seed, policySeed = "policy_seed" }
}

/// A run_episodes event: `step` (data: the step reply then the actions, as an observer's step
/// event) or `episode` (an episode ended: its instance, return, length and how it ended).
public struct RunEvent: Codable, Sendable, Equatable {
    public var event: String
    public var session: UInt32
    /// Steps since the run began (1 after the first step).
    public var step: Int?
    public var instance: Int?
    /// The episode's number in the run (0-based, in order of ending; ties by instance).
    public var index: Int?
    public var `return`: Double?
    public var length: Int?
    public var terminated: Bool?
    public init(event: String, session: UInt32, step: Int? = nil, instance: Int? = nil, index: Int? = nil,
                return: Double? = nil, length: Int? = nil, terminated: Bool? = nil) {
        self.event = event
        self.session = session
        self.step = step
        self.instance = instance
        self.index = index
        self.return = `return`
        self.length = length
        self.terminated = terminated
    }
}

public struct RunEpisodesReply: Codable, Sendable, Equatable {
    public var session: UInt32
    /// In order of ending (ties by instance): each episode's instance, return and length.
    public var instances: [Int]
    public var returns: [Double]
    public var lengths: [Int]
    public var meanReturn: Double
    /// Steps of the batch the run took.
    public var steps: Int
    public init(session: UInt32, instances: [Int], returns: [Double], lengths: [Int], meanReturn: Double, steps: Int) {
        self.session = session
        self.instances = instances
        self.returns = returns
        self.lengths = lengths
        self.meanReturn = meanReturn
        self.steps = steps
    }
    enum CodingKeys: String, CodingKey { case session, instances, returns, lengths, meanReturn = "mean_return", steps }
}

/// Opens a session on a world the client runs itself (a robot, another simulator): the family
/// (`world`, a catalog name, or `yaml`) names which policies fit, and the client's specs must
/// match the family's. The daemon acts, records the experience the client sends, and adapts.
public struct OpenExternalRequest: Codable, Sendable {
    public var world: String?
    public var yaml: String?
    public var file: String?
    /// Instances the client runs side by side (default 1): record sends one transition each.
    public var batch: Int?
    public var observation: WireTensorSpec
    public var action: WireTensorSpec
    public var discreteActions: Int?
    public init(world: String? = nil, yaml: String? = nil, file: String? = nil, batch: Int? = nil,
                observation: WireTensorSpec, action: WireTensorSpec, discreteActions: Int? = nil) {
        self.world = world
        self.yaml = yaml
        self.file = file
        self.batch = batch
        self.observation = observation
        self.action = action
        self.discreteActions = discreteActions
    }
    public static let keys: Set<String> = ["world", "yaml", "file", "batch", "observation", "action", "discrete_actions"]
    enum CodingKeys: String, CodingKey { case world, yaml, file, batch, observation, action, discreteActions = "discrete_actions" }
}

/// The reply to record: what the session holds for its next adapt.
public struct RecordReply: Codable, Sendable, Equatable {
    public var session: UInt32
    /// Complete episodes recorded since the last adapt, and their mean return.
    public var episodes: Int
    public var meanReturn: Double?
    /// Transitions held, in complete and unfinished episodes.
    public var transitions: Int
    public init(session: UInt32, episodes: Int, meanReturn: Double?, transitions: Int) {
        self.session = session
        self.episodes = episodes
        self.meanReturn = meanReturn
        self.transitions = transitions
    }
    enum CodingKeys: String, CodingKey { case session, episodes, meanReturn = "mean_return", transitions }
}

/// Saves the session's (adapted) policy as `NAME.safetensors` in the policies folder, atomically.
public struct SavePolicyRequest: Codable, Sendable {
    public var session: UInt32
    public var name: String
    public var overwrite: Bool?
    public init(session: UInt32, name: String, overwrite: Bool? = nil) {
        self.session = session
        self.name = name
        self.overwrite = overwrite
    }
    public static let keys: Set<String> = ["session", "name", "overwrite"]
}

public struct SavePolicyReply: Codable, Sendable, Equatable {
    public var policy: PolicyInfo
    public var file: String
    public init(policy: PolicyInfo, file: String) {
        self.policy = policy
        self.file = file
    }
}

// MARK: Protocol 1.2: a recurrent policy's state

/// The reply of `policy_state`, `reset_policy_state` and `save_policy_state` (whose data is the
/// state: `values` float64), and of `restore_policy_state`: the session's policy state's size
/// and what a saved state must match to be restored.
public struct PolicyStateReply: Codable, Sendable, Equatable {
    public var session: UInt32
    /// Values of the state (instances × values per instance).
    public var values: Int
    /// Values per instance: the GRU state, the previous action, the previous reward, the
    /// episode-end flag, whether the instance has acted since its state was reset.
    public var valuesPerInstance: Int
    /// The values' type: "float64".
    public var dtype: String
    /// The architecture tag a restored state must carry (cell, size, inputs, observation and action layout).
    public var architecture: String
    public init(session: UInt32, values: Int, valuesPerInstance: Int, dtype: String = PolicyStateReply.dtype, architecture: String) {
        self.session = session
        self.values = values
        self.valuesPerInstance = valuesPerInstance
        self.dtype = dtype
        self.architecture = architecture
    }
    public static let dtype = "float64"
    enum CodingKeys: String, CodingKey {
        case session, values, valuesPerInstance = "values_per_instance", dtype, architecture
    }
}

/// `restore_policy_state`: data is the state, `values` float64 (as `save_policy_state` gave it).
public struct RestorePolicyStateRequest: Codable, Sendable, Equatable {
    public var session: UInt32
    /// The tag `save_policy_state` replied with.
    public var architecture: String
    /// The values in the data (checked against the data's size and the session's state).
    public var values: Int
    /// "float64" (the default; no other type is accepted).
    public var dtype: String?
    public init(session: UInt32, architecture: String, values: Int, dtype: String? = nil) {
        self.session = session
        self.architecture = architecture
        self.values = values
        self.dtype = dtype
    }
    public static let keys: Set<String> = ["session", "architecture", "values", "dtype"]
}
