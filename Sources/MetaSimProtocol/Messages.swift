/// The JSON metadata of protocol v1 requests and responses (docs/protocol.md). Keys are
/// snake_case on the wire; requests are strict (an unknown key is an error, see `MetaCoding`).

/// A tensor spec as dm_env_rpc gives it: name, shape, dtype and per-entry bounds. An infinite
/// bound is sent as null (JSON has no infinity).
public struct WireTensorSpec: Codable, Sendable, Equatable {
    public var name: String
    public var shape: [Int]
    public var dtype: String
    public var low: [Double?]
    public var high: [Double?]
    public var entries: [String]

    public init(name: String, shape: [Int], dtype: String, low: [Double], high: [Double], entries: [String]) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.low = low.map { $0.isFinite ? $0 : nil }
        self.high = high.map { $0.isFinite ? $0 : nil }
        self.entries = entries
    }

    public var count: Int { shape.reduce(1, *) }
    public var lowBounds: [Double] { low.map { $0 ?? -.infinity } }
    public var highBounds: [Double] { high.map { $0 ?? .infinity } }
}

public struct HelloRequest: Codable, Sendable {
    public var `protocol`: ProtocolVersion
    public var client: String?
    public var capabilities: [String]?
    public init(protocol: ProtocolVersion = .current, client: String? = nil, capabilities: [String]? = nil) {
        self.protocol = `protocol`
        self.client = client
        self.capabilities = capabilities
    }
    public static let keys: Set<String> = ["protocol", "client", "capabilities"]
}

public struct ServerLimits: Codable, Sendable, Equatable {
    public var maxFrame: Int
    public var maxSessionsPerConnection: Int
    public var maxBatch: Int
    public var maxConnections: Int
    public var idleTimeoutSeconds: Double
    /// The request deadlines (`deadline_exceeded` past them); absent from servers before them.
    public var requestDeadlineSeconds: Double?
    public var adaptDeadlineSeconds: Double?
    /// Memory and step budgets (estimated bytes per session and for all sessions, Box2D
    /// substeps per reset); absent from servers before them.
    public var maxSessionMemoryBytes: Int?
    public var maxMemoryBytes: Int?
    public var maxResetSubsteps: Int?
    public init(maxFrame: Int, maxSessionsPerConnection: Int, maxBatch: Int, maxConnections: Int, idleTimeoutSeconds: Double,
                requestDeadlineSeconds: Double? = nil, adaptDeadlineSeconds: Double? = nil,
                maxSessionMemoryBytes: Int? = nil, maxMemoryBytes: Int? = nil, maxResetSubsteps: Int? = nil) {
        self.maxFrame = maxFrame
        self.maxSessionsPerConnection = maxSessionsPerConnection
        self.maxBatch = maxBatch
        self.maxConnections = maxConnections
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.requestDeadlineSeconds = requestDeadlineSeconds
        self.adaptDeadlineSeconds = adaptDeadlineSeconds
        self.maxSessionMemoryBytes = maxSessionMemoryBytes
        self.maxMemoryBytes = maxMemoryBytes
        self.maxResetSubsteps = maxResetSubsteps
    }
    enum CodingKeys: String, CodingKey {
        case maxFrame = "max_frame", maxSessionsPerConnection = "max_sessions_per_connection", maxBatch = "max_batch", maxConnections = "max_connections", idleTimeoutSeconds = "idle_timeout_seconds"
        case requestDeadlineSeconds = "request_deadline_seconds", adaptDeadlineSeconds = "adapt_deadline_seconds"
        case maxSessionMemoryBytes = "max_session_memory_bytes", maxMemoryBytes = "max_memory_bytes", maxResetSubsteps = "max_reset_substeps"
    }
}

public struct HelloReply: Codable, Sendable {
    public var `protocol`: ProtocolVersion
    public var server: String
    public var capabilities: [String]
    public var limits: ServerLimits
    public init(protocol: ProtocolVersion, server: String, capabilities: [String], limits: ServerLimits) {
        self.protocol = `protocol`
        self.server = server
        self.capabilities = capabilities
        self.limits = limits
    }
}

