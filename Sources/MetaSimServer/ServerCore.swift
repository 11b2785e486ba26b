import Logging
import MetaSimCore
import MetaSimProtocol
import NIOCore
import NIOPosix
import Synchronization

/// What every connection of one server shares: configuration, the world directory, the session
/// registry (for observers and status), the live connections (for draining) and counters.
final class ServerCore: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger
    let threadPool: NIOThreadPool
    let started = NIODeadline.now()
    private let directoryBox: Mutex<WorldDirectory>
    private let sessionBox = Mutex<[UInt32: Session]>([:])
    private let connectionBox = Mutex<[ObjectIdentifier: NIOLoopBound<ConnectionHandler>]>([:])
    private let nextSessionID = Atomic<UInt32>(1)
    let requestCount = Atomic<UInt64>(0)
    let stepCount = Atomic<UInt64>(0)
    let observerCount = ObserverCounter()
    let draining = Atomic<Bool>(false)

    init(configuration: ServerConfiguration, directory: WorldDirectory, threadPool: NIOThreadPool, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = threadPool
        directoryBox = Mutex(directory)
    }

    var directory: WorldDirectory { directoryBox.withLock { $0 } }

    func replaceDirectory(_ d: WorldDirectory) { directoryBox.withLock { $0 = d } }

    // MARK: Sessions

    func allocateSessionID() -> UInt32 {
        nextSessionID.add(1, ordering: .relaxed).oldValue
    }

    func register(_ session: Session) { sessionBox.withLock { $0[session.id] = session } }

    func unregister(_ id: UInt32) { sessionBox.withLock { _ = $0.removeValue(forKey: id) } }

    func session(_ id: UInt32) -> Session? { sessionBox.withLock { $0[id] } }

    /// (sessions, instances): read under the lock, the batch sizes are fixed per session.
    func sessionLoad() -> (Int, Int) {
        sessionBox.withLock { s in (s.count, s.values.reduce(0) { $0 + $1.batchCount }) }
    }

    // MARK: Connections

    func register(_ handler: NIOLoopBound<ConnectionHandler>, key: ObjectIdentifier) {
        connectionBox.withLock { $0[key] = handler }
    }

    func unregister(connection key: ObjectIdentifier) { connectionBox.withLock { _ = $0.removeValue(forKey: key) } }

    var connectionCount: Int { connectionBox.withLock { $0.count } }

    /// Asks every connection to finish the requests it has and close.
    func beginDrain() {
        draining.store(true, ordering: .releasing)
        let all = connectionBox.withLock { Array($0.values) }
        for bound in all {
            bound.eventLoop.execute { bound.value.beginDrain() }
        }
    }

    /// Closes every connection now (after the drain timeout).
    func closeAll() {
        let all = connectionBox.withLock { Array($0.values) }
        for bound in all {
            bound.eventLoop.execute { bound.value.closeNow() }
        }
    }

    func status() -> StatusReply {
        let (sessions, instances) = sessionLoad()
        return StatusReply(server: MetaSimServer.version, protocol: .current,
                           uptimeSeconds: Double((NIODeadline.now() - started).nanoseconds) / 1e9,
                           connections: connectionCount, sessions: sessions, instances: instances,
                           observers: observerCount.value.load(ordering: .relaxed),
                           requests: requestCount.load(ordering: .relaxed), steps: stepCount.load(ordering: .relaxed),
                           worlds: directory.ordered.count, draining: draining.load(ordering: .acquiring))
    }

    var limits: ServerLimits {
        ServerLimits(maxFrame: configuration.maxFrame, maxSessionsPerConnection: configuration.maxSessionsPerConnection,
                     maxBatch: configuration.maxBatch, maxConnections: configuration.maxConnections,
                     idleTimeoutSeconds: configuration.idleTimeout.map { Double($0.nanoseconds) / 1e9 } ?? 0)
    }
}

/// The number of live observer subscriptions, shared by the sessions.
final class ObserverCounter: Sendable {
    let value = Atomic<Int>(0)
}
