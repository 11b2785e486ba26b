import Foundation
import Logging
import MetaSimCore
import MetaSimProtocol
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The metasim daemon's server: protocol v1 on a Unix-domain socket. A `Service`: `run()` binds,
/// serves until graceful shutdown (SIGTERM through a `ServiceGroup`, or `shutdown()`), then
/// stops accepting, answers the requests already sent, closes every session and returns.
///
/// Each connection has its own thread with blocking I/O (see `Connection`): the workload is a
/// few busy clients stepping simulations in lock step, where a round trip should cost what the
/// kernel's socket costs. (An event-loop server, SwiftNIO, was measured at 11 µs more per round
/// trip than a raw socket echo on a 2-core machine: a third of a lunar-lander step.)
public final class MetaSimServer: Service, Sendable {
    public static let version = "metasimd 0.3.0"
    public static let capabilities = ["inline_yaml", "auto_reset", "observe", "int32_actions", "set_task", "pipelining",
                                             "policies", "adapt", "act", "run_episodes", "external_sessions", "save_policy",
                                             "render", "policy_state"]

    /// The configuration the server started with (a reload changes the running one, not this).
    public let configuration: ServerConfiguration
    let logger: Logger
    let notifier: SystemdNotifier?
    /// Wakes the acceptor; written by `shutdown()`.
    private let stopFD: Int32
    private let stopWriteFD: Int32
    private let stopping = Atomic<Bool>(false)
    /// The running server's shared state, once it serves (for reloads).
    private let serving = Mutex<(core: ServerCore, heartbeat: Heartbeat?)?>(nil)
    private let reloading = Atomic<Bool>(false)
    /// Connections whose thread did not stop within `stopGrace` of the drain timeout.
    private let abandoned = Atomic<Int>(0)
    /// Set when `run` returns: stops the watcher thread.
    private let watcherStop = Atomic<Bool>(false)

    /// After the drain timeout cancels the work in flight, how long `run` waits for the
    /// connections' threads to stop before it returns without them (and logs them).
    public static let stopGrace: Duration = .seconds(3)

    /// Connections whose thread was still busy when `run` returned after a SIGTERM (it logged
    /// them): the process should exit at once, without waiting for them.
    public var abandonedConnections: Int { abandoned.load(ordering: .acquiring) }

    /// The longest a SIGTERM takes to end `run`: the running drain timeout and `stopGrace`.
    /// A process that outlives this by a few seconds is stuck (metasimd then exits anyway).
    public var stopTimeLimit: Duration {
        let drain = serving.withLock { $0?.core.configuration.drainTimeout } ?? configuration.drainTimeout
        return drain + Self.stopGrace
    }

    /// `notifier`: the service manager to tell about readiness, status, reloads and stopping,
    /// with watchdog pings when it asks for them (systemd `Type=notify`).
    public init(configuration: ServerConfiguration, logger: Logger, notifier: SystemdNotifier? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.notifier = notifier
        (stopFD, stopWriteFD) = Socket.makeWakePipe()
    }

    deinit {
        close(stopFD)
        close(stopWriteFD)
    }

    /// What the server is doing, read-only (the web view and /metrics); nil until it serves.
    package var monitor: ServerMonitor? { serving.withLock { $0.map { ServerMonitor(core: $0.core) } } }

    /// Starts a graceful shutdown (what SIGTERM does through the service group).
    public func shutdown() {
        stopping.store(true, ordering: .releasing)
        Socket.signal(stopWriteFD)
    }

