import Logging
import MetaSimCore
import MetaSimProtocol
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The metasim daemon's server: protocol v1 on a Unix-domain socket. A `Service`: `run()` binds,
/// serves until graceful shutdown (SIGTERM through a `ServiceGroup`, or `shutdown()`), then
/// stops accepting, answers the requests already received, closes every session and returns.
public final class MetaSimServer: Service, Sendable {
    public static let version = "metasimd 0.3.0"
    public static let capabilities = ["inline_yaml", "auto_reset", "observe", "int32_actions", "set_task", "pipelining"]

    public let configuration: ServerConfiguration
    let logger: Logger
    private let shutdownRequested = Mutex<(requested: Bool, channel: Channel?)>((false, nil))

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts a graceful shutdown (what SIGTERM does through the service group).
    public func shutdown() {
        let channel = shutdownRequested.withLock { state -> Channel? in
            state.requested = true
            return state.channel
        }
        channel?.close(promise: nil)
    }

    public func run() async throws {
        guard let root = WorldCatalog.defaultRoot(explicit: configuration.worldsRoot) else {
            throw ServerError.catalog("no worlds folder found (give --worlds DIR)")
        }
        let directory = WorldDirectory(root: root, logger: logger)
        logger.info("catalog loaded", metadata: ["worlds": "\(directory.ordered.count)", "root": "\(root)"])

        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        let pool = NIOThreadPool(numberOfThreads: configuration.workerThreads)
        pool.start()
        let core = ServerCore(configuration: configuration, directory: directory, threadPool: pool, logger: logger)
        let path = configuration.socketPath

        let channel: Channel
        do {
            try SocketFile.prepare(path)
            channel = try await bootstrap(group: group, core: core)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
            try SocketFile.setMode(path, 0o660)
        } catch {
            try? await pool.shutdownGracefully()
            try? await group.shutdownGracefully()
            if let e = error as? ServerError { throw e }
            throw ServerError.socket(path: path, message: "\(error)")
        }
        let socketIdentity = SocketFile.identity(path)
        let alreadyRequested = shutdownRequested.withLock { state -> Bool in
            state.channel = channel
            return state.requested
        }
        if alreadyRequested { channel.close(promise: nil) }
        logger.info("listening", metadata: ["socket": "\(path)"])

        // Serve until graceful shutdown (or cancellation) closes the listening channel.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }

        logger.info("shutting down: no new connections; answering requests in flight")
        core.beginDrain()
        let deadline = NIODeadline.now() + configuration.drainTimeout
        while core.connectionCount > 0, NIODeadline.now() < deadline {
            try? await _Concurrency.Task.sleep(for: .milliseconds(5))
        }
        if core.connectionCount > 0 {
            logger.warning("drain timeout: closing \(core.connectionCount) connections")
            core.closeAll()
            while core.connectionCount > 0 { try? await _Concurrency.Task.sleep(for: .milliseconds(5)) }
        }
        SocketFile.remove(path, ifIdentity: socketIdentity)
        try? await pool.shutdownGracefully()
        try? await group.shutdownGracefully()
        logger.info("stopped")
    }

    private func bootstrap(group: MultiThreadedEventLoopGroup, core: ServerCore) -> ServerBootstrap {
        let logger = self.logger
        let configuration = self.configuration
        return ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelOption(ChannelOptions.autoRead, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if core.connectionCount >= configuration.maxConnections {
                        try sync.addHandler(BusyHandler(limit: configuration.maxConnections))
                        return
                    }
                    try sync.addHandler(ConnectionHandler(core: core, logger: logger))
                }
            }
    }
}

/// Answers a connection beyond the limit with one `server_busy` error and closes it.
final class BusyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let limit: Int
    init(limit: Int) { self.limit = limit }

    func channelActive(context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        let reply = ErrorReply(code: .serverBusy, message: "the server has \(limit) connections (its limit)", fatal: true)
        buffer.writeFrame(kind: 0, flags: [.response, .error], id: 0, meta: MetaCoding.encode(reply))
        let channel = context.channel
        context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
    }
}
