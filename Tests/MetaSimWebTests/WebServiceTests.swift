import Foundation
import Logging
import MetaSimClient
import MetaSimProtocol
import MetaSimServer
import MetaSimTestSupport
import MetaSimWeb
import ServiceLifecycle
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The repository's root and its world catalog and web folder.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let worldsRoot = repositoryRoot + "/worlds"

/// A server on a temporary socket with its web view on a port of the system's choosing.
final class WebTestServer: @unchecked Sendable {
    let socketPath: String
    let server: MetaSimServer
    let web: WebService
    let port: Int
    private let group: ServiceGroup
    private let task: _Concurrency.Task<Void, any Error>

    init() async throws {
        let dir = "/tmp/msw-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        socketPath = dir + "/d.sock"
        var logger = Logger(label: "test-metasimd")
        logger.logLevel = .warning
        server = MetaSimServer(configuration: ServerConfiguration(socketPath: socketPath, worldsRoot: worldsRoot), logger: logger)
        var settings = HTTPSettings(port: 0)
        settings.webRoot = repositoryRoot + "/web"
        web = WebService(settings: settings, server: server, logger: logger)
        // As metasimd runs them: one service group, shut down gracefully.
        let group = ServiceGroup(configuration: .init(services: [
            .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: web, successTerminationBehavior: .ignore),
        ], logger: logger))
        self.group = group
        task = _Concurrency.Task { try await group.run() }
        guard let port = await web.waitUntilListening() else { throw CancellationError() }
        self.port = port
        let start = Date()
        while (try? MetaSimConnection(socketPath: socketPath)) == nil {
            if Date().timeIntervalSince(start) > 60 { throw CancellationError() }
            try await _Concurrency.Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: socketPath).deletingLastPathComponent().path)
    }

    /// A TCP connection to the web view.
    func connectTCP() throws -> Int32 { try MetaSimWebTests.connectTCP(port: port) }
}

/// A TCP connection to 127.0.0.1:`port`.
func connectTCP(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else {
        close(fd)
        throw CancellationError()
    }
    return fd
}

/// GET `path` from 127.0.0.1:`port` over HTTP/1.1 (Connection: close): (status, body); status 0
/// when nothing came. Its blocking calls run on a thread of their own.
func httpGet(port: Int, _ path: String) async throws -> (Int, String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try httpGetBlocking(port: port, path) }) }.start()
    }
}

private func httpGetBlocking(port: Int, _ path: String) throws -> (Int, String) {
    let fd = try connectTCP(port: port)
    defer { close(fd) }
    var timeout = timeval(tv_sec: 60, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        // Until the body has Content-Length bytes (or the server closes).
        let text = String(decoding: response, as: UTF8.self)
        if let split = text.range(of: "\r\n\r\n") {
            let head = text[..<split.lowerBound].lowercased()
            if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
               let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
               response.count - text[..<split.upperBound].utf8.count >= length { break }
        }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += buffer[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return (0, text) }
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, String(text[split.upperBound...]))
}

/// A port nobody listens on now (bound and closed).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { throw CancellationError() }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The built `metasimd` with its web view (`http:` in a configuration file), as a process: its
/// handlers do not wait for this test process's cooperative threads, which other suites may hold.
final class WebDaemon: @unchecked Sendable {
    let folder: String
    let socketPath: String
    let port: Int
    let process = Process()

