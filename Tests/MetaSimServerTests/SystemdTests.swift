import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The repository's root (for the units and the Makefile).
let repositoryRoot = URL(fileURLWithPath: worldsRoot).deletingLastPathComponent().path

/// The number of worlds in the repository's catalog (as the daemon serves it, and `make install`
/// installs it), counted rather than written down: the catalog grows.
let catalogWorldCount = WorldCatalog.yamlFiles(under: worldsRoot).count

/// A datagram socket standing in for systemd's notification socket (`NOTIFY_SOCKET`): a path,
/// or an abstract `@name`. Messages are kept in order; `next` waits for the next one that
/// matches after the last one it returned.
final class NotifySocket {
    let fd: Int32
    /// The value for `NOTIFY_SOCKET`.
    let address: String
    private(set) var messages: [String] = []
    private var cursor = 0

    init(abstract: Bool) throws {
        if abstract {
            address = "@metasim-test-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        } else {
            address = URL(fileURLWithPath: temporarySocketPath()).deletingLastPathComponent().appendingPathComponent("notify").path
        }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard fd >= 0, r == 0 else {
            Issue.record("cannot bind the notification socket \(address): \(String(cString: strerror(errno)))")
            throw CancellationError()
        }
    }

    deinit {
        close(fd)
        if address.hasPrefix("/") { unlink(address) }
    }

    /// Reads what has arrived, without waiting.
    func poll() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 0 else { return }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
    }

    /// Waits for the next message (after the last one returned) that `match` accepts.
    @discardableResult
    func next(_ what: String, timeout: Double = 60, _ match: (String) -> Bool) async throws -> String {
        let start = Date()
        while true {
            poll()
            while cursor < messages.count {
                let m = messages[cursor]
                cursor += 1
                if match(m) { return m }
            }
            if Date().timeIntervalSince(start) > timeout {
                Issue.record("no \(what) in \(timeout) s; received: \(messages)")
                throw CancellationError()
            }
            try await _Concurrency.Task.sleep(for: .milliseconds(10))
        }
    }

    /// Waits for the next message with the line `line` (e.g. `READY=1`).
    @discardableResult
    func next(line: String, timeout: Double = 60) async throws -> String {
        try await next(line, timeout: timeout) { $0.split(separator: "\n").contains { $0 == line } }
    }
}

/// A child started with posix_spawn rather than Foundation's `Process`: systemd-socket-activate
/// closes the descriptors it does not pass on, among them the one Foundation watches to learn
/// that a child exited; Foundation then waits for that child in a blocking call, and stops
/// noticing any other child's exit until it ends.
final class SpawnedProcess {
    private(set) var pid: pid_t = 0
    private let stderrRead: Int32

    init(_ arguments: [String], environment: [String: String]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CancellationError() }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stderrRead = fds[0]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = env.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let r = posix_spawn(&pid, arguments[0], &actions, nil, argv, envp)
        close(fds[1])
        guard r == 0 else {
            Issue.record("posix_spawn \(arguments[0]): \(String(cString: strerror(r)))")
            throw CancellationError()
        }
    }

    deinit {
        // A test that failed before its SIGTERM leaves no process behind.
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        close(stderrRead)
    }

    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == 0 { return true }
        exitStatus = status
        return false
    }

    private var exitStatus: Int32?

    /// Waits for the exit: the exit code (128 + signal when killed) and what it wrote on stderr.
    func exit() async -> (status: Int32, log: String) {
        while isRunning { try? await _Concurrency.Task.sleep(for: .milliseconds(10)) }
        var log: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(stderrRead, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            log += buffer[0..<n]
        }
        let raw = exitStatus ?? 0
        let status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        return (status, String(decoding: log, as: UTF8.self))
    }
}

/// A tool from Debian's `systemd` package (`make deps` installs it).
func systemdTool(_ name: String) throws -> String {
    for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    Issue.record("\(name) is missing: install Debian's systemd package (make deps)")
    throw CancellationError()
}

/// Runs a command to its end: its status and output (stdout and stderr together, through a
/// file, waiting without blocking a thread of the test pool). The outer make's job server is
/// not passed on.
func runCommand(_ arguments: [String], directory: String? = nil) async throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: arguments[0])
    p.arguments = Array(arguments.dropFirst())
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var environment = ProcessInfo.processInfo.environment
    for key in ["MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DESTDIR", "PREFIX"] { environment.removeValue(forKey: key) }
    p.environment = environment
    let outputPath = URL(fileURLWithPath: temporarySocketPath()).deletingLastPathComponent().appendingPathComponent("output").path
    _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
    p.standardOutput = output
    p.standardError = output
    try p.run()
    while p.isRunning { try await _Concurrency.Task.sleep(for: .milliseconds(20)) }
    try output.close()
    return (p.terminationStatus, try String(contentsOfFile: outputPath, encoding: .utf8))
}

