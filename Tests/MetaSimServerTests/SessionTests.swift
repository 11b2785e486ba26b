import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import Testing

@Suite("Protocol sessions through a real server")
struct SessionTests {
    @Test("hello, status, list_worlds: version, limits and the catalog with specs")
    func handshakeAndCatalog() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        #expect(c.hello.protocol == .current)
        #expect(c.hello.limits.maxFrame == 16 << 20)
        let worlds = try c.listWorlds()
        let lander = try #require(worlds.first { $0.name == "lunar-lander" })
        #expect(lander.observation.count == 8)
        #expect(lander.action.count == 2)
        #expect(lander.parameters.map(\.name).contains("gravity"))
        let discrete = try #require(worlds.first { $0.name == "lunar-lander-discrete" })
        #expect(discrete.discreteActions == 4)
        // Gymnasium's spec fields: the horizon, and the threshold a replica declares (none for
        // pendulum; lunar-lander's waits for its checkpoints' retraining: they record its file's hash).
        let acrobot = try #require(worlds.first { $0.name == "acrobot" })
        #expect(acrobot.horizon == 500 && acrobot.rewardThreshold == -100)
        #expect(lander.horizon == 1000 && lander.rewardThreshold == nil)
        let pendulum = try #require(worlds.first { $0.name == "pendulum" })
        #expect(pendulum.horizon == 200 && pendulum.rewardThreshold == nil)
        let session = try c.open(OpenRequest(world: "acrobot", horizon: 50))
        #expect(session.info.horizon == 50 && session.info.rewardThreshold == -100)
        try session.close()
        let status = try c.status()
        #expect(status.connections >= 1)
        #expect(status.worlds == worlds.count)
        #expect(try c.ping([1, 2, 3]) == [1, 2, 3])
        try await server.stop()
    }

    @Test("open, step, reset, set_task, close: bit-identical to in-process stepping", arguments: ["lunar-lander", "lunar-lander-discrete", "bipedal-walker", "track-racer"])
    func lifecycleMatchesInProcess(world: String) async throws {
        let server = try await TestServer()
        let c = try server.connect()
        let n = 3
        let s = try c.open(OpenRequest(world: world, batch: n, taskSeed: 11, seed: 5))
        let local = try localBatch(world, count: n, seed: 5, taskSeed: 11)
        #expect(s.observations == Array(local.observations))
        #expect(s.info.task.seed == 11)
        var rng = SeededGenerator(seed: 99)
        var endedSeen = 0
        for _ in 0..<300 {
            let a = randomActions(local.specs, count: n, rng: &rng)
            try step(s, a)
            for (i, v) in a.enumerated() { local.actions[i] = v }
            local.step()
            #expect(s.observations == Array(local.observations))
            #expect(s.rewards == Array(local.rewards))
            #expect(s.terminated == Array(local.terminated))
            #expect(s.truncated == Array(local.truncated))
            for (k, i) in s.endedIndices.enumerated() {
                endedSeen += 1
                #expect(s.endedReturns[k] == local.finishedReturns[i])
                #expect(s.endedLengths[k] == Int(local.finishedLengths[i]))
                let o = local.observationCount
                #expect(Array(s.finalObservations[(k * o)..<((k + 1) * o)]) == Array(local.finalObservations[(i * o)..<((i + 1) * o)]))
            }
        }
        // Reset with explicit seeds, then with a batch seed.
        try s.reset(instances: [1], seeds: [1234])
        try local.resetChecked(instance: 1, seed: 1234)
        #expect(s.observations == Array(local.observations))
        try s.reset(seed: 77)
        local.reset(seed: 77)
        #expect(s.observations == Array(local.observations))
        // A new world of the family on the same session.
        try s.setTask(taskSeed: 12, seed: 3)
        let other = try localBatch(world, count: n, seed: 3, taskSeed: 12)
        #expect(s.info.task.seed == 12)
        #expect(s.observations == Array(other.observations))
        try s.close()
        #expect(try c.status().sessions == 0)
        if world == "lunar-lander" { #expect(endedSeen > 0) }
        try await server.stop()
    }

    @Test("readers that sleep, anticipate, look briefly or look first all get the same replies")
    func readWaitStrategies() async throws {
        let server = try await TestServer()
        // 64 walkers on one thread: a step takes milliseconds, longer than a 20 µs look, so the
        // third connection falls back to a blocking read on most replies. The first two do not
        // look first: one sleeps until each reply, one (the default) anticipates where a core is
        // free, waking on its own timer shortly before the reply is due.
        let reads: [(look: Int, anticipate: Bool)] = [(0, false), (0, true), (20, true), (500, true)]
        var sessions: [RemoteSession] = []
        var connections: [MetaSimConnection] = []
        for r in reads {
            let c = try server.connect()
            c.spinMicroseconds = r.look
            c.anticipatesSteps = r.anticipate
            connections.append(c)
            sessions.append(try c.open(OpenRequest(world: "bipedal-walker", batch: 64, threads: 1, seed: 5)))
        }
        let local = try localBatch("bipedal-walker", count: 64, seed: 5)
        var rng = SeededGenerator(seed: 3)
        let steps = 20
        for _ in 0..<steps {
            let a = randomActions(local.specs, count: 64, rng: &rng)
            for (i, v) in a.enumerated() { local.actions[i] = v }
            local.step()
            for s in sessions {
                try step(s, a)
                #expect(s.observations == Array(local.observations))
                #expect(s.rewards == Array(local.rewards))
            }
        }
        #expect(sessions[0].waits.slept == steps)
        #expect(sessions[0].waits.total == steps)
        let w = sessions[1].waits
        #expect(w.total == steps)
        if sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 {
            // One thread steps, so a core is free: the first read sleeps (and teaches the timer
            // the round trip), the second anticipates. (Later ones may not: a look that loses the
            // core, likely while other tests run, makes the timer try sleeping for a while.)
            #expect(w.slept >= 1)
            #expect(w.anticipated + w.early + w.late >= 1)
        }
        #expect(try connections[2].ping([7]) == [7])
        try await server.stop()
    }

    @Test("without auto-reset, a step on an ended episode is refused until reset")
    func episodeEndedWithoutAutoReset() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        let s = try c.open(OpenRequest(world: "point-nav", batch: 2, seed: 1, autoReset: false))
        var steps = 0
        while s.terminated[0] == 0 && s.truncated[0] == 0 && steps < 1000 {
            try s.step([0, 0, 0, 0])
            steps += 1
        }
        #expect(steps == 100)  // point-nav's horizon
        #expect(s.endedIndices == [0, 1])
        let error = #expect(throws: ClientError.self) { try s.step([0, 0, 0, 0]) }
        #expect(error?.code == .episodeEnded)
        try s.reset()
        try s.step([0, 0, 0, 0])
        try await server.stop()
    }

    @Test("inline YAML: a world of the client's own, and errors with path:line:column")
    func inlineYAML() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        let text = try String(contentsOfFile: worldsRoot + "/robots/pendulum.yaml", encoding: .utf8)
        let s = try c.open(OpenRequest(yaml: text, file: "my-pendulum.yaml", batch: 2, seed: 4))
        let local = try localBatch("pendulum", count: 2, seed: 4)
        #expect(s.observations == Array(local.observations))
        let broken = text.replacingOccurrences(of: "bodies:", with: "bodeis:")
        let error = #expect(throws: ClientError.self) { _ = try c.open(OpenRequest(yaml: broken, file: "broken.yaml")) }
        #expect(error?.code == .invalidWorld)
        if case .server(_, _, let reply) = error {
            #expect(reply.diagnostics?.contains { $0.hasPrefix("broken.yaml:") && $0.contains("bodeis") } == true)
        }
        // The connection is still usable.
        try s.step([0.5, -0.5])
        try await server.stop()
    }

    @Test("an observer receives the owner's resets and steps with actions, then the close")
    func observer() async throws {
        let server = try await TestServer()
        let owner = try server.connect("owner")
        let watcher = try server.connect("watcher")
        let s = try owner.open(OpenRequest(world: "cartpole", batch: 2, seed: 8))
        let (reply, first, requestID) = try watcher.observe(session: s.id)
        #expect(reply.session == s.id)
        #expect(first == s.observations)
        let actions: [[Int32]] = [[0, 1], [1, 1], [1, 0]]
        for a in actions { try s.step(indices: a) }
        for a in actions {
            let e = try watcher.nextEvent()
            #expect(e.header.id == requestID)
            #expect(e.header.kind == MessageKind.observe.rawValue)
            let event = try e.meta.withUnsafeBytes { try MetaCoding.decodeReply(ObserverEvent.self, from: $0) }
            #expect(event.event == "step")
            let (session, layout) = try #require(e.data.withUnsafeBytes { StepReplyLayout.parse(UnsafeRawBufferPointer(rebasing: $0[0..<(e.data.count - 8)])) })
            #expect(session == s.id)
            let sent = e.data.withUnsafeBytes { p in (0..<2).map { p.loadLE(Int32.self, at: layout.size + 4 * $0) } }
            #expect(sent == a)
        }
        try s.close()
        let last = try watcher.nextEvent()
        #expect(last.header.flags.contains(.final))
        #expect(try owner.status().observers == 0)
        try await server.stop()
    }
}