public struct ParameterInfo: Codable, Sendable, Equatable {
    public var name: String
    public var distribution: String
    public var nominal: Double
    public init(name: String, distribution: String, nominal: Double) {
        self.name = name
        self.distribution = distribution
        self.nominal = nominal
    }
}

public struct WorldInfo: Codable, Sendable, Equatable {
    public var name: String
    public var kind: String
    public var path: String
    public var description: String
    public var observation: WireTensorSpec
    public var action: WireTensorSpec
    public var discreteActions: Int?
    public var parameters: [ParameterInfo]
    /// The world's `episode.horizon` (0: none) and `episode.reward_threshold` (absent when the
    /// file declares none); absent from servers before them.
    public var horizon: Int?
    public var rewardThreshold: Double?
    public init(name: String, kind: String, path: String, description: String, observation: WireTensorSpec,
                action: WireTensorSpec, discreteActions: Int?, parameters: [ParameterInfo], horizon: Int? = nil,
                rewardThreshold: Double? = nil) {
        self.horizon = horizon
        self.rewardThreshold = rewardThreshold
        self.name = name
        self.kind = kind
        self.path = path
        self.description = description
        self.observation = observation
        self.action = action
        self.discreteActions = discreteActions
        self.parameters = parameters
    }
    enum CodingKeys: String, CodingKey { case name, kind, path, description, observation, action, discreteActions = "discrete_actions", parameters, horizon, rewardThreshold = "reward_threshold" }
}

public struct ListWorldsReply: Codable, Sendable {
    public var worlds: [WorldInfo]
    public init(worlds: [WorldInfo]) { self.worlds = worlds }
}

/// Opens a session: `world` (a catalog name) or `yaml` (a whole world file inline, with `file`
/// naming it in error messages); the task is the nominal one, the one `task_seed` samples, and
/// `params` overrides either; `seed` is the batch's episode seed.
public struct OpenRequest: Codable, Sendable {
    public var world: String?
    public var yaml: String?
    public var file: String?
    public var batch: Int?
    public var threads: Int?
    public var taskSeed: UInt64?
    public var params: [String: Double]?
    public var seed: UInt64?
    public var autoReset: Bool?
    /// Protocol 1.1: the episode length for this session, replacing the world's `episode.horizon`
    /// (e.g. a policy's `training_horizon`).
    public var horizon: Int?
    public init(world: String? = nil, yaml: String? = nil, file: String? = nil, batch: Int? = nil, threads: Int? = nil,
                taskSeed: UInt64? = nil, params: [String: Double]? = nil, seed: UInt64? = nil, autoReset: Bool? = nil,
                horizon: Int? = nil) {
        self.horizon = horizon
        self.world = world
        self.yaml = yaml
        self.file = file
        self.batch = batch
        self.threads = threads
        self.taskSeed = taskSeed
        self.params = params
        self.seed = seed
        self.autoReset = autoReset
    }
    public static let keys: Set<String> = ["world", "yaml", "file", "batch", "threads", "task_seed", "params", "seed", "auto_reset", "horizon"]
    enum CodingKeys: String, CodingKey { case world, yaml, file, batch, threads, taskSeed = "task_seed", params, seed, autoReset = "auto_reset", horizon }
}

public struct TaskInfo: Codable, Sendable, Equatable {
    public var seed: UInt64?
    public var params: [String: Double]
    public init(seed: UInt64?, params: [String: Double]) {
        self.seed = seed
        self.params = params
    }
}

