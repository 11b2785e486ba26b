import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// What `metasimd` serves and its limits. Defaults are the documented ones (docs/protocol.md);
/// `metasimd` fills this from its configuration file and flags.
public struct ServerConfiguration: Sendable {
    /// The Unix-domain socket the server binds (unless it adopts an inherited one).
    public var socketPath: String
    /// The world catalog folder; nil means the catalog's default search.
    public var worldsRoot: String?
    /// Largest frame (length prefix) a client may send: frames above it close the connection.
    public var maxFrame = FrameHeaderLimits.defaultMaxFrame
    public var maxConnections = 1024
    public var maxSessionsPerConnection = 16
    /// Largest batch of one session.
    public var maxBatch = 4096
    /// Most stepping threads one session may ask for (default: the machine's cores).
    public var maxThreadsPerSession = ServerConfiguration.coreCount
    /// A connection with no traffic either way for this long is closed; nil disables it.
    public var idleTimeout: TimeAmount? = .seconds(900)
    /// How long SIGTERM waits for in-flight requests before closing connections anyway.
    public var drainTimeout: TimeAmount = .seconds(10)
    /// I/O threads (each connection is served by one of them).
    public var eventLoopThreads = ServerConfiguration.coreCount
    /// Worker threads for opening worlds and for steps too long to run on an I/O thread.
    public var workerThreads = ServerConfiguration.coreCount
    /// A session whose last step took longer than this steps on a worker thread, so that it
    /// cannot delay other connections served by the same I/O thread.
    public var inlineStepLimit: TimeAmount = .microseconds(500)

    public init(socketPath: String, worldsRoot: String? = nil) {
        self.socketPath = socketPath
        self.worldsRoot = worldsRoot
    }

    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}

/// Frame size limits shared by the configuration and the decoder.
public enum FrameHeaderLimits {
    public static let defaultMaxFrame = 16 << 20
}
