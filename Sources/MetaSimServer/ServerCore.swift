import Logging
import MetaLearning
import MetaSimCore
import MetaSimProtocol
import Synchronization

/// What every connection of one server shares: configuration, the world directory, the session
/// registry (for observers and status), the live connections (for draining) and counters.
/// The configuration and the directory are swapped together by a reload: connections read them
/// when they need them (a new connection its frame limit and idle timeout, `open` its limits),
/// open sessions keep the world definition they were opened with.
final class ServerCore: Sendable {
    let logger: Logger
    let started = ContinuousClock.now
    private let running: Mutex<(configuration: ServerConfiguration, directory: WorldDirectory, policies: PolicyCatalog)>
    /// Adaptations running (at most `configuration.maxAdaptations`).
    let adaptations = AdaptationGate()
    /// When the accepting loop last went round (monotonic milliseconds): the watchdog's proof of life.
    let acceptorTurn = Atomic<Int64>(0)
    private let sessionBox = Mutex<[UInt32: Session]>([:])
    private let connectionBox = Mutex<[ObjectIdentifier: Connection]>([:])
    private let nextSessionID = Atomic<UInt32>(1)
    let requestCount = Atomic<UInt64>(0)
    let stepCount = Atomic<UInt64>(0)
    /// Requests cut short: past their deadline; cancelled (client gone, shutdown).
    let deadlinesExceeded = Atomic<UInt64>(0)
    let requestsCancelled = Atomic<UInt64>(0)
    let observerCount = ObserverCounter()
    /// Counters for monitoring (errors, refusals, adaptations, steps per world).
    let stats = ServerStats()
    let draining = Atomic<Bool>(false)
    /// Returns memory to the system after closes (glibc's arenas keep it otherwise).
    let reclaimer: MemoryReclaimer
    /// Estimated bytes reserved by the live sessions (see MemoryBudget.swift).
    let memory = MemoryLedger()

    init(configuration: ServerConfiguration, directory: WorldDirectory, policies: PolicyCatalog = PolicyCatalog(folder: nil),
         logger: Logger) {
        self.logger = logger
        running = Mutex((configuration, directory, policies))
        reclaimer = MemoryReclaimer(logger: logger)
    }

    var configuration: ServerConfiguration { running.withLock { $0.configuration } }

    var directory: WorldDirectory { running.withLock { $0.directory } }

    var policies: PolicyCatalog { running.withLock { $0.policies } }

    /// A reload: all at once, so that no request sees a new catalog with old limits.
    func replace(configuration: ServerConfiguration, directory: WorldDirectory, policies: PolicyCatalog) {
        running.withLock { $0 = (configuration, directory, policies) }
    }

    /// Adds a checkpoint just saved to the served policies (if the saved-policies folder is still
    /// the one it was saved in, and no configured policy took the name meanwhile).
    func addPolicy(name: String, path: String, checkpoint: Checkpoint, folder: String) {
        running.withLock { r in
            guard r.policies.savedFolder == folder, r.policies.entries[name]?.saved ?? true else { return }
            r.policies.add(name: name, path: path, checkpoint: checkpoint, saved: true)
        }
    }

    /// Held by `save_policy` from its checks to the catalog update: saves (under one name or
    /// not) happen one at a time, so the last writer wins and the quota holds.
    let saving = Mutex<Void>(())

    // MARK: Sessions

    func allocateSessionID() -> UInt32 {
        nextSessionID.add(1, ordering: .relaxed).oldValue
    }

    func register(_ session: Session) { sessionBox.withLock { $0[session.id] = session } }

    func unregister(_ id: UInt32) { sessionBox.withLock { _ = $0.removeValue(forKey: id) } }

    func session(_ id: UInt32) -> Session? { sessionBox.withLock { $0[id] } }

    /// The live sessions, by id.
    func allSessions() -> [Session] { sessionBox.withLock { $0.values.sorted { $0.id < $1.id } } }

