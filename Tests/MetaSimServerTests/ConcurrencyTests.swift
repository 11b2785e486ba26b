import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import Synchronization
import Testing

/// What one client saw: every step's observations and rewards, in order.
struct Trajectory: Equatable, Sendable {
    var observations: [Float] = []
    var rewards: [Double] = []
    var ended: [Int] = []
}

@Suite("Many clients at once")
struct ConcurrencyTests {
    static let worlds = ["lunar-lander", "lunar-lander-discrete", "bipedal-walker", "cartpole", "pendulum", "acrobot",
                         "reacher", "point-nav", "cheetah-vel", "valley-car", "track-racer", "parking", "lane-keep"]

    @Test("64 concurrent clients stepping different worlds get exactly the in-process results")
    func sixtyFourClients() async throws {
        let server = try await TestServer()
        let clients = 64, steps = 60, batch = 2
        let results = Mutex<[Int: Result<Trajectory, ClientError>]>([:])
        let connected = Atomic<Int>(0)
        let done = DispatchGroup()
        for k in 0..<clients {
            done.enter()
            let path = server.path
            let thread = Thread {
                defer { done.leave() }
                let world = Self.worlds[k % Self.worlds.count]
                do throws(ClientError) {
                    let c = try MetaSimConnection(socketPath: path, client: "client-\(k)")
                    let s = try c.open(OpenRequest(world: world, batch: batch, threads: 1 + k % 2, taskSeed: UInt64(k), seed: UInt64(1000 + k)))
                    // All 64 are connected with a session before anyone steps.
                    connected.add(1, ordering: .relaxed)
                    while connected.load(ordering: .relaxed) < clients { usleep(1000) }
                    var t = Trajectory()
                    var rng = SeededGenerator(seed: UInt64(k))
                    for _ in 0..<steps {
                        let a = Self.actions(s.info, count: batch, rng: &rng)
                        if s.info.discreteActions != nil { try s.step(indices: a.map { Int32($0) }) } else { try s.step(a) }
                        t.observations += s.observations
                        t.rewards += s.rewards
                        t.ended += s.endedIndices
                    }
                    try s.close()
                    results.withLock { $0[k] = .success(t) }
                } catch {
                    connected.add(1, ordering: .relaxed)
                    results.withLock { $0[k] = .failure(error) }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in done.notify(queue: .global()) { c.resume() } }

        for k in 0..<clients {
            let world = Self.worlds[k % Self.worlds.count]
            let remote = try #require(results.withLock { $0[k] }).get()
            let local = try localBatch(world, count: batch, seed: UInt64(1000 + k), taskSeed: UInt64(k))
            var t = Trajectory()
            var rng = SeededGenerator(seed: UInt64(k))
            let info = WireTensorSpec(name: "", shape: [local.specs.action.count], dtype: "", low: local.specs.action.low,
                                      high: local.specs.action.high, entries: [])
            for _ in 0..<steps {
                let a = Self.actions(info, discrete: local.specs.discreteActions, count: batch, rng: &rng)
                for (i, v) in a.enumerated() { local.actions[i] = v }
                local.step()
                t.observations += Array(local.observations)
                t.rewards += Array(local.rewards)
                for i in 0..<batch where local.terminated[i] | local.truncated[i] != 0 { t.ended.append(i) }
            }
            #expect(remote == t, "client \(k) (\(world)) differs from in-process")
        }
        try await server.stop()
    }

    static func actions(_ info: SessionReply, count: Int, rng: inout SeededGenerator) -> [Float] {
        actions(info.action, discrete: info.discreteActions, count: count, rng: &rng)
    }

    static func actions(_ spec: WireTensorSpec, discrete: Int?, count: Int, rng: inout SeededGenerator) -> [Float] {
        if let n = discrete { return (0..<count).map { _ in Float(Int.random(in: 0..<n, using: &rng)) } }
        var out: [Float] = []
        for _ in 0..<count {
            for j in 0..<spec.count { out.append(Float(Double.random(in: spec.lowBounds[j]...spec.highBounds[j], using: &rng))) }
        }
        return out
    }
}

@Suite("Connection load and slow clients")
struct LoadTests {
    @Test("300 connections open at once are all served")
    func threeHundredConnections() async throws {
        let server = try await TestServer()
        var connections: [MetaSimConnection] = []
        for k in 0..<300 {
            connections.append(try server.connect("c\(k)"))
        }
        #expect(try connections[0].status().connections >= 300)
        for (k, c) in connections.enumerated() {
            #expect(try c.ping([UInt8(k & 0xff)]) == [UInt8(k & 0xff)])
        }
        let s = try connections[299].open(OpenRequest(world: "cartpole", batch: 2))
        try s.step(indices: [0, 1])
        connections.removeAll()
        try await server.stop()
    }

    /// What the stuck client's thread has done, for the test to look at.
    final class StuckClient: Sendable {
        /// Its session once open (0 before).
        let session = Atomic<UInt32>(0)
        /// Pings sent whole.
        let sent = Atomic<Int>(0)
        /// Every ping was sent (the server read them all: not stuck).
        let finished = Atomic<Bool>(false)
        /// Why it stopped early (could not connect or open, or its send failed).
        let failure = Mutex<String?>(nil)
    }

    @Test("a client that sends without reading stalls only itself")
    func stuckClient() async throws {
        // The stuck connection never drains: shut down after a short drain timeout.
        let server = try await TestServer { $0.drainTimeout = .milliseconds(300) }
        let path = server.path
        let stuck = StuckClient()
        // It opens a session, then sends 64 MiB of pings whose answers it never reads: the server
        // stops reading from it once its answers back up, so a send blocks (on this thread)
        // instead of filling memory.
        let sender = Thread {
            let connection: MetaSimConnection, session: RemoteSession
            do {
                connection = try MetaSimConnection(socketPath: path, client: "stuck")
                session = try connection.open(OpenRequest(world: "pendulum", batch: 1))
            } catch {
                stuck.failure.withLock { $0 = "connect or open: \(error)" }
                return
            }
            stuck.session.store(session.id, ordering: .releasing)
            let payload = [UInt8](repeating: 7, count: 256 << 10)
            for _ in 0..<256 {
                let id = connection.makeID()
                do { try payload.withUnsafeBytes { try connection.send(kind: MessageKind.ping.rawValue, id: id, meta: [], data: $0) } } catch {
                    stuck.failure.withLock { $0 = "send: \(error)" }
                    return
                }
                stuck.sent.add(1, ordering: .releasing)
            }
            stuck.finished.store(true, ordering: .releasing)
        }
        sender.start()
        // It is connected and served: its session opens (within 30 s on a busy machine).
        let clock = ContinuousClock()
        let started = clock.now
        while stuck.session.load(ordering: .acquiring) == 0, stuck.failure.withLock({ $0 }) == nil, clock.now - started < .seconds(30) {
            try await _Concurrency.Task.sleep(for: .milliseconds(20))
        }
        let opened = stuck.session.load(ordering: .acquiring)
        try #require(opened != 0, "the stuck client never opened its session: \(stuck.failure.withLock { $0 } ?? "timed out")")
        // Then it gets stuck: its sends stop (no ping sent for a second), pings still to send.
        var last = -1, unchangedSince = clock.now
        while clock.now - started < .seconds(60) {
            let sent = stuck.sent.load(ordering: .acquiring)
            if stuck.finished.load(ordering: .acquiring) || stuck.failure.withLock({ $0 }) != nil { break }
            if sent != last {
                last = sent
                unchangedSince = clock.now
            } else if clock.now - unchangedSince >= .seconds(1) {
                break
            }
            try await _Concurrency.Task.sleep(for: .milliseconds(50))
        }
        let finishedEarly = stuck.finished.load(ordering: .acquiring), stoppedEarly = stuck.failure.withLock { $0 }
        try #require(!finishedEarly, "the server read all 256 pings of a client that reads nothing")
        try #require(stoppedEarly == nil, "the stuck client stopped: \(stoppedEarly ?? "")")

        // Meanwhile another client is served.
        let other = try server.connect("other")
        let s = try other.open(OpenRequest(world: "pendulum", batch: 1))
        for _ in 0..<50 { try s.step([0.1]) }
        let status = try other.status()
        // The stuck client is still connected, its session open, and still blocked in its send.
        #expect(status.connections == 2)
        #expect(status.sessions == 2)
        let finished = stuck.finished.load(ordering: .acquiring), stopped = stuck.failure.withLock { $0 }
        let sent = stuck.sent.load(ordering: .acquiring)
        #expect(!finished && stopped == nil && sent < 256, "sent \(sent) pings; finished: \(finished); stopped: \(stopped ?? "no")")
        // Its first answers fill the socket; the rest of its 256 pings are never read (about 55 of
        // the requests are the other client's).
        #expect(status.requests < 120)
        try await server.stop()
    }
}

@Suite("Idle timeout")
struct IdleTimeoutTests {
    @Test("a connection silent for the idle timeout is closed and its sessions freed; an active one is not")
    func idleConnectionClosed() async throws {
        let server = try await TestServer { $0.idleTimeout = .seconds(1) }
        let idle = try server.connect("idle")
        _ = try idle.open(OpenRequest(world: "pendulum", batch: 2))
        // The active client pings every 100 ms from a thread of its own (not the test's
        // cooperative pool, which other tests may keep busy).
        let path = server.path
        let activeFailures = Atomic<Int>(0)
        let pinger = Thread {
            guard let active = try? MetaSimConnection(socketPath: path, client: "active") else {
                activeFailures.add(1, ordering: .relaxed)
                return
            }
            for _ in 0..<30 {
                usleep(100_000)
                if (try? active.ping()) == nil { activeFailures.add(1, ordering: .relaxed) }
            }
        }
        pinger.start()
        try await _Concurrency.Task.sleep(for: .seconds(3.5))
        #expect(activeFailures.load(ordering: .relaxed) == 0)
        #expect(throws: ClientError.self) { _ = try idle.ping() }
        #expect(try server.connect().status().sessions == 0)
        try await server.stop()
    }
}
