import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import MetaSimCore
import MetaSimServer
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's web view and `/metrics` on HTTP (Hummingbird 2), a `Service` beside the
/// server in metasimd's `ServiceGroup`. Read-only: every route reads the server's monitor;
/// nothing a request says reaches a session (docs/operations.md, "Web view and metrics").
///
/// - `GET /metrics`: Prometheus text format.
/// - `GET /api/sessions`, `GET /api/sessions/{id}` (404 for an unknown id),
///   `GET /api/sessions/{id}/scene[?seed=S]`: JSON.
/// - `GET /api/sessions/{id}/live`: a WebSocket of instance 0's body poses (JSON text frames, at
///   most ~30 a second); a client that does not read loses frames, the session never waits.
/// - `GET /api/batches`, `GET /api/batches/{name}`: finished batch directories' returns.
/// - Everything else: the page's static files (`web/`).
public final class WebService: Service, Sendable {
    let settings: HTTPSettings
    let server: MetaSimServer
    let logger: Logger
    let metrics = DaemonMetrics()
    let webRoot: String?
    private let port = Mutex<Int?>(nil)
    private let (boundStream, boundContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))

    public init(settings: HTTPSettings, server: MetaSimServer, logger: Logger) {
        self.settings = settings
        self.server = server
        self.logger = logger
        webRoot = Self.findWebRoot(settings.webRoot)
    }

    /// The port it listens on, once it does (the configured one, or the one the system chose for 0).
    public var boundPort: Int? { port.withLock { $0 } }

    /// Waits until it listens; returns the port.
    public func waitUntilListening() async -> Int? {
        for await p in boundStream { return p }
        return nil
    }

    /// Checks the settings and that the address and port can be bound now (metasimd calls it
    /// before it starts anything, to refuse or go on without the view as configured).
    public func check() throws(WebError) {
        if let problem = settings.problem { throw .settings(problem) }
        if let reason = Self.probe(settings.address, settings.port) {
            throw .unavailable(address: settings.address, port: settings.port, reason: reason)
        }
    }

    public func run() async throws {
        if !settings.isLoopback {
            logger.warning("http: serving the web view and /metrics on \(settings.address):\(settings.port), not a loopback address: anyone who reaches it can watch the daemon")
        }
        let router = Router(context: BasicWebSocketRequestContext.self)
        addRoutes(router)
        if let webRoot {
            router.add(middleware: FileMiddleware(webRoot, searchForIndexHtml: true, logger: logger))
        } else {
            logger.warning("http: no web folder found (http.web_root): only /metrics and /api are served")
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname(settings.address, port: settings.port), serverName: MetaSimServer.version),
            onServerRunning: { [self] channel in
                let p = channel.localAddress?.port ?? settings.port
                port.withLock { $0 = p }
                boundContinuation.yield(p)
                logger.info("http: web view and /metrics listening", metadata: ["address": "http://\(settings.address):\(p)/"])
            },
            logger: logger
        )
        do {
            try await app.run()  // a Service itself: the daemon's group shuts it down
        } catch {
            guard settings.onPortInUse == .continue else { throw error }
            logger.error("http: the web view stopped (\(error)); the daemon goes on without it (http.on_port_in_use: continue)")
        }
    }

    // MARK: Routes

    func addRoutes(_ router: Router<BasicWebSocketRequestContext>) {
        router.get("/metrics") { [self] _, _ -> Response in
            guard let monitor = server.monitor else { return Response(status: .serviceUnavailable) }
            let text = metrics.scrape(monitor)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/api/sessions") { [self] _, _ -> Response in
            guard let monitor = server.monitor else { return Response(status: .serviceUnavailable) }
            return Self.json(SessionList(server: MetaSimServer.version, uptimeSeconds: monitor.counters.uptimeSeconds,
                                         sessions: monitor.sessions()))
        }
        router.get("/api/sessions/:id") { [self] _, context -> Response in
            guard let id = context.parameters.get("id", as: UInt32.self), let detail = server.monitor?.session(id) else {
                return Self.notFound("no live session \(context.parameters.get("id") ?? "")")
            }
            return Self.json(detail)
        }
        router.get("/api/sessions/:id/scene") { [self] request, context -> Response in
            guard let id = context.parameters.get("id", as: UInt32.self), let monitor = server.monitor,
                  let detail = monitor.session(id) else {
                return Self.notFound("no live session \(context.parameters.get("id") ?? "")")
            }
            let seed = request.uri.queryParameters.get("seed", as: UInt64.self)
                ?? WorldBatch.episodeSeed(batchSeed: detail.summary.seed, instance: 0)
            do {
                guard let scene = try monitor.scene(id, seed: seed) else { return Self.notFound("no live session \(id)") }
                return Self.json(scene)
            } catch {
                return Self.json(["error": "\(error)"], status: .unprocessableContent)
            }
        }
        router.ws("/api/sessions/:id/live", shouldUpgrade: { [self] _, context in
            guard let id = context.parameters.get("id", as: UInt32.self), server.monitor?.session(id) != nil else {
                throw HTTPError(.notFound, message: "no live session")
            }
            return .upgrade([:])
        }, onUpgrade: { [self] _, outbound, context in
            guard let id = context.requestContext.parameters.get("id", as: UInt32.self), let monitor = server.monitor,
                  let watcher = monitor.watch(id) else { return }
            defer { monitor.unwatch(id, watcher) }
            let encoder = Self.encoder()
            for await frame in watcher.frames {
                let message = LiveFrame(taskSeed: frame.taskSeed.map { "\($0)" }, episodeSeed: "\(frame.episodeSeed)", step: frame.episodeStep,
                                        episodeReturn: frame.episodeReturn, poses: frame.poses, dropped: watcher.dropped)
                guard let data = try? encoder.encode(message) else { continue }
                try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
            }
            try? await outbound.close(.normalClosure, reason: "session closed")
        })
        router.get("/api/batches") { [self] _, _ -> Response in
            Self.json(["batches": BatchReturns.list(settings.batches)])
        }
        router.get("/api/batches/:name") { [self] _, context -> Response in
            guard let name = context.parameters.get("name"), let returns = BatchReturns.load(settings.batches, name: name) else {
                return Self.notFound("no batch \(context.parameters.get("name") ?? "")")
            }
            return Self.json(returns)
        }
    }

    struct SessionList: Encodable {
        var server: String
        var uptimeSeconds: Double
        var sessions: [ServerMonitor.SessionSummary]
    }

    /// One pose frame on the WebSocket. Seeds are strings: JavaScript's numbers hold 53 bits.
    struct LiveFrame: Encodable {
        var taskSeed: String?
        var episodeSeed: String
        var step: Int
        var episodeReturn: Double
        var poses: [Float]
        var dropped: Int
    }

    /// JSON as the protocol writes it: snake_case keys; non-finite numbers as strings.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder().encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func notFound(_ message: String) -> Response { json(["error": message], status: .notFound) }

    // MARK: Setup

    /// `explicit`, else `web` beside the catalog's search: `$METASIM_WEB`, `./web`, `../share/metasim/web` next to the binary.
    static func findWebRoot(_ explicit: String?) -> String? {
        let fm = FileManager.default
        if let explicit { return explicit }
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["METASIM_WEB"] { candidates.append(env) }
        candidates.append(fm.currentDirectoryPath + "/web")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(binary.appendingPathComponent("../share/metasim/web").standardized.path)
        return candidates.first { fm.fileExists(atPath: $0 + "/index.html") }
    }

    /// Why `address:port` cannot be bound now, or nil if it can (bound and closed at once).
    static func probe(_ address: String, _ port: Int) -> String? {
        guard port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address, String(port), &hints, &list)
        guard rc == 0, let info = list else { return "cannot resolve the address: \(String(cString: gai_strerror(rc)))" }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            return errno == EADDRINUSE ? "the port is in use" : String(cString: strerror(errno))
        }
        return nil
    }
}
