import Foundation
@testable import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// point-nav with `reset_steps` settle steps of `substeps` Box2D steps each in every reset: a
/// world whose resets (and so its open) take as long as one likes, one cheap step at a time.
func slowWorld(resetSteps: Int, substeps: Int) throws -> String {
    var text = try String(contentsOfFile: worldsRoot + "/robots/point-nav.yaml", encoding: .utf8)
    text = text.replacingOccurrences(of: "\nsimulation:\n", with: "\nsimulation:\n  substeps: \(substeps)\n")
    text = text.replacingOccurrences(of: "\nepisode:\n", with: "\nepisode:\n  reset_steps: \(resetSteps)\n")
    return text
}

/// Seconds one instance of `slowWorld` takes to reset, measured here (a hundredth of the
/// settle steps, times 100): what the server would spend per instance if nothing stopped it.
func slowResetSeconds(resetSteps: Int, substeps: Int) throws -> Double {
    let d = try WorldDefinition.parse(try slowWorld(resetSteps: max(1, resetSteps / 100), substeps: substeps), file: "slow.yaml")
    let world = try World(definition: d, task: d.nominalTask())
    let start = ContinuousClock.now
    try world.resetChecked(seed: 1)
    return seconds(ContinuousClock.now - start) * Double(resetSteps) / Double(max(1, resetSteps / 100))
}

/// The slow worlds' resets run far more substeps than `limits.max_reset_substeps` allows by
/// default (which refuses them before any work): these tests raise it to its maximum.
let unlimitedResetSubsteps = 1 << 40

func seconds(_ d: Duration) -> Double { d.inSeconds }

/// A receive timeout on a client's socket: a test that would wait forever fails instead.
func setReceiveTimeout(_ c: MetaSimConnection, seconds: Int) {
    var tv = timeval(tv_sec: seconds, tv_usec: 0)
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
}

/// Waits until `condition` holds (polling every 20 ms), at most `limit` seconds; true if it did.
func eventually(within limit: Double, _ condition: () throws -> Bool) async rethrows -> Bool {
    let start = ContinuousClock.now
    while seconds(ContinuousClock.now - start) < limit {
        if try condition() { return true }
        try? await _Concurrency.Task.sleep(for: .milliseconds(20))
    }
    return try condition()
}

/// The world `open` and `reset` requests that would run long: 1,000 or 10,000 settle steps of
/// 1,000 Box2D steps in every instance's reset (about 1 s or 13 s per instance here).
let slowResetSteps = 10_000, slowSubsteps = 1000