/// The reply to open, set_task and observe; open and set_task carry the first observations
/// (batch × observation float32) as data.
public struct SessionReply: Codable, Sendable {
    public var session: UInt32
    public var world: String
    public var batch: Int
    public var threads: Int
    public var autoReset: Bool
    public var observation: WireTensorSpec
    public var action: WireTensorSpec
    public var discreteActions: Int?
    public var task: TaskInfo
    public var seed: UInt64
    /// Protocol 1.1: true for an external session (the client runs the world), absent otherwise.
    public var external: Bool?
    /// Protocol 1.1: the session's episode length (0: no limit), absent for external sessions.
    public var horizon: Int?
    /// The world's `episode.reward_threshold`, absent when its file declares none.
    public var rewardThreshold: Double?
    public init(session: UInt32, world: String, batch: Int, threads: Int, autoReset: Bool, observation: WireTensorSpec,
                action: WireTensorSpec, discreteActions: Int?, task: TaskInfo, seed: UInt64, external: Bool? = nil,
                horizon: Int? = nil, rewardThreshold: Double? = nil) {
        self.external = external
        self.horizon = horizon
        self.rewardThreshold = rewardThreshold
        self.session = session
        self.world = world
        self.batch = batch
        self.threads = threads
        self.autoReset = autoReset
        self.observation = observation
        self.action = action
        self.discreteActions = discreteActions
        self.task = task
        self.seed = seed
    }
    enum CodingKeys: String, CodingKey { case session, world, batch, threads, autoReset = "auto_reset", observation, action, discreteActions = "discrete_actions", task, seed, external, horizon, rewardThreshold = "reward_threshold" }
}

/// Resets all instances (or `instances`): with `seeds` (one per listed instance) to those
/// episode seeds, with `seed` as the batch's episode seed (instance i gets mix(seed, i)), with
/// neither to each instance's next episode. The reply's data is all observations.
public struct ResetRequest: Codable, Sendable {
    public var session: UInt32
    public var instances: [Int]?
    public var seeds: [UInt64]?
    public var seed: UInt64?
    public init(session: UInt32, instances: [Int]? = nil, seeds: [UInt64]? = nil, seed: UInt64? = nil) {
        self.session = session
        self.instances = instances
        self.seeds = seeds
        self.seed = seed
    }
    public static let keys: Set<String> = ["session", "instances", "seeds", "seed"]
}

/// A new world of the family on an open session: the same file and batch, a new task.
public struct SetTaskRequest: Codable, Sendable {
    public var session: UInt32
    public var taskSeed: UInt64?
    public var params: [String: Double]?
    public var seed: UInt64?
    public init(session: UInt32, taskSeed: UInt64? = nil, params: [String: Double]? = nil, seed: UInt64? = nil) {
        self.session = session
        self.taskSeed = taskSeed
        self.params = params
        self.seed = seed
    }
    public static let keys: Set<String> = ["session", "task_seed", "params", "seed"]
    enum CodingKeys: String, CodingKey { case session, taskSeed = "task_seed", params, seed }
}

/// Names a session: close, observe, unobserve.
public struct SessionRequest: Codable, Sendable {
    public var session: UInt32
    public init(session: UInt32) { self.session = session }
    public static let keys: Set<String> = ["session"]
}

public struct StatusReply: Codable, Sendable {
    public var server: String
    public var `protocol`: ProtocolVersion
    public var uptimeSeconds: Double
    public var connections: Int
    public var sessions: Int
    public var instances: Int
    public var observers: Int
    public var requests: UInt64
    public var steps: UInt64
    public var worlds: Int
    public var draining: Bool
    /// Protocol 1.1: policies served, adaptations running and waiting for a worker.
    public var policies: Int?
    public var adaptations: Int?
    public var adaptationsWaiting: Int?
    /// Requests whose work was cut short since the start: past their deadline (answered
    /// `deadline_exceeded`), or cancelled because their client went away or the server stopped.
    public var deadlinesExceeded: UInt64?
    public var requestsCancelled: UInt64?
    public init(server: String, protocol: ProtocolVersion, uptimeSeconds: Double, connections: Int, sessions: Int,
                instances: Int, observers: Int, requests: UInt64, steps: UInt64, worlds: Int, draining: Bool,
                policies: Int? = nil, adaptations: Int? = nil, adaptationsWaiting: Int? = nil,
                deadlinesExceeded: UInt64? = nil, requestsCancelled: UInt64? = nil) {
        self.deadlinesExceeded = deadlinesExceeded
        self.requestsCancelled = requestsCancelled
        self.policies = policies
        self.adaptations = adaptations
        self.adaptationsWaiting = adaptationsWaiting
        self.server = server
        self.protocol = `protocol`
        self.uptimeSeconds = uptimeSeconds
        self.connections = connections
        self.sessions = sessions
        self.instances = instances
        self.observers = observers
        self.requests = requests
        self.steps = steps
        self.worlds = worlds
        self.draining = draining
    }
    enum CodingKeys: String, CodingKey { case server, `protocol`, uptimeSeconds = "uptime_seconds", connections, sessions, instances, observers, requests, steps, worlds, draining, policies, adaptations, adaptationsWaiting = "adaptations_waiting"
        case deadlinesExceeded = "deadlines_exceeded", requestsCancelled = "requests_cancelled"
    }
}