    init(batches: String? = nil) async throws {
        folder = "/tmp/msw-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        socketPath = folder + "/d.sock"
        port = try freePort()
        var config = "http:\n  port: \(port)\n  web_root: \(repositoryRoot)/web\n"
        if let batches { config += "  batches: \(batches)\n" }
        try config.write(toFile: folder + "/metasimd.yaml", atomically: true, encoding: .utf8)
        guard let daemon = TestPaths.builtProduct("metasimd") else {
            Issue.record("metasimd is not built next to the tests (run `swift build` first)")
            throw CancellationError()
        }
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = ["--socket", socketPath, "--worlds", worldsRoot, "--policies", folder + "/none",
                             "--saved-policies", folder + "/saved", "--config", folder + "/metasimd.yaml", "--log-level", "warning"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let start = Date()
        while true {
            if (try? MetaSimConnection(socketPath: socketPath)) != nil, (try? await httpGet(port: port, "/metrics"))?.0 == 200 { break }
            if !process.isRunning || Date().timeIntervalSince(start) > 60 {
                Issue.record("metasimd --http did not start")
                throw CancellationError()
            }
            try await _Concurrency.Task.sleep(for: .milliseconds(20))
        }
    }

    func get(_ path: String) async throws -> (Int, String) { try await httpGet(port: port, path) }

    func stop() {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }
}

/// The value of the sample `name{labels}` in a Prometheus exposition (labels as written, or none).
func sample(_ text: String, _ name: String, _ labels: String = "") -> Double? {
    let key = labels.isEmpty ? name : "\(name){\(labels)}"
    for line in text.split(separator: "\n") where line.hasPrefix(key + " ") {
        return Double(line.dropFirst(key.count + 1))
    }
    return nil
}

/// One step of every instance with zero actions (index 0 for a discrete world).
func stepZero(_ s: RemoteSession) throws {
    if s.info.discreteActions != nil { try s.step(indices: [Int32](repeating: 0, count: s.count)) }
    else { try s.step([Float](repeating: 0, count: s.count * s.actionSize)) }
}

@Suite("the web view and /metrics", .serialized, .timeLimit(.minutes(2)))
struct WebServiceTests {
    @Test("/metrics answers in the text format and its counts follow steps, sessions, errors and refusals")
    func metricsFollowSteps() async throws {
        let t = try await WebDaemon()
        defer { t.stop() }
        let (status0, before) = try await t.get("/metrics")
        #expect(status0 == 200)
        #expect(sample(before, "metasim_sessions") == 0)
        #expect(before.contains("# TYPE metasim_sessions gauge"))
        #expect(sample(before, "metasim_resident_memory_bytes").map { $0 > 1_000_000 } == true)

        let c = try MetaSimConnection(socketPath: t.socketPath, client: "web-test")
        let s = try c.open(OpenRequest(world: "cartpole", batch: 4, seed: 1))
        for _ in 0..<25 { try stepZero(s) }
        // A refusal: a batch beyond max_batch.
        #expect(throws: (any Error).self) { try c.open(OpenRequest(world: "cartpole", batch: 1 << 30)) }

        let (status1, after) = try await t.get("/metrics")
        #expect(status1 == 200)
        #expect(sample(after, "metasim_sessions") == 1)
        #expect(sample(after, "metasim_connections") == 1)
        #expect(sample(after, "metasim_world_steps_total", "world=\"cartpole\"") == 100)
        #expect(sample(after, "metasim_world_batch_steps_total", "world=\"cartpole\"") == 25)
        #expect(sample(after, "metasim_step_latency_seconds_count", "world=\"cartpole\"") == 25)
        #expect(sample(after, "metasim_step_latency_seconds_bucket", "world=\"cartpole\",le=\"+Inf\"") == 25)
        #expect(sample(after, "metasim_errors_total", "code=\"limit_exceeded\"") == 1)
        #expect(sample(after, "metasim_refusals_total", "limit=\"max_batch\"") == 1)
        #expect(sample(after, "metasim_steps_total").map { $0 >= 100 } == true)
        try s.close()
    }

    @Test("the sessions API lists a live session; unknown ids are 404; the page is served")
    func sessionsAPI() async throws {
        let t = try await WebDaemon()
        defer { t.stop() }
        let c = try MetaSimConnection(socketPath: t.socketPath, client: "web-test")
        let s = try c.open(OpenRequest(world: "cartpole", batch: 2, taskSeed: 3))
        let (status, body) = try await t.get("/api/sessions")
        #expect(status == 200)
        let list = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let sessions = list?["sessions"] as? [[String: Any]]
        #expect(sessions?.count == 1)
        #expect(sessions?.first?["world"] as? String == "cartpole")
        #expect(sessions?.first?["task_seed"] as? Int == 3)
        #expect(sessions?.first?["batch"] as? Int == 2)
        #expect(try await t.get("/api/sessions/\(s.id)").0 == 200)
        let (sceneStatus, scene) = try await t.get("/api/sessions/\(s.id)/scene")
        #expect(sceneStatus == 200)
        let sceneObject = try JSONSerialization.jsonObject(with: Data(scene.utf8)) as? [String: Any]
        #expect((sceneObject?["shapes"] as? [Any])?.isEmpty == false)
        #expect(try await t.get("/api/sessions/999999").0 == 404)
        #expect(try await t.get("/api/sessions/999999/scene").0 == 404)
        #expect(try await t.get("/api/sessions/nonsense").0 == 404)
        let (pageStatus, page) = try await t.get("/")
        #expect(pageStatus == 200)
        #expect(page.contains("Live sessions"))
        try s.close()
    }

    @Test("a watcher that never reads: its frames are dropped and counted, its buffer bounded, stepping goes on")
    func slowWatcher() async throws {
        let t = try await WebTestServer()
        defer { _Concurrency.Task { await t.stop() } }
        let c = try MetaSimConnection(socketPath: t.socketPath, client: "web-test")
        let s = try c.open(OpenRequest(world: "cartpole", batch: 2, seed: 1))
        let monitor = try #require(t.server.monitor)
        #expect(monitor.watch(424242) == nil)
        let watcher = try #require(monitor.watch(s.id))
        // Also a WebSocket client that upgrades and then never reads.
        let fd = try t.connectTCP()
        defer { close(fd) }
        let upgrade = "GET /api/sessions/\(s.id)/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        _ = Array(upgrade.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        // Step for 1 s: about 30 pose frames offered, the watcher's buffer holds 8.
        let start = ContinuousClock.now
        var steps = 0
        while ContinuousClock.now - start < .seconds(1) {
            try stepZero(s)
            steps += 1
        }
        #expect(steps > 100)
        #expect(watcher.dropped > 10, "dropped \(watcher.dropped)")
        var buffered = 0
        try s.close()  // ends the stream: what it holds is bounded
        for await _ in watcher.frames { buffered += 1 }
        #expect(buffered <= PoseWatcher.capacity)
        #expect(buffered > 0)
    }

