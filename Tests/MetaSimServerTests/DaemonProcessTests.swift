import Foundation
import MetaSimClient
import MetaSimProtocol
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A built product next to the test binary (`swift build` builds them all before `swift test`).
func productPath(_ name: String) throws -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let candidates = [dir.appendingPathComponent(name).path,
                      dir.deletingLastPathComponent().appendingPathComponent(name).path]
    guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        Issue.record("\(name) is not built next to the tests (run `swift build` first): looked in \(candidates)")
        throw CancellationError()
    }
    return path
}

final class ExitTime: Sendable {
    let instant = Mutex<ContinuousClock.Instant?>(nil)
}

/// metasimd as a child process.
final class DaemonProcess {
    let process = Process()
    let stderr = Pipe()
    let socket: String
    /// When the daemon exited, recorded by Foundation's child monitor (not by a test task, which
    /// may wait for a free thread of the cooperative pool while other suites hold them all).
    private let exitTime = ExitTime()
    var exitedAt: ContinuousClock.Instant? { exitTime.instant.withLock { $0 } }

    /// `worlds`: the `--worlds` flag (nil: none, the configuration file's); `environment`: added
    /// to the test's; `journal`: `JOURNAL_STREAM` names the stderr pipe, as systemd does.
    init(socket: String, arguments: [String] = [], worlds: String? = worldsRoot, environment: [String: String] = [:],
         journal: Bool = false) throws {
        self.socket = socket
        let daemon = try productPath("metasimd")
        let daemonArguments = ["--socket", socket] + (worlds.map { ["--worlds", $0] } ?? []) + ["--log-level", "info"] + arguments
        var environment = environment
        if journal {
            var st = stat()
            fstat(stderr.fileHandleForWriting.fileDescriptor, &st)
            environment["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)"
        }
        process.executableURL = URL(fileURLWithPath: daemon)
        process.arguments = daemonArguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        process.terminationHandler = { [exitTime] _ in exitTime.instant.withLock { $0 = .now } }
        try process.run()
    }

    func waitUntilServing() async throws -> MetaSimConnection {
        let start = Date()
        while true {
            do { return try MetaSimConnection(socketPath: socket) } catch {
                if !process.isRunning || Date().timeIntervalSince(start) > 60 { throw error }
                try await _Concurrency.Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Sends SIGTERM and waits up to `limit` seconds for the exit (then SIGKILL): whether it
    /// exited, the seconds from SIGTERM to the exit as Foundation's child monitor saw it (this
    /// task itself may have waited for a thread of the cooperative pool), its status and its log.
    func terminate(within limit: Double = 40) async -> (exited: Bool, took: Double, status: Int32, log: String) {
        let term = ContinuousClock.now
        kill(process.processIdentifier, SIGTERM)
        var exited = false
        while ContinuousClock.now - term < .milliseconds(Int64(limit * 1000)) {
            if !process.isRunning { exited = true; break }
            try? await _Concurrency.Task.sleep(for: .milliseconds(20))
        }
        let took = (exitedAt ?? ContinuousClock.now) - term
        if !exited { kill(process.processIdentifier, SIGKILL) }
        let (status, log) = await exit()
        return (exited, took.inSeconds, status, log)
    }

    func exit() async -> (status: Int32, log: String) {
        while process.isRunning { try? await _Concurrency.Task.sleep(for: .milliseconds(10)) }
        let log = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, log)
    }
}

@Suite("metasimd as a process")
struct DaemonProcessTests {
    @Test("SIGTERM: requests in flight are answered, sessions closed, the socket removed, exit 0")
    func sigtermDrain() async throws {
        let socket = temporarySocketPath()
        let daemon = try DaemonProcess(socket: socket)
        let c = try await daemon.waitUntilServing()
        let s = try c.open(OpenRequest(world: "bipedal-walker", batch: 64, seed: 1))
        // Pipeline 8 steps (8 KiB: one read for the server).
        let actions = [Float](repeating: 0.5, count: 64 * 4)
        var ids: [UInt32] = []
        for _ in 0..<8 {
            let id = c.makeID()
            ids.append(id)
            var data: [UInt8] = []
            func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { data += $0 } }
            put(s.id); put(UInt32(64)); put(UInt32(1)); put(UInt32(0))
            for a in actions { put(a.bitPattern) }
            try data.withUnsafeBytes { try c.send(kind: MessageKind.step.rawValue, id: id, meta: [], data: $0) }
        }
        // The first answer shows the server has read the pipelined requests: now SIGTERM.
        var replies = [try c.receive()]
        kill(daemon.process.processIdentifier, SIGTERM)
        for _ in 1..<ids.count { replies.append(try c.receive()) }
        for (id, reply) in zip(ids, replies) {
            #expect(reply.header.id == id)
            #expect(!reply.isError)
            #expect(reply.data.withUnsafeBytes { StepReplyLayout.parse($0)?.layout.count } == 64)
        }
        #expect(throws: ClientError.self) { _ = try c.receive() }
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        #expect(log.contains("shutting down"))
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test("a stale socket file is replaced; a live server's socket and a regular file are left alone")
    func staleSocket() async throws {
        let socket = temporarySocketPath()
        // A stale socket: bound, then its process "died" (closed without unlinking).
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(socket.utf8)) }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0)
        close(fd)
        #expect(FileManager.default.fileExists(atPath: socket))

        let first = try DaemonProcess(socket: socket)
        let c = try await first.waitUntilServing()
        var st = stat()
        #expect(lstat(socket, &st) == 0 && st.st_mode & 0o777 == 0o660)

        // A second daemon on the live socket refuses to start and does not steal it.
        let second = try DaemonProcess(socket: socket)
        let (status, log) = await second.exit()
        #expect(status != 0)
        #expect(log.contains("another server is listening"))
        #expect(try c.ping([5]) == [5])

        kill(first.process.processIdentifier, SIGTERM)
        #expect(await first.exit().status == 0)

        // A regular file at the path is not replaced.
        _ = FileManager.default.createFile(atPath: socket, contents: Data("keep me".utf8))
        let third = try DaemonProcess(socket: socket)
        let (status3, log3) = await third.exit()
        #expect(status3 != 0)
        #expect(log3.contains("not a socket"))
        #expect(try String(contentsOfFile: socket, encoding: .utf8) == "keep me")
    }