/// An observer event's metadata: `reset` (data: observations), `step` (data: a step reply
/// followed by the actions), `task` (a SessionReply in `session_info`, data: observations),
/// `closed` (the final event), `dropped` (the observer was too slow: `count` events skipped).
public struct ObserverEvent: Codable, Sendable {
    public var event: String
    public var session: UInt32
    public var count: Int?
    public init(event: String, session: UInt32, count: Int? = nil) {
        self.event = event
        self.session = session
        self.count = count
    }
}

/// The metadata of an error response.
public struct ErrorReply: Codable, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String
    /// The server closes the connection after this response.
    public var fatal: Bool
    /// For world errors: every `path:line:column: error: key.path: message`.
    public var diagnostics: [String]?
    public init(code: ErrorCode, message: String, fatal: Bool = false, diagnostics: [String]? = nil) {
        self.code = code
        self.message = message
        self.fatal = fatal
        self.diagnostics = diagnostics
    }
}

/// Error codes of protocol v1. Clients must treat an unknown code as a generic failure.
public enum ErrorCode: String, Codable, Sendable, CaseIterable {
    /// The frame is shorter than its header or its metadata runs past its end.
    case badFrame = "bad_frame"
    /// The length prefix exceeds the server's maximum frame size (fatal).
    case frameTooLarge = "frame_too_large"
    /// The first request was not hello.
    case handshakeRequired = "handshake_required"
    /// The client's major protocol version differs from the server's (fatal).
    case versionMismatch = "version_mismatch"
    case unknownKind = "unknown_kind"
    /// The metadata is not a JSON object of the request's schema, or a field is out of range.
    case badRequest = "bad_request"
    case unknownWorld = "unknown_world"
    /// The world file has errors (see `diagnostics`).
    case invalidWorld = "invalid_world"
    case unknownParameter = "unknown_parameter"
    case unknownSession = "unknown_session"
    /// The session belongs to another connection.
    case notOwner = "not_owner"
    /// The step data does not have the session's shape.
    case badShape = "bad_shape"
    case badDtype = "bad_dtype"
    /// NaN or infinite action, or a discrete index out of range.
    case badAction = "bad_action"
    /// A step on an instance whose episode ended, in a session without auto-reset.
    case episodeEnded = "episode_ended"
    case limitExceeded = "limit_exceeded"
    /// The world failed while simulating (a sampled shape Box2D refuses); reset the session.
    case worldFailed = "world_failed"
    case serverBusy = "server_busy"
    // Protocol 1.1 (policies).
    /// No policy of that name in the daemon's policies folder.
    case unknownPolicy = "unknown_policy"
    /// The policy was trained on another family, or its specs do not fit the session's world.
    case policyMismatch = "policy_mismatch"
    /// act, run_episodes or save_policy on a session without a policy (adapt first).
    case noPolicy = "no_policy"
    /// adapt on an external session with no complete recorded episode.
    case noExperience = "no_experience"
    /// The work was cancelled (the server is shutting down, or the client went away).
    case cancelled = "cancelled"
    /// The request did not finish within its deadline: its work was cancelled.
    case deadlineExceeded = "deadline_exceeded"
    /// save_policy to a name that exists, without `overwrite`.
    case policyExists = "policy_exists"
    /// save_policy could not write the checkpoint.
    case saveFailed = "save_failed"
    // Protocol 1.2 (a recurrent policy's state).
    /// A policy-state request on a session whose policy is feed-forward (it has no state).
    case noPolicyState = "no_policy_state"
    case `internal` = "internal"
}