@Suite("metasimd under systemd (no running systemd needed)", .serialized)
struct SystemdTests {
    // MARK: sd_notify

    @Test("READY=1 once the socket accepts, STATUS= with sessions, WATCHDOG=1, STOPPING=1 (path socket)")
    func notifyPath() async throws {
        let notify = try NotifySocket(abstract: false)
        let socket = temporarySocketPath()
        let daemon = try DaemonProcess(socket: socket, environment: ["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "400000"])
        let ready = try await notify.next(line: "READY=1")
        // Ready means accepting: a client connects at once, without retrying.
        let c = try MetaSimConnection(socketPath: socket)
        #expect(ready.contains("STATUS=\(catalogWorldCount) worlds; "), "\(ready)")
        let s = try c.open(OpenRequest(world: "pendulum", batch: 4, seed: 1))
        try s.step([Float](repeating: 0.1, count: 4))
        try await notify.next("STATUS= with the open session") { $0.contains("1 session (4 instances)") }
        // Pings at half of WATCHDOG_USEC (0.2 s): several within a few seconds.
        let start = Date()
        for _ in 0..<5 { try await notify.next(line: "WATCHDOG=1", timeout: 10) }
        #expect(Date().timeIntervalSince(start) < 10)
        kill(daemon.process.processIdentifier, SIGTERM)
        let stopping = try await notify.next(line: "STOPPING=1")
        #expect(stopping.contains("STATUS=draining"))
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        #expect(log.contains("watchdog: pinging every 0.2 s"))
        // READY=1 comes only after the catalog is loaded and the socket listens.
        #expect(notify.messages.firstIndex { $0.contains("READY=1") } == notify.messages.firstIndex { $0.hasPrefix("READY=1") })
    }

    @Test("abstract @NOTIFY_SOCKET; no WATCHDOG=1 when WATCHDOG_PID names another process")
    func notifyAbstract() async throws {
        let notify = try NotifySocket(abstract: true)
        let socket = temporarySocketPath()
        let daemon = try DaemonProcess(socket: socket, environment: [
            "NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1",
        ])
        try await notify.next(line: "READY=1")
        _ = try MetaSimConnection(socketPath: socket)
        try await _Concurrency.Task.sleep(for: .milliseconds(1200))
        kill(daemon.process.processIdentifier, SIGTERM)
        try await notify.next(line: "STOPPING=1")
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        #expect(!notify.messages.contains { $0.contains("WATCHDOG=1") }, "\(notify.messages)")
    }

    // MARK: Socket activation

    @Test("socket activation through systemd-socket-activate: the inherited socket serves, is left in place")
    func socketActivation() async throws {
        let activate = try systemdTool("systemd-socket-activate")
        let notify = try NotifySocket(abstract: false)
        let socket = temporarySocketPath()
        // systemd-socket-activate listens, execs metasimd on the first connection with LISTEN_FDS=1,
        // LISTEN_PID (its own pid: exec keeps it), LISTEN_FDNAMES=metasim; it passes only -E variables on.
        let daemon = try SpawnedProcess([
            activate, "--listen=\(socket)", "--fdname=metasim", "--setenv=NOTIFY_SOCKET=\(notify.address)",
            try productPath("metasimd"), "--socket", socket, "--worlds", worldsRoot,
        ], environment: [:])
        // The first connection starts metasimd; it does not say hello, so that no thread of the
        // test pool blocks while metasimd loads its catalog.
        var trigger: MetaSimConnection?
        let start = Date()
        while trigger == nil {  // until systemd-socket-activate listens
            trigger = try? MetaSimConnection(socketPath: socket, greet: false)
            if trigger == nil {
                #expect(daemon.isRunning && Date().timeIntervalSince(start) < 30)
                try await _Concurrency.Task.sleep(for: .milliseconds(20))
            }
        }
        try await notify.next(line: "READY=1")
        let client = try MetaSimConnection(socketPath: socket)
        #expect(try client.ping([1, 2, 3]) == [1, 2, 3])
        let s = try client.open(OpenRequest(world: "cartpole", batch: 2, seed: 3))
        try s.step(indices: [0, 1])
        let other = try MetaSimConnection(socketPath: socket)
        #expect(try other.status().sessions == 1)
        // The socket is systemd's: metasimd did not chmod it to 0660 (as it does its own).
        var st = stat()
        #expect(lstat(socket, &st) == 0 && st.st_mode & 0o777 != 0o660)

        kill(daemon.pid, SIGTERM)
        try await notify.next(line: "STOPPING=1")
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        #expect(log.contains("listening (socket-activated) fd=3 socket=\(socket)"), "\(log)")
        #expect(FileManager.default.fileExists(atPath: socket), "the inherited socket's file is not metasimd's to remove")
    }

    @Test("LISTEN_* selection: our pid only, the socket named metasim, else the only one")
    func activationSelection() throws {
        let pid: pid_t = 4242
        #expect(try SocketActivation.select(environment: [:], pid: pid) == nil)
        #expect(try SocketActivation.select(environment: ["LISTEN_PID": "1", "LISTEN_FDS": "1"], pid: pid) == nil)
        let one = try SocketActivation.select(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "1"], pid: pid)
        #expect(one?.descriptor == 3 && one?.name == nil)
        let named = try SocketActivation.select(
            environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "3", "LISTEN_FDNAMES": "stored:metasim:other"], pid: pid)
        #expect(named?.descriptor == 4 && named?.name == "metasim")
        #expect(throws: ServerError.self) {
            _ = try SocketActivation.select(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"], pid: pid)
        }
        #expect(throws: ServerError.self) {
            _ = try SocketActivation.select(environment: ["LISTEN_PID": "4242", "LISTEN_FDS": "x"], pid: pid)
        }
        #expect(SystemdNotifier.socketAddress("@abc") == [0, 97, 98, 99])
        #expect(SystemdNotifier.socketAddress("/run/n") == Array("/run/n".utf8) + [0])
        #expect(SystemdNotifier.socketAddress("vsock:2:1") == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"], pid: pid) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"], pid: pid) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], pid: pid) == nil)
    }

    // MARK: Reload

    @Test("SIGHUP reloads the catalog and limits keeping open sessions; a broken configuration is refused")
    func reload() async throws {
        let notify = try NotifySocket(abstract: false)
        let socket = temporarySocketPath()
        let dir = URL(fileURLWithPath: socket).deletingLastPathComponent()
        let config = dir.appendingPathComponent("metasimd.yaml").path
        let smaller = dir.appendingPathComponent("worlds")
        try FileManager.default.createDirectory(at: smaller, withIntermediateDirectories: true)
        for world in ["robots/pendulum.yaml", "robots/cartpole.yaml"] {
            try FileManager.default.copyItem(atPath: "\(worldsRoot)/\(world)",
                                             toPath: smaller.appendingPathComponent(URL(fileURLWithPath: world).lastPathComponent).path)
        }
        try "worlds: \(worldsRoot)\nlimits:\n  max_batch: 64\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--config", config], worlds: nil,
                                       environment: ["NOTIFY_SOCKET": notify.address])
        try await notify.next(line: "READY=1")
        let c = try MetaSimConnection(socketPath: socket)
        #expect(try c.listWorlds().count == catalogWorldCount)
        #expect(c.hello.limits.maxBatch == 64)
        // acrobot is not in the new catalog: its open session must go on all the same.
        let s = try c.open(OpenRequest(world: "acrobot", batch: 2, seed: 5))
        try s.step(indices: [0, 2])

        try "worlds: \(smaller.path)\nlimits:\n  max_batch: 8\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await notify.next(line: "RELOADING=1")
        let ready = try await notify.next(line: "READY=1")
        #expect(ready.contains("STATUS=2 worlds; 1 connection; 1 session (2 instances)"), "\(ready)")
        #expect(try c.listWorlds().map(\.name).sorted() == ["cartpole", "pendulum"])
        try s.step(indices: [1, 1])
        #expect(s.info.world == "acrobot")
        let c2 = try MetaSimConnection(socketPath: socket)
        #expect(c2.hello.limits.maxBatch == 8)
        let unknown = #expect(throws: ClientError.self) { _ = try c2.open(OpenRequest(world: "acrobot")) }
        #expect(unknown?.code == .unknownWorld)

        // A broken file: refused, the running configuration stays, connections and sessions too.
        try "worlds: \(worldsRoot)\nlimits:\n  max_batch: 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await notify.next(line: "RELOADING=1")
        let failed = try await notify.next(line: "READY=1")
        #expect(failed.contains("STATUS=reload failed"))
        #expect(try c.listWorlds().count == 2)
        try s.step(indices: [0, 0])
        #expect(try MetaSimConnection(socketPath: socket).hello.limits.maxBatch == 8)
        // A missing worlds folder is refused the same way.
        try "worlds: \(dir.path)/nowhere\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(daemon.process.processIdentifier, SIGHUP)
        try await notify.next(line: "RELOADING=1")
        #expect(try await notify.next(line: "READY=1").contains("STATUS=reload failed"))
        #expect(try c.listWorlds().count == 2)

        kill(daemon.process.processIdentifier, SIGTERM)
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        #expect(log.contains("reload: \(config):3:14: error: limits.max_batch"), "\(log)")
        #expect(log.contains("nowhere: the worlds folder does not exist"), "\(log)")
        #expect(log.components(separatedBy: "reload failed: keeping the running configuration").count == 3)
    }

    // MARK: Logs, policies

    @Test("with JOURNAL_STREAM on stderr every line is one event with a <N> priority prefix")
    func journalLines() async throws {
        let socket = temporarySocketPath()
        let daemon = try DaemonProcess(socket: socket, arguments: ["--policies", "/nonexistent/policies"], journal: true)
        _ = try await daemon.waitUntilServing()
        kill(daemon.process.processIdentifier, SIGTERM)
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        let lines = log.split(separator: "\n")
        #expect(lines.count >= 4)
        for line in lines { #expect(line.range(of: #"^<[0-7]>\S"#, options: .regularExpression) != nil, "\(line)") }
        #expect(lines.contains { $0.hasPrefix("<6>listening") })
        #expect(lines.contains { $0.hasPrefix("<6>policies: 0 loaded") })
    }

    @Test("the policies folder is checked: a file refuses to start (78), a folder's checkpoints are loaded, bad ones reported")
    func policiesFolder() async throws {
        let socket = temporarySocketPath()
        let dir = URL(fileURLWithPath: socket).deletingLastPathComponent()
        let file = dir.appendingPathComponent("policies-file").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let refused = try DaemonProcess(socket: socket, arguments: ["--policies", file])
        let (status, log) = await refused.exit()
        #expect(status == 78, "\(log)")
        #expect(log.contains("\(file): error: policies: exists and is not a folder"), "\(log)")

        let folder = dir.appendingPathComponent("policies").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: policiesRoot + "/point-nav.safetensors", toPath: folder + "/point-nav.safetensors")
        _ = FileManager.default.createFile(atPath: folder + "/bad.safetensors", contents: Data("not a checkpoint".utf8))
        let config = dir.appendingPathComponent("metasimd.yaml").path
        try "policies: \(folder)\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try ConfigurationFile.load(contentsOfFile: config).policies == folder)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--config", config])
        _ = try await daemon.waitUntilServing()
        kill(daemon.process.processIdentifier, SIGTERM)
        let (status2, log2) = await daemon.exit()
        #expect(status2 == 0, "\(log2)")
        #expect(log2.contains("policies: 1 loaded from \(folder) (point-nav); 1 rejected"), "\(log2)")
        #expect(log2.contains("policy rejected: bad.safetensors"), "\(log2)")
    }

    // MARK: Units and install

    @Test("systemd-analyze verify: the units are clean (ExecStart pointed at the built metasimd)")
    func unitsVerify() async throws {
        let analyze = try systemdTool("systemd-analyze")
        let dir = URL(fileURLWithPath: temporarySocketPath()).deletingLastPathComponent().path
        // verify checks that ExecStart's binary exists: a copy of the service names the built one.
        let service = try String(contentsOfFile: "\(repositoryRoot)/systemd/metasimd.service", encoding: .utf8)
        #expect(service.contains("\nExecStart=/usr/local/bin/metasimd\n"))
        try service.replacingOccurrences(of: "\nExecStart=/usr/local/bin/metasimd\n", with: "\nExecStart=\(try productPath("metasimd"))\n")
            .write(toFile: "\(dir)/metasimd.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "\(repositoryRoot)/systemd/metasimd.socket", toPath: "\(dir)/metasimd.socket")
        let r = try await runCommand([analyze, "verify", "\(dir)/metasimd.service", "\(dir)/metasimd.socket"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.isEmpty, "\(r.output)")
    }

    @Test("systemd-analyze security --offline=true: exposure at most 2.0")
    func securityExposure() async throws {
        let analyze = try systemdTool("systemd-analyze")
        let r = try await runCommand([analyze, "security", "--offline=true", "systemd/metasimd.service"], directory: repositoryRoot)
        let marker = "Overall exposure level for metasimd.service: "
        let line = try #require(r.output.split(separator: "\n").first { $0.contains(marker) }, "\(r.output)")
        let figure = try #require(Double(line.components(separatedBy: marker)[1].split(separator: " ")[0]))
        #expect(figure <= 2.0, "\(line)")
    }

    @Test("with the web view's drop-in (systemd/metasimd-web.conf): exposure still at most 2.0, network to loopback only")
    func securityExposureWithWebView() async throws {
        let analyze = try systemdTool("systemd-analyze")
        let dir = URL(fileURLWithPath: temporarySocketPath()).deletingLastPathComponent().path
        let service = try String(contentsOfFile: "\(repositoryRoot)/systemd/metasimd.service", encoding: .utf8)
        let dropIn = try String(contentsOfFile: "\(repositoryRoot)/systemd/metasimd-web.conf", encoding: .utf8)
        #expect(dropIn.contains("\nIPAddressAllow=localhost\n"))
        #expect(dropIn.contains("\nIPAddressDeny=any\n"))
        // The drop-in's settings after the unit's, as systemd applies a drop-in.
        try (service + "\n" + dropIn).write(toFile: "\(dir)/metasimd.service", atomically: true, encoding: .utf8)
        let r = try await runCommand([analyze, "security", "--offline=true", "\(dir)/metasimd.service"])
        let marker = "Overall exposure level for metasimd.service: "
        let line = try #require(r.output.split(separator: "\n").first { $0.contains(marker) }, "\(r.output)")
        let figure = try #require(Double(line.components(separatedBy: marker)[1].split(separator: " ")[0]))
        #expect(figure <= 2.0, "\(line)")
        // It did open the network (the figure is not the unit's own).
        #expect(r.output.contains("Service has access to the host's network"), "\(r.output)")
    }

    @Test("make install DESTDIR= puts binaries, units, sysusers/tmpfiles, catalog and example config; uninstall removes them")
    func makeInstall() async throws {
        let destination = URL(fileURLWithPath: temporarySocketPath()).deletingLastPathComponent().appendingPathComponent("root").path
        let built = URL(fileURLWithPath: try productPath("metasimd")).deletingLastPathComponent().path
        let make = "/usr/bin/make"
        let install = try await runCommand([make, "-s", "install-files", "DESTDIR=\(destination)", "BUILD_DIR=\(built)"], directory: repositoryRoot)
        #expect(install.status == 0, "\(install.output)")
        func files() -> [String] {
            let all = FileManager.default.enumerator(atPath: destination)?.compactMap { $0 as? String } ?? []
            return all.filter { path in
                var isDir: ObjCBool = false
                return FileManager.default.fileExists(atPath: "\(destination)/\(path)", isDirectory: &isDir) && !isDir.boolValue
            }.sorted()
        }
        let installed = files()
        for expected in [
            "etc/metasim/metasimd.yaml.example", "usr/local/bin/metasim", "usr/local/bin/metasimd",
            "usr/local/lib/systemd/system/metasimd.service", "usr/local/lib/systemd/system/metasimd.socket",
            "usr/local/lib/sysusers.d/metasim.conf", "usr/local/lib/tmpfiles.d/metasim.conf",
            "usr/local/share/metasim/worlds/robots/lunar-lander.yaml", "usr/local/share/metasim/worlds/driving/parking.yaml",
            "usr/local/share/metasim/web/index.html", "usr/local/share/metasim/web/app.js", "usr/local/share/metasim/metasimd-web.conf",
        ] {
            #expect(installed.contains(expected), "\(expected) not in \(installed)")
        }
        #expect(installed.filter { $0.hasPrefix("usr/local/share/metasim/worlds/") && $0.hasSuffix(".yaml") }.count == catalogWorldCount)
        let unit = try String(contentsOfFile: "\(destination)/usr/local/lib/systemd/system/metasimd.service", encoding: .utf8)
        #expect(unit.contains("\nExecStart=/usr/local/bin/metasimd\n"))
        // The example configuration is valid, and names the installed catalog.
        let example = try ConfigurationFile.load(contentsOfFile: "\(destination)/etc/metasim/metasimd.yaml.example")
        #expect(example.worlds == "/usr/local/share/metasim/worlds")

        let uninstall = try await runCommand([make, "-s", "uninstall", "DESTDIR=\(destination)"], directory: repositoryRoot)
        #expect(uninstall.status == 0, "\(uninstall.output)")
        #expect(files().isEmpty, "\(files())")
    }
}