@Suite("request deadlines and cancellation", .serialized)
struct DeadlineTests {
    @Test("the deadline keys: read from the configuration file, refused at 0 with path:line:column")
    func configurationKeys() throws {
        let file = try ConfigurationFile.parse("limits:\n  request_deadline_seconds: 2.5\n  adapt_deadline_seconds: 900\n", file: "d.yaml")
        var c = ServerConfiguration(socketPath: "/tmp/x.sock")
        #expect(c.requestDeadline == .seconds(60) && c.adaptDeadline == .seconds(600))
        file.apply(to: &c)
        #expect(c.requestDeadline == .milliseconds(2500))
        #expect(c.adaptDeadline == .seconds(900))
        let error = #expect(throws: ServerError.self) {
            _ = try ConfigurationFile.parse("limits:\n  request_deadline_seconds: 0\n", file: "d.yaml")
        }
        #expect(error?.description.contains("d.yaml:2:29: error: limits.request_deadline_seconds") == true, "\(String(describing: error))")
    }

    @Test("an open that would run long is answered deadline_exceeded within the deadline, and opens nothing")
    func openPastDeadline() async throws {
        // What the open would cost uncut: far past the deadline.
        let uncut = try slowResetSeconds(resetSteps: slowResetSteps, substeps: slowSubsteps) * 2
        #expect(uncut > 8, "the slow world is not slow enough here (\(uncut) s) to show a cut")
        let server = try await TestServer { $0.requestDeadline = .seconds(1); $0.maxResetSubsteps = unlimitedResetSubsteps }
        let c = try server.connect()
        setReceiveTimeout(c, seconds: 120)
        #expect(c.hello.limits.requestDeadlineSeconds == 1)
        let yaml = try slowWorld(resetSteps: slowResetSteps, substeps: slowSubsteps)
        let start = ContinuousClock.now
        let error = #expect(throws: ClientError.self) { _ = try c.open(OpenRequest(yaml: yaml, file: "slow.yaml", batch: 2)) }
        let elapsed = seconds(ContinuousClock.now - start)
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(error?.description.contains("no session was opened") == true, "\(String(describing: error))")
        // Answered at the deadline (1 s) plus the watcher's 50 ms and a check: 8 s of slack for
        // a loaded machine, and well short of the work's own length.
        #expect(elapsed >= 0.9 && elapsed < 9, "answered after \(elapsed) s")
        #expect(elapsed < uncut / 2, "answered after \(elapsed) s; the work takes \(uncut) s")
        let status = try c.status()
        #expect(status.sessions == 0)
        #expect(status.deadlinesExceeded == 1)
        // The connection goes on serving.
        let s = try c.open(OpenRequest(world: "pendulum", batch: 2, seed: 1))
        try s.step([0.1, -0.1])
        try await server.stop()
    }

    @Test("a reset past its deadline is deadline_exceeded; the session then needs a reset, and a reset mends it")
    func resetPastDeadline() async throws {
        let server = try await TestServer { $0.maxResetSubsteps = unlimitedResetSubsteps }
        let c = try server.connect()
        setReceiveTimeout(c, seconds: 120)
        // 1,000 settle steps: about 1 s per instance here; the open runs under the default deadline.
        let yaml = try slowWorld(resetSteps: 1000, substeps: slowSubsteps)
        let openStart = ContinuousClock.now
        let s = try c.open(OpenRequest(yaml: yaml, file: "slow.yaml", batch: 2, seed: 1))
        let openSeconds = seconds(ContinuousClock.now - openStart)
        try s.step([0.05, 0.05, 0.05, 0.05])

        // A reload shortens the deadline: the same work as the open's resets is now cut short.
        var config = server.server.configuration
        config.requestDeadline = .milliseconds(300)
        #expect(await server.server.reload { () throws(ServerError) -> ServerConfiguration in config })
        let start = ContinuousClock.now
        let error = #expect(throws: ClientError.self) { try s.reset(seed: 2) }
        let elapsed = seconds(ContinuousClock.now - start)
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(error?.description.contains("needs a reset") == true, "\(String(describing: error))")
        #expect(elapsed < openSeconds, "the reset took \(elapsed) s, the open's resets \(openSeconds) s")
        #expect(elapsed < 8.3)
        // Defined state: stepping is refused until a reset.
        let refused = #expect(throws: ClientError.self) { try s.step([0, 0, 0, 0]) }
        #expect(refused?.code == .worldFailed)
        config.requestDeadline = .seconds(60)
        #expect(await server.server.reload { () throws(ServerError) -> ServerConfiguration in config })
        try s.reset(seed: 2)
        try s.step([0, 0, 0, 0])
        #expect(try c.status().deadlinesExceeded == 1)
        try await server.stop()
    }

    @Test("a step whose auto-resets run past the deadline is deadline_exceeded; the session then needs a reset")
    func stepPastDeadline() async throws {
        let server = try await TestServer { $0.maxResetSubsteps = unlimitedResetSubsteps }
        let c = try server.connect()
        setReceiveTimeout(c, seconds: 120)
        // Episodes of one step: every step auto-resets every instance (1,000 settle steps each).
        let yaml = try slowWorld(resetSteps: 1000, substeps: slowSubsteps)
            .replacingOccurrences(of: "\n  horizon: 100 ", with: "\n  horizon: 1 ")
        let openStart = ContinuousClock.now
        let s = try c.open(OpenRequest(yaml: yaml, file: "slow.yaml", batch: 2, seed: 1))
        let openSeconds = seconds(ContinuousClock.now - openStart)
        #expect(s.info.horizon == 1)
        var config = server.server.configuration
        config.requestDeadline = .milliseconds(300)
        #expect(await server.server.reload { () throws(ServerError) -> ServerConfiguration in config })
        let start = ContinuousClock.now
        let error = #expect(throws: ClientError.self) { try s.step([0, 0, 0, 0]) }
        let elapsed = seconds(ContinuousClock.now - start)
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        #expect(elapsed < openSeconds, "the step took \(elapsed) s, the open's resets \(openSeconds) s")
        let refused = #expect(throws: ClientError.self) { try s.step([0, 0, 0, 0]) }
        #expect(refused?.code == .worldFailed)
        config.requestDeadline = .seconds(60)
        #expect(await server.server.reload { () throws(ServerError) -> ServerConfiguration in config })
        try s.reset(seed: 3)
        try s.step([0, 0, 0, 0])
        try await server.stop()
    }

    @Test("a client that hangs up mid-request cancels the work: its sessions are freed, others are served")
    func disconnectCancels() async throws {
        let server = try await TestServer { $0.maxResetSubsteps = unlimitedResetSubsteps }
        let other = try server.connect("other")
        let c = try server.connect("leaver")
        _ = try c.open(OpenRequest(world: "pendulum", batch: 2, seed: 1))
        // An open that would take minutes (8 instances of 13 s), well past the 60 s deadline.
        let yaml = try slowWorld(resetSteps: slowResetSteps, substeps: slowSubsteps)
        try c.send(kind: MessageKind.open.rawValue, id: c.makeID(),
                   meta: MetaCoding.encode(OpenRequest(yaml: yaml, file: "slow.yaml", batch: 8)))
        // Busy in it (the server has the open once the status counts its request).
        let busy = try await eventually(within: 30) { try other.status().requests >= 4 }
        #expect(busy)
        try await _Concurrency.Task.sleep(for: .milliseconds(300))
        #expect(try other.status().sessions == 1)
        let hangUp = ContinuousClock.now
        shutdown(c.fd, Int32(SHUT_RDWR))
        // The session is freed only once the connection's thread has left the work.
        let freed = try await eventually(within: 20) { try other.status().sessions == 0 }
        let after = seconds(ContinuousClock.now - hangUp)
        #expect(freed, "the session is still open \(after) s after the hang-up")
        let status = try other.status()
        #expect(status.requestsCancelled == 1)
        #expect(status.connections == 1)
        // The others are served as before.
        let s = try other.open(OpenRequest(world: "pendulum", batch: 2, seed: 1))
        try s.step([0.1, -0.1])
        try await server.stop()
    }
}

