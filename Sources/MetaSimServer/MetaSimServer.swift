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
    public static let capabilities = ["inline_yaml", "auto_reset", "observe", "int32_actions", "set_task", "pipelining"]

    public let configuration: ServerConfiguration
    let logger: Logger
    /// Wakes the acceptor; written by `shutdown()`.
    private let stopFD: Int32
    private let stopWriteFD: Int32
    private let stopping = Atomic<Bool>(false)

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (stopFD, stopWriteFD) = Socket.makeWakePipe()
    }

    deinit {
        close(stopFD)
        close(stopWriteFD)
    }

    /// Starts a graceful shutdown (what SIGTERM does through the service group).
    public func shutdown() {
        stopping.store(true, ordering: .releasing)
        Socket.signal(stopWriteFD)
    }

    public func run() async throws {
        guard let root = WorldCatalog.defaultRoot(explicit: configuration.worldsRoot) else {
            throw ServerError.catalog("no worlds folder found (give --worlds DIR)")
        }
        let directory = WorldDirectory(root: root, logger: logger)
        logger.info("catalog loaded", metadata: ["worlds": "\(directory.ordered.count)", "root": "\(root)"])
        let core = ServerCore(configuration: configuration, directory: directory, logger: logger)
        let path = configuration.socketPath
        let listener = try Self.listen(path)
        let socketIdentity = SocketFile.identity(path)
        logger.info("listening", metadata: ["socket": "\(path)"])

        // Accept on a thread of its own until shutdown; serve each connection on its own thread.
        let acceptorDone = DispatchSemaphore(value: 0)
        let acceptor = Thread { [self] in
            accept(listener, core: core)
            acceptorDone.signal()
        }
        acceptor.name = "metasimd-accept"
        acceptor.start()

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while !stopping.load(ordering: .acquiring) {
                    try? await _Concurrency.Task.sleep(for: .milliseconds(20))
                }
            } onGracefulShutdown: {
                self.shutdown()
            }
        } onCancel: {
            self.shutdown()
        }
        while acceptorDone.wait(timeout: .now()) == .timedOut { try? await _Concurrency.Task.sleep(for: .milliseconds(2)) }
        close(listener)

        logger.info("shutting down: no new connections; answering requests already sent")
        core.beginDrain()
        let deadline = ContinuousClock.now + configuration.drainTimeout
        while core.connectionCount > 0, ContinuousClock.now < deadline {
            try? await _Concurrency.Task.sleep(for: .milliseconds(5))
        }
        if core.connectionCount > 0 {
            logger.warning("drain timeout: closing \(core.connectionCount) connections")
            core.closeAll()
            while core.connectionCount > 0 { try? await _Concurrency.Task.sleep(for: .milliseconds(5)) }
        }
        SocketFile.remove(path, ifIdentity: socketIdentity)
        logger.info("stopped")
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

    /// The acceptor loop: a thread per connection, or `server_busy` at the limit.
    private func accept(_ listener: Int32, core: ServerCore) {
        var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
        while !stopping.load(ordering: .acquiring) {
            fds[0].revents = 0
            fds[1].revents = 0
            _ = Socket.poll(&fds, timeout: -1)
            if fds[1].revents != 0 { break }
            guard fds[0].revents != 0 else { continue }
            let fd = Glibc.accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let connection = Connection(fd: fd, core: core, logger: logger)
            guard core.register(connection) else {
                var w = FrameWriter(capacity: 256)
                let reply = ErrorReply(code: .serverBusy, message: "the server has \(configuration.maxConnections) connections (its limit)", fatal: true)
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
