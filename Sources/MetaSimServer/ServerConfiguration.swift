#if canImport(Glibc)
import Glibc
#endif

/// What `metasimd` serves and its limits. Defaults are the documented ones (docs/protocol.md);
/// `metasimd` fills this from its configuration file and flags.
public struct ServerConfiguration: Sendable {
    /// The Unix-domain socket the server binds (unless it adopts an inherited one).
    public var socketPath: String
    /// A listening socket inherited from the service manager (socket activation), adopted
    /// instead of binding `socketPath`; the server neither changes its mode nor removes it.
    public var inheritedSocket: Int32?
    /// The world catalog folder; nil means the catalog's default search.
    public var worldsRoot: String?
    /// The meta-learning policies folder: its `NAME.safetensors` checkpoints are loaded at start
    /// and on reload (absent: no policies); `save_policy` writes there.
    public var policiesRoot: String? = ServerConfiguration.defaultPolicies
    /// Where `save_policy` writes (clients never write `policiesRoot`): its checkpoints are
    /// served too, under names the configured policies do not take. Created on the first save.
    public var savedPoliciesRoot: String? = ServerConfiguration.defaultSavedPolicies
    /// Most checkpoints, and bytes in all, the saved-policies folder may hold (`save_policy`
    /// beyond them is `limit_exceeded`; 0 policies: saving is off).
    public var maxSavedPolicies = 1000
    public var maxSavedPolicyBytes = 1 << 30
    /// Largest frame (length prefix) a client may send: frames above it close the connection.
    public var maxFrame = 16 << 20
    public var maxConnections = 1024
    public var maxSessionsPerConnection = 16
    /// Largest batch of one session.
    public var maxBatch = 4096
    /// Most stepping threads one session may ask for (default: the machine's cores).
    public var maxThreadsPerSession = ServerConfiguration.coreCount
    /// A connection that sends nothing for this long is closed (unless it observes a session);
    /// nil disables it.
    public var idleTimeout: Duration? = .seconds(900)
    /// Adaptations running at once over the whole server (more wait their turn).
    public var maxAdaptations = ServerConfiguration.coreCount
    /// Most inner steps, and episodes per step, one adapt request may ask for.
    public var maxAdaptSteps = 10
    public var maxAdaptEpisodes = 1000
    /// Most episodes one run_episodes request may ask for.
    public var maxRunEpisodes = 100_000
    /// Most transitions an external session holds for its next adapt.
    public var maxRecordedTransitions = 1_000_000
    /// How long SIGTERM waits for requests already sent before closing connections anyway.
    public var drainTimeout: Duration = .seconds(10)
    /// Every request is answered or refused within this time from when the server starts on it:
    /// past it, its work is cancelled and it gets `deadline_exceeded` (docs/protocol.md).
    public var requestDeadline: Duration = .seconds(60)
    /// The deadline of the requests that run episodes (adapt, run_episodes) instead of
    /// `requestDeadline`; an adaptation's wait for a free worker counts.
    public var adaptDeadline: Duration = .seconds(600)
    /// Estimated bytes one session's batch may hold (`WorldCost` × batch): open and set_task
    /// beyond it are refused with limit_exceeded.
    public var maxSessionMemory = 1 << 30
    /// Estimated bytes all live sessions together may hold (reserved on open, released on close).
    public var maxMemory = 4 << 30
    /// Box2D substeps one reset may run over its instances (reset_steps × substeps × instances).
    public var maxResetSubsteps = 2_000_000

    public init(socketPath: String, worldsRoot: String? = nil) {
        self.socketPath = socketPath
        self.worldsRoot = worldsRoot
    }

    /// Under systemd's `StateDirectory=metasim`.
    public static let defaultPolicies = "/var/lib/metasim/policies"
    /// Also under `StateDirectory=metasim`, beside the configured policies.
    public static let defaultSavedPolicies = "/var/lib/metasim/saved-policies"

    /// Settings a reload cannot change (only the socket: it is bound) whose value differs in `other`.
    func restartOnlyDifferences(from other: ServerConfiguration) -> [String] {
        socketPath != other.socketPath ? ["socket"] : []
    }

    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