    @Test("a configuration file with mistakes is refused with path:line:column and the key path")
    func badConfiguration() async throws {
        let socket = temporarySocketPath()
        let config = URL(fileURLWithPath: socket).deletingLastPathComponent().appendingPathComponent("metasimd.yaml").path
        try "socket: /tmp/x.sock\nlimits:\n  max_batch: 0\n  idle_timeout: 5\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--config", config])
        let (status, log) = await daemon.exit()
        #expect(status == 78)
        #expect(log.contains("\(config):3:14: error: limits.max_batch"))
        #expect(log.contains("\(config):4:3: error: limits.idle_timeout: unknown key"))
    }

    @Test("a configuration file's settings apply, and flags override them")
    func configurationApplies() async throws {
        let socket = temporarySocketPath()
        let config = URL(fileURLWithPath: socket).deletingLastPathComponent().appendingPathComponent("metasimd.yaml").path
        try "socket: /nonexistent/ignored.sock\nlimits:\n  max_batch: 3\n  max_sessions_per_connection: 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--config", config])
        let c = try await daemon.waitUntilServing()
        #expect(c.hello.limits.maxBatch == 3)
        let tooBig = #expect(throws: ClientError.self) { _ = try c.open(OpenRequest(world: "pendulum", batch: 4)) }
        #expect(tooBig?.code == .limitExceeded)
        _ = try c.open(OpenRequest(world: "pendulum", batch: 3))
        let second = #expect(throws: ClientError.self) { _ = try c.open(OpenRequest(world: "pendulum")) }
        #expect(second?.code == .limitExceeded)
        kill(daemon.process.processIdentifier, SIGINT)
        #expect(await daemon.exit().status == 0)
    }
}