    public func run() async throws {
        let (directory, policies) = try Self.load(configuration, logger: logger)
        logger.info("catalog loaded", metadata: ["worlds": "\(directory.ordered.count)", "root": "\(directory.root)"])
        logPolicies(policies)
        let core = ServerCore(configuration: configuration, directory: directory, policies: policies, logger: logger)
        core.reclaimer.start()
        defer { core.reclaimer.stop() }
        let path = configuration.socketPath
        let listener: Int32
        var ownSocket: (UInt, UInt)?
        if let fd = configuration.inheritedSocket {
            // systemd owns this socket (its path, mode and group): adopt it as it is.
            listener = fd
            let address = SocketActivation.boundPath(fd) ?? "fd \(fd)"
            logger.info("listening (socket-activated)", metadata: ["socket": "\(address)", "fd": "\(fd)"])
        } else {
            listener = try Self.listen(path)
            ownSocket = SocketFile.identity(path)
            logger.info("listening", metadata: ["socket": "\(path)"])
        }

        // Accept on a thread of its own until shutdown; serve each connection on its own thread.
        let heartbeat = notifier.map { Heartbeat(notifier: $0, core: core, logger: logger) }
        let turn = heartbeat.map { max(1, Int32(clamping: $0.intervalMilliseconds / 2)) } ?? -1
        // Finishes when the acceptor returns (after `shutdown()`): what `run` waits for, asleep.
        let (acceptorDone, acceptorFinished) = AsyncStream<Never>.makeStream()
        let acceptor = Thread { [self] in
            accept(listener, core: core, turnMilliseconds: turn)
            acceptorFinished.finish()
        }
        acceptor.name = "metasimd-accept"
        acceptor.start()
        // Cancels requests past their deadline and those whose client hung up.
        watcherStop.store(false, ordering: .releasing)
        abandoned.store(0, ordering: .releasing)
        let watcher = Thread { [self] in
            while !watcherStop.load(ordering: .acquiring) {
                core.checkWork()
                usleep(ServerCore.watchMilliseconds * 1000)
            }
        }
        watcher.name = "metasimd-watch"
        watcher.stackSize = 1 << 20
        watcher.start()
        defer { watcherStop.store(true, ordering: .releasing) }

        // Ready: the catalog is loaded, the policies folder checked and the socket accepts.
        serving.withLock { $0 = (core, heartbeat) }
        if let notifier, let heartbeat {
            heartbeat.announce("READY=1")
            if let interval = notifier.watchdogInterval {
                logger.info("watchdog: pinging every \(interval.inSeconds) s while the accepting loop turns")
            }
            heartbeat.start()
        }

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await _ in acceptorDone {}
            } onGracefulShutdown: {
                self.shutdown()
            }
        } onCancel: {
            self.shutdown()
        }
        if !stopping.load(ordering: .acquiring) {
            logger.warning("the accepting loop ended on its own: stopping")
            shutdown()
        }
        if ownSocket != nil { close(listener) }

        heartbeat?.stop()
        notifier?.notify("STOPPING=1", "STATUS=draining \(core.connectionCount) connections")
        logger.info("shutting down: no new connections; answering requests already sent")
        core.beginDrain()
        let deadline = ContinuousClock.now + core.configuration.drainTimeout
        while core.connectionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if core.connectionCount > 0 {
            // Cut short: the requests in flight are cancelled (their work stops at its next
            // check), the sockets shut down under threads blocked on them.
            let (running, waiting) = core.adaptations.load
            logger.warning("drain timeout: closing \(core.connectionCount) connections; cutting short what they run",
                           metadata: ["adaptations": "\(running)", "adaptations_waiting": "\(waiting)"])
            for line in core.workInFlight() { logger.warning("cut short: \(line)") }
            core.closeAll()
            let grace = ContinuousClock.now + Self.stopGrace
            while core.connectionCount > 0, ContinuousClock.now < grace {
                try? await Task.sleep(for: .milliseconds(5))
            }
            if core.connectionCount > 0 {
                // Work that does not look at its cancellation (a single enormous step): its
                // thread is left behind; the process exits without it.
                for line in core.workInFlight() { logger.error("did not stop: \(line)") }
                logger.error("\(core.connectionCount) connections did not stop within \(Self.stopGrace) of the drain timeout: leaving them")
                abandoned.store(core.connectionCount, ordering: .releasing)
            }
        }
        if ownSocket != nil { SocketFile.remove(path, ifIdentity: ownSocket) }
        serving.withLock { $0 = nil }
        let left = abandoned.load(ordering: .acquiring)
        if left == 0 { logger.info("stopped") } else { logger.error("stopped, leaving \(left) connections' threads busy") }
    }

    /// Reloads (SIGHUP): `load` reads the configuration again; the world catalog is loaded and
    /// the policies folder checked from it, then swapped in. Connections and open sessions are
    /// kept (a session keeps the world it was opened with); new connections and new sessions
    /// get the new limits. Settings that need a restart (the socket) keep their running value,
    /// with a warning. Anything that fails (the file's validation, a missing worlds folder, a
    /// policies path that is not a folder) keeps the running configuration and logs why. Tells
    /// the service manager `RELOADING=1`, then `READY=1`. Returns whether the new configuration
    /// is running. One reload at a time.
    @discardableResult
    public func reload(_ load: () throws(ServerError) -> ServerConfiguration) async -> Bool {
        guard let (core, heartbeat) = serving.withLock({ $0 }) else {
            logger.warning("reload ignored: the server is not serving")
            return false
        }
        guard !reloading.exchange(true, ordering: .acquiringAndReleasing) else {
            logger.warning("reload ignored: a reload is already running")
            return false
        }
        defer { reloading.store(false, ordering: .releasing) }
        notifier?.notify("RELOADING=1", SystemdNotifier.monotonicField(), "STATUS=reloading")
        logger.notice("reloading: configuration, world catalog, policies folder")
        do throws(ServerError) {
            var next = try load()
            let current = core.configuration
            for key in next.restartOnlyDifferences(from: current) {
                logger.warning("reload: \(key) changed; it takes a restart to apply (keeping the running value)")
            }
            next.socketPath = current.socketPath
            next.inheritedSocket = current.inheritedSocket
            let (directory, policies) = try Self.load(next, logger: logger)
            core.replace(configuration: next, directory: directory, policies: policies)
            logger.notice("reloaded", metadata: ["worlds": "\(directory.ordered.count)", "root": "\(directory.root)"])
            logPolicies(policies)
            heartbeat?.announce("READY=1")
            return true
        } catch {
            for line in error.lines { logger.error("reload: \(line)") }
            logger.error("reload failed: keeping the running configuration")
            notifier?.notify("READY=1", "STATUS=reload failed (see the log); running the previous configuration")
            return false
        }
    }

    /// The catalog and the policies of a configuration.
    private static func load(_ c: ServerConfiguration, logger: Logger) throws(ServerError) -> (WorldDirectory, PolicyCatalog) {
        guard let root = WorldCatalog.defaultRoot(explicit: c.worldsRoot) else {
            throw ServerError.catalog("no worlds folder found (give --worlds DIR)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ServerError.catalog("\(root): the worlds folder does not exist")
        }
        let policies = try PolicyCatalog.load(folder: c.policiesRoot, savedFolder: c.savedPoliciesRoot, logger: logger)
        return (WorldDirectory(root: root, logger: logger), policies)
    }

    private func logPolicies(_ policies: PolicyCatalog) {
        logger.info("policies: \(policies.summary)")
        for r in policies.rejected { logger.warning("policy rejected: \(r.file): \(r.error)") }
    }

    /// Binds and listens on `path` (a stale socket file replaced; mode 0660).
    static func listen(_ path: String) throws(ServerError) -> Int32 {
        try SocketFile.prepare(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .socket(path: path, message: "socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 512) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw .socket(path: path, message: "bind: \(message)")
        }
        try SocketFile.setMode(path, 0o660)
        return fd
    }

    /// The acceptor loop: a thread per connection, or `server_busy` at the limit. With a
    /// watchdog it wakes every `turnMilliseconds` to record that it still turns.
    private func accept(_ listener: Int32, core: ServerCore, turnMilliseconds: Int32) {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
        while !stopping.load(ordering: .acquiring) {
            core.acceptorTurn.store(Socket.monotonicMilliseconds(), ordering: .releasing)
            fds[0].revents = 0
            fds[1].revents = 0
            _ = Socket.poll(&fds, timeout: turnMilliseconds)
            if fds[1].revents != 0 { break }
            guard fds[0].revents != 0 else { continue }
            let fd = Glibc.accept(listener, nil, nil)
            guard fd >= 0 else {
                // Out of descriptors (EMFILE) leaves the listener readable: back off instead of spinning.
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    logger.warning("accept: \(String(cString: strerror(errno))); retrying in 50 ms")
                    usleep(50_000)
                }
                continue
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let connection = Connection(fd: fd, core: core, logger: logger)
            guard core.register(connection) else {
                core.stats.countError(.serverBusy, limit: .maxConnections)
                var w = FrameWriter(capacity: 256)
                let reply = ErrorReply(code: .serverBusy, message: "the server has \(core.configuration.maxConnections) connections (its limit)", fatal: true)
                let f = w.beginFrame(kind: 0, flags: [.response, .error], id: 0, meta: MetaCoding.encode(reply))
                w.endFrame(f)
                _ = Socket.sendAll(fd, w.bytes)
                Glibc.shutdown(fd, Int32(SHUT_WR))
                close(fd)
                continue
            }
            if core.draining.load(ordering: .acquiring) { connection.beginDrain() }
            let thread = Thread { connection.run() }
            thread.name = "metasimd-conn-\(fd)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }
}