    @Test("finished batches: the directories of http.batches listed, each unit's adaptation curve and returns; others 404")
    func batches() async throws {
        let root = "/tmp/msw-batches-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: root + "/run1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Lines as `metasim batch` writes them (BatchOutput.episodesText).
        let common = #""params": {}, "policy": "random", "task_seed": 1000000000, "length": 500, "end": "horizon""#
        let lines = [
            #"{"unit": 0, "key": "a", "world": "cartpole", "adapt_steps": 2, "adapt_returns": [10.5, 20, 30], "episode": 0, "episode_seed": 0, "return": 31.5, "#
                + common + "}",
            #"{"unit": 0, "key": "a", "world": "cartpole", "adapt_steps": 2, "adapt_returns": [10.5, 20, 30], "episode": 1, "episode_seed": 1, "return": 29, "#
                + common + "}",
            #"{"unit": 1, "key": "b", "world": "cartpole", "episode": 0, "episode_seed": 0, "return": 7, "# + common + "}",
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: root + "/run1/episodes.jsonl", atomically: true, encoding: .utf8)
        let t = try await WebDaemon(batches: root)
        defer { t.stop() }
        let (status, list) = try await t.get("/api/batches")
        #expect(status == 200)
        #expect((try JSONSerialization.jsonObject(with: Data(list.utf8)) as? [String: [String]])?["batches"] == ["run1"])
        let (runStatus, run) = try await t.get("/api/batches/run1")
        #expect(runStatus == 200)
        let units = (try JSONSerialization.jsonObject(with: Data(run.utf8)) as? [String: Any])?["units"] as? [[String: Any]]
        #expect(units?.count == 2)
        #expect(units?.first?["adapt_returns"] as? [Double] == [10.5, 20, 30])
        #expect(units?.first?["returns"] as? [Double] == [31.5, 29])
        #expect(units?.last?["returns"] as? [Double] == [7])
        #expect(try await t.get("/api/batches/empty").0 == 404)
        #expect(try await t.get("/api/batches/..").0 == 404)
        #expect(try await t.get("/api/batches/nothing").0 == 404)
    }

    @Test("the http section of metasimd.yaml: port turns it on, loopback unless allow_remote, errors with path:line:column")
    func configuration() throws {
        #expect(try ConfigurationFile.parse("limits:\n  max_batch: 4\n", file: "d.yaml").http == nil)
        let on = try ConfigurationFile.parse("http:\n  port: 9464\n  on_port_in_use: continue\n  batches: /srv/b\n", file: "d.yaml").http
        #expect(on?.port == 9464 && on?.address == "127.0.0.1" && on?.onPortInUse == .continue && on?.batches == "/srv/b")
        #expect(try ConfigurationFile.parse("http:\n  port: 9464\n  enabled: false\n", file: "d.yaml").http == nil)
        let remote = try ConfigurationFile.parse("http:\n  port: 80\n  address: 0.0.0.0\n  allow_remote: true\n", file: "d.yaml").http
        #expect(remote?.address == "0.0.0.0" && remote?.allowRemote == true)
        for (text, expected) in [
            ("http:\n  port: 80\n  address: 0.0.0.0\n", "d.yaml:2:3: error: http: http.address 0.0.0.0 is not a loopback address"),
            ("http:\n  address: 127.0.0.1\n", "d.yaml:2:3: error: http: missing key 'port'"),
            ("http:\n  port: 70000\n", "d.yaml:2:9: error: http.port"),
            ("http:\n  port: 1\n  on_port_in_use: maybe\n", "d.yaml:3:19: error: http.on_port_in_use"),
            ("http:\n  port: 1\n  colour: blue\n", "http.colour"),
        ] {
            let error = #expect(throws: ServerError.self) { _ = try ConfigurationFile.parse(text, file: "d.yaml") }
            #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
        }
    }

    @Test("a port in use is refused before anything starts; a non-loopback address needs allow_remote")
    func portInUse() async throws {
        let t = try await WebTestServer()
        defer { _Concurrency.Task { await t.stop() } }
        let logger = Logger(label: "test")
        let busy = WebService(settings: HTTPSettings(port: t.port), server: t.server, logger: logger)
        #expect(throws: WebError.self) { try busy.check() }
        var remote = HTTPSettings(address: "0.0.0.0", port: 0)
        #expect(throws: WebError.self) { try WebService(settings: remote, server: t.server, logger: logger).check() }
        remote.allowRemote = true
        #expect(remote.problem == nil)
        #expect(HTTPSettings.parse("127.0.0.1:9464") == HTTPSettings(port: 9464))
        #expect(HTTPSettings.parse("[::1]:80")?.address == "::1")
        #expect(HTTPSettings.parse("nonsense") == nil)
    }
}