    /// (sessions, instances): the batch sizes are fixed per session.
    func sessionLoad() -> (Int, Int) {
        sessionBox.withLock { s in (s.count, s.values.reduce(0) { $0 + $1.batchCount }) }
    }

    // MARK: Connections

    /// Registers a new connection; false (not registered) at the connection limit.
    func register(_ connection: Connection) -> Bool {
        let limit = configuration.maxConnections
        return connectionBox.withLock { c in
            guard c.count < limit else { return false }
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

    /// Closes every connection now (after the drain timeout): the work in flight is cancelled.
    func closeAll() {
        for c in connectionBox.withLock({ Array($0.values) }) { c.forceClose() }
    }

    /// The watcher's round (every `watchMilliseconds`): cancels the requests past their deadline
    /// and those whose client hung up.
    func checkWork() {
        let c = configuration
        let requestMS = c.requestDeadline.inMilliseconds, adaptMS = c.adaptDeadline.inMilliseconds
        let now = Socket.monotonicMilliseconds()
        for connection in connectionBox.withLock({ Array($0.values) }) {
            connection.checkWork(now: now, requestDeadline: requestMS, adaptDeadline: adaptMS)
        }
    }

    static let watchMilliseconds: UInt32 = 50

    /// One line per connection with a request in flight, and what it holds: for the log when
    /// a shutdown cuts them short.
    func workInFlight() -> [String] {
        let connections = connectionBox.withLock { Array($0.values) }
        let now = Socket.monotonicMilliseconds()
        return connections.compactMap { c -> String? in
            guard let w = c.workInFlight(now: now) else { return nil }
            let held = sessionBox.withLock { $0.values.filter { $0.owner === c }.map { "\($0.id) (\($0.worldName) × \($0.batchCount))" } }
            let kind = MessageKind(rawValue: w.kind)?.name ?? "kind \(w.kind)"
            let running = w.running.map { "running for \(Double($0) / 1000) s" } ?? "just started"
            return "connection \(c.fd): \(kind) request \(w.id) \(running); sessions: \(held.isEmpty ? "none" : held.joined(separator: ", "))"
        }
    }

    func status() -> StatusReply {
        let (sessions, instances) = sessionLoad()
        let uptime = ContinuousClock.now - started
        return StatusReply(server: MetaSimServer.version, protocol: .current,
                           uptimeSeconds: uptime.inSeconds,
                           connections: connectionCount, sessions: sessions, instances: instances,
                           observers: observerCount.value.load(ordering: .relaxed),
                           requests: requestCount.load(ordering: .relaxed), steps: stepCount.load(ordering: .relaxed),
                           worlds: directory.ordered.count, draining: draining.load(ordering: .acquiring),
                           policies: policies.entries.count, adaptations: adaptations.load.0, adaptationsWaiting: adaptations.load.1,
                           deadlinesExceeded: deadlinesExceeded.load(ordering: .relaxed),
                           requestsCancelled: requestsCancelled.load(ordering: .relaxed))
    }

    var limits: ServerLimits {
        let idle = configuration.idleTimeout?.inSeconds ?? 0
        return ServerLimits(maxFrame: configuration.maxFrame, maxSessionsPerConnection: configuration.maxSessionsPerConnection,
                            maxBatch: configuration.maxBatch, maxConnections: configuration.maxConnections,
                            idleTimeoutSeconds: idle,
                            requestDeadlineSeconds: Double(configuration.requestDeadline.inMilliseconds) / 1000,
                            adaptDeadlineSeconds: Double(configuration.adaptDeadline.inMilliseconds) / 1000,
                            maxSessionMemoryBytes: configuration.maxSessionMemory,
                            maxMemoryBytes: configuration.maxMemory, maxResetSubsteps: configuration.maxResetSubsteps)
    }
}

/// The number of live observer subscriptions, shared by the sessions.
final class ObserverCounter: Sendable {
    let value = Atomic<Int>(0)
}