@Suite("metasimd: SIGTERM during long work")
struct DaemonStopTests {
    @Test("SIGTERM while a request runs long: exit within the drain timeout and a few seconds, what was cut short logged")
    func sigtermCutsShort() async throws {
        let socket = temporarySocketPath()
        let config = URL(fileURLWithPath: socket).deletingLastPathComponent().appendingPathComponent("metasimd.yaml").path
        try "limits:\n  drain_timeout_seconds: 1\n  max_reset_substeps: \(unlimitedResetSubsteps)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--config", config])
        let c = try await daemon.waitUntilServing()
        setReceiveTimeout(c, seconds: 120)
        _ = try c.open(OpenRequest(world: "pendulum", batch: 2, seed: 1))
        // An open that would take minutes (8 instances of about 13 s each).
        let yaml = try slowWorld(resetSteps: slowResetSteps, substeps: slowSubsteps)
        let id = c.makeID()
        try c.send(kind: MessageKind.open.rawValue, id: id, meta: MetaCoding.encode(OpenRequest(yaml: yaml, file: "slow.yaml", batch: 8)))
        try await _Concurrency.Task.sleep(for: .milliseconds(500))
        let (exited, took, status, log) = await daemon.terminate()
        // The open was answered (cancelled) or the connection just closed (what was sent stays
        // readable after the daemon's exit).
        if let reply = try? c.receive() {
            #expect(reply.header.id == id && reply.isError)
        }
        #expect(exited, "still running \(took) s after SIGTERM")
        // Drain timeout 1 s, then the cancelled open stops within a settle step: 1 s plus slack
        // for a loaded machine, and well short of the open's minutes.
        #expect(took < 9, "exited \(took) s after SIGTERM")
        #expect(status == 0, "\(log)")
        #expect(log.contains("drain timeout"), "\(log)")
        #expect(log.contains("cut short: connection"), "\(log)")
        #expect(log.contains("open request \(id)"), "\(log)")
        #expect(log.contains("cut short by the shutdown"), "\(log)")
        #expect(log.contains("stopped"), "\(log)")
    }

    @Test("work that never looks at its cancellation (CURVATURE_NEAR 1e30) is still answered, and SIGTERM still ends the daemon")
    func stuckWork() async throws {
        let socket = temporarySocketPath()
        let config = URL(fileURLWithPath: socket).deletingLastPathComponent().appendingPathComponent("metasimd.yaml").path
        try "limits:\n  drain_timeout_seconds: 1\n  request_deadline_seconds: 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--config", config])
        let c = try await daemon.waitUntilServing()
        setReceiveTimeout(c, seconds: 60)
        let other = try MetaSimConnection(socketPath: socket)
        // Issue 27: the track's curvature look-ahead loops for ever inside the world's build,
        // where nothing looks at the cancellation. Once values like this are refused up front,
        // the answer is that refusal instead.
        let start = ContinuousClock.now
        let error = #expect(throws: ClientError.self) {
            _ = try c.open(OpenRequest(world: "track-racer", params: ["CURVATURE_NEAR": 1e30]))
        }
        let elapsed = seconds(ContinuousClock.now - start)
        let stuck = error?.code == .deadlineExceeded
        #expect(stuck || [.invalidWorld, .unknownParameter, .limitExceeded, .badRequest].contains(error?.code),
                "\(String(describing: error))")
        // The deadline (1 s), the 2 s the work gets to stop, the watcher's rounds, and slack.
        #expect(elapsed < 12, "answered after \(elapsed) s")
        if stuck { #expect(elapsed >= 2.9, "answered after \(elapsed) s: before the work had its 2 s to stop") }
        // The daemon goes on serving.
        let s = try other.open(OpenRequest(world: "pendulum", batch: 2, seed: 1))
        try s.step([0.1, -0.1])
        let (exited, took, status, log) = await daemon.terminate()
        #expect(exited, "still running \(took) s after SIGTERM")
        if stuck {
            // Drain timeout 1 s, grace 3 s, then the hard exit: 4 s plus slack.
            #expect(took >= 3.5 && took < 12, "exited \(took) s after SIGTERM")
            #expect(status == 1, "\(log)")
            #expect(log.contains("goes on 2.0 s past its deadline"), "\(log)")
            #expect(log.contains("did not stop: connection"), "\(log)")
            #expect(log.contains("hard exit: 1 connections still busy"), "\(log)")
        } else {
            #expect(took < 9, "exited \(took) s after SIGTERM")
            #expect(status == 0, "\(log)")
        }
    }
}
