import Logging
import MetaSimCore
import MetaSimProtocol
import Synchronization

/// What every connection of one server shares: configuration, the world directory, the session
/// registry (for observers and status), the live connections (for draining) and counters.
final class ServerCore: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger
    let started = ContinuousClock.now
    private let directoryBox: Mutex<WorldDirectory>
    private let sessionBox = Mutex<[UInt32: Session]>([:])
    private let connectionBox = Mutex<[ObjectIdentifier: Connection]>([:])
    private let nextSessionID = Atomic<UInt32>(1)
    let requestCount = Atomic<UInt64>(0)
    let stepCount = Atomic<UInt64>(0)
    let observerCount = ObserverCounter()
    let draining = Atomic<Bool>(false)

    init(configuration: ServerConfiguration, directory: WorldDirectory, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
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

    /// (sessions, instances): the batch sizes are fixed per session.
    func sessionLoad() -> (Int, Int) {
        sessionBox.withLock { s in (s.count, s.values.reduce(0) { $0 + $1.batchCount }) }
    }

    // MARK: Connections

    /// Registers a new connection; false (not registered) at the connection limit.
    func register(_ connection: Connection) -> Bool {
        connectionBox.withLock { c in
            guard c.count < configuration.maxConnections else { return false }
            c[ObjectIdentifier(connection)] = connection
            return true
        }
    }

    func unregister(_ connection: Connection) {
        connectionBox.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    var connectionCount: Int { connectionBox.withLock { $0.count } }

    /// Asks every connection to answer the requests it has been sent and close.
    func beginDrain() {
        draining.store(true, ordering: .releasing)
        for c in connectionBox.withLock({ Array($0.values) }) { c.beginDrain() }
    }

    /// Closes every connection now (after the drain timeout).
    func closeAll() {
        for c in connectionBox.withLock({ Array($0.values) }) { c.forceClose() }
    }

    func status() -> StatusReply {
        let (sessions, instances) = sessionLoad()
        let uptime = ContinuousClock.now - started
        return StatusReply(server: MetaSimServer.version, protocol: .current,
                           uptimeSeconds: Double(uptime.components.seconds) + Double(uptime.components.attoseconds) / 1e18,
                           connections: connectionCount, sessions: sessions, instances: instances,
                           observers: observerCount.value.load(ordering: .relaxed),
                           requests: requestCount.load(ordering: .relaxed), steps: stepCount.load(ordering: .relaxed),
                           worlds: directory.ordered.count, draining: draining.load(ordering: .acquiring))
    }

    var limits: ServerLimits {
        let idle = configuration.idleTimeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
        return ServerLimits(maxFrame: configuration.maxFrame, maxSessionsPerConnection: configuration.maxSessionsPerConnection,
                            maxBatch: configuration.maxBatch, maxConnections: configuration.maxConnections,
                            idleTimeoutSeconds: idle)
    }
}

/// The number of live observer subscriptions, shared by the sessions.
final class ObserverCounter: Sendable {
    let value = Atomic<Int>(0)
}
