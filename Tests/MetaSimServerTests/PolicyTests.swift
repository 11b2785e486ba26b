import Foundation
import MetaLearning
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Testing

/// The repository's shipped checkpoints.
let policiesRoot = URL(fileURLWithPath: worldsRoot).deletingLastPathComponent().appendingPathComponent("policies").path

/// A private copy of the shipped policies (tests save into it).
func temporaryPolicies() throws -> String {
    let dir = "/tmp/msd-policies-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    for f in try FileManager.default.contentsOfDirectory(atPath: policiesRoot) where f.hasSuffix(".safetensors") {
        try FileManager.default.copyItem(atPath: policiesRoot + "/" + f, toPath: dir + "/" + f)
    }
    return dir
}

/// A server on a private copy of the shipped policies; clients save into `FOLDER/saved`.
func policyServer() async throws -> (TestServer, String) {
    let folder = try temporaryPolicies()
    let server = try await TestServer {
        $0.policiesRoot = folder
        $0.savedPoliciesRoot = folder + "/saved"
    }
    return (server, folder)
}

/// Held-out point-nav tasks (the evaluation range).
let heldOutTasks: [UInt64] = [1_000_000_011, 1_000_000_012, 1_000_000_013, 1_000_000_014]

/// Mean return of one episode per instance, the client choosing actions with `act` and stepping.
func actLoopReturn(_ s: RemoteSession) throws -> Double {
    try s.reset(seed: 5)
    var returns = [Double](repeating: 0, count: s.count)
    var done = [Bool](repeating: false, count: s.count)
    while !done.allSatisfy({ $0 }) {
        let actions = try s.act(s.observations)
        try s.step(actions)
        for i in 0..<s.count where !done[i] { returns[i] += s.rewards[i] }
        for i in s.endedIndices { done[i] = true }
    }
    return returns.reduce(0, +) / Double(s.count)
}

@Suite("Meta-policy over the socket (protocol 1.1)", .serialized)
struct PolicyTests {
    @Test("list_policies serves the shipped checkpoints with their specs and inner budget")
    func listPolicies() async throws {
        let (server, _) = try await policyServer()
        let c = try server.connect()
        #expect(c.hello.protocol == ProtocolVersion(major: 1, minor: 2))
        #expect(c.hello.capabilities.contains("adapt"))
        let list = try c.listPolicies()
        let pn = try #require(list.policies.first { $0.name == "point-nav" })
        #expect(pn.world == "point-nav")
        #expect(pn.observation.shape == [2])
        #expect(pn.action.shape == [2])
        #expect(pn.inner.steps == 3)
        #expect(pn.inner.episodes == 20)
        #expect(pn.inner.learningRates.count == 3)
        #expect(pn.inner.trainedSteps == 3)
        // cheetah-vel was meta-trained for 1 inner step; adapt's default is 3 (metasim tune's rates).
        let cheetah = try #require(list.policies.first { $0.name == "cheetah-vel" })
        #expect(cheetah.inner.trainedSteps == 1)
        #expect(cheetah.inner.steps == 3)
        #expect(cheetah.inner.learningRates.count == 3)
        // A meta-learned initialization is marked for adapting first; a multi-task policy is not.
        // Only ProMP-trained policies carry their outer loop.
        #expect(pn.adaptFirst == true)
        #expect(pn.proximal == nil)
        let multitask = try #require(list.policies.first { $0.name == "point-nav-multitask" })
        #expect(multitask.adaptFirst == false)
        #expect(multitask.inner.trainedSteps == nil, "a multi-task policy has no meta-training inner loop")
        let racer = try #require(list.policies.first { $0.name == "track-racer" })
        #expect(racer.proximal == ProximalInfo(epochs: 5, clip: 0.3))
        #expect(racer.adaptFirst == true)
        #expect(list.rejected.isEmpty)
        #expect(try c.status().policies == list.policies.count)
        try await server.stop()
    }

    @Test("an oracle checkpoint (told the task) in the policies folder is rejected with the reason")
    func oracleIsRejected() async throws {
        let folder = try temporaryPolicies()
        let d = try WorldCatalog.resolve("point-nav", root: worldsRoot)
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let trainer = try MetaTrainer(definition: d, config: MetaTrainingConfig(algorithm: .oracle, hidden: [4]))
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "oracle", hyperparameters: "{}", trainingSeed: 1, metasimVersion: "test")
        try Checkpoint(policy: Policy(architecture: trainer.architecture, seed: 1), metadata: meta).write(to: folder + "/point-nav-oracle.safetensors")
        let server = try await TestServer { $0.policiesRoot = folder }
        let list = try server.connect().listPolicies()
        #expect(!list.policies.contains { $0.name == "point-nav-oracle" })
        #expect(list.policies.contains { $0.name == "point-nav" })
        let rejected = try #require(list.rejected.first { $0.file == "point-nav-oracle.safetensors" })
        #expect(rejected.error.contains("oracle"))
        try await server.stop()
    }

    @Test("adapt then act beats act without adapt on held-out point-nav tasks")
    func adaptBeatsUnadapted() async throws {
        let (server, _) = try await policyServer()
        let c = try server.connect()
        var before: [Double] = [], after: [Double] = []
        for task in heldOutTasks {
            let s = try c.open(OpenRequest(world: "point-nav", batch: 10, taskSeed: task, seed: 1))
            let taken = try s.adapt(policy: "point-nav", steps: 0)
            #expect(taken.adaptedSteps == 0 && taken.returns.isEmpty)
            before.append(try actLoopReturn(s))
            var events: [AdaptProgress] = []
            let r = try s.adapt(policy: "point-nav", steps: 3, episodes: 20, seed: 2) { events.append($0) }
            #expect(events.map(\.step) == [1, 2, 3])
            #expect(events.map(\.episodes) == [20, 40, 60])
            #expect(r.returns.count == 3 && r.adaptedSteps == 3)
            #expect(events.map(\.meanReturn) == r.returns)
            after.append(try actLoopReturn(s))
            try s.close()
        }
        let meanBefore = before.reduce(0, +) / Double(before.count)
        let meanAfter = after.reduce(0, +) / Double(after.count)
        // Measured on these tasks: -45.1 before, -7.7 after (per task -51.5…-41.8 before, -8.1…-7.5 after).
        #expect(meanAfter > meanBefore + 15, "before \(before), after \(after)")
        for (b, a) in zip(before, after) { #expect(a > b, "task: before \(b), after \(a)") }
        try await server.stop()
    }

    @Test("adapt on the daemon gives the parameters of the same adaptation in process")
    func adaptMatchesInProcess() async throws {
        let (server, folder) = try await policyServer()
        let c = try server.connect()
        let task = heldOutTasks[0]
        let s = try c.open(OpenRequest(world: "point-nav", batch: 3, taskSeed: task, seed: 4))
        let stepsBefore = try c.status().steps
        let remote = try s.adapt(policy: "point-nav", steps: 2, episodes: 8, seed: 9, evaluate: true)
        let stepsAfter = try c.status().steps
        let obs: [Float] = [0.1, -0.2, 0.3, 0.4, -0.5, 0.05]
        let remoteActions = try s.act(obs)

        let checkpoint = try Checkpoint.load(path: folder + "/point-nav.safetensors")
        let d = try WorldCatalog.resolve("point-nav", root: worldsRoot)
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: task))
        let local = try checkpoint.policy.adapted(to: program, inner: InnerLoop(steps: 2, episodes: 8, learningRate: 0.1),
                                                  seed: 9, evaluate: true)
        #expect(remote.returns == local.adaptation.returns)
        // status.steps counts the adaptation's episodes (2 steps and the final evaluation, 8 each).
        #expect(stepsAfter - stepsBefore == UInt64(local.adaptation.episodes.map(\.stepCount).reduce(0, +)))
        #expect(stepsAfter - stepsBefore == 3 * 8 * 100)
        var rng = SeededGenerator(seed: 0)
        #expect(remoteActions == local.policy.act(observations: obs, count: 3, deterministic: true, rng: &rng))
        try await server.stop()
    }

    @Test("a policy with per-parameter inner rates (Meta-SGD) adapts on the daemon exactly as in process, and lists them")
    func perParameterRatesAdaptAsInProcess() async throws {
        let folder = try temporaryPolicies()
        var checkpoint = try Checkpoint.load(path: folder + "/point-nav.safetensors")
        let plain = checkpoint.policy
        checkpoint.policy.innerRateScales = (0..<plain.parameters.count).map { Float(0.25 + Double($0 % 5) * 0.5) }
        try checkpoint.write(to: folder + "/point-nav-sgd.safetensors")
        let server = try await TestServer { $0.policiesRoot = folder }
        let c = try server.connect()
        let listed = try c.listPolicies().policies
        #expect(listed.first { $0.name == "point-nav-sgd" }?.inner.perParameterRates == true)
        #expect(listed.first { $0.name == "point-nav" }?.inner.perParameterRates == nil)
        let task = heldOutTasks[1]
        let s = try c.open(OpenRequest(world: "point-nav", batch: 3, taskSeed: task, seed: 4))
        let remote = try s.adapt(policy: "point-nav-sgd", steps: 2, episodes: 8, seed: 9, evaluate: true)
        let obs: [Float] = [0.1, -0.2, 0.3, 0.4, -0.5, 0.05]
        let remoteActions = try s.act(obs)

        let d = try WorldCatalog.resolve("point-nav", root: worldsRoot)
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: task))
        let inner = InnerLoop(steps: 2, episodes: 8, learningRate: 0.1)
        let local = try checkpoint.policy.adapted(to: program, inner: inner, seed: 9, evaluate: true)
        #expect(remote.returns == local.adaptation.returns)
        var rng = SeededGenerator(seed: 0)
        #expect(remoteActions == local.policy.act(observations: obs, count: 3, deterministic: true, rng: &rng))
        // The multipliers change the step: the same adaptation without them ends elsewhere.
        let unscaled = try plain.adapted(to: program, inner: inner, seed: 9, evaluate: true)
        #expect(unscaled.policy.parameters != local.policy.parameters)
        try await server.stop()
    }

    @Test("a CAVIA policy (context parameters) acts and adapts on the daemon exactly as in process, moving its context alone")
    func contextPolicyAdaptsAsInProcess() async throws {
        let folder = try temporaryPolicies()
        var checkpoint = try Checkpoint.load(path: folder + "/point-nav.safetensors")
        var arch = checkpoint.policy.architecture
        arch.contextParameters = 2
        var policy = Policy(architecture: arch, seed: 21)
        policy.normalizer = checkpoint.policy.normalizer
        policy.parameters[arch.contextOffset] = 0.5
        policy.innerRateScales = arch.contextRateScales.map { Float($0) }
        checkpoint.policy = policy
        try checkpoint.write(to: folder + "/point-nav-cavia.safetensors")
        let server = try await TestServer { $0.policiesRoot = folder }
        let c = try server.connect()
        let task = heldOutTasks[1]
        let s = try c.open(OpenRequest(world: "point-nav", batch: 3, taskSeed: task, seed: 4))
        let obs: [Float] = [0.1, -0.2, 0.3, 0.4, -0.5, 0.05]
        let remote = try s.adapt(policy: "point-nav-cavia", steps: 2, episodes: 8, seed: 9, evaluate: true)
        let after = try s.act(obs)

        let d = try WorldCatalog.resolve("point-nav", root: worldsRoot)
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: task))
        let local = try policy.adapted(to: program, inner: InnerLoop(steps: 2, episodes: 8, learningRate: 0.1), seed: 9, evaluate: true)
        #expect(remote.returns == local.adaptation.returns)
        var rng = SeededGenerator(seed: 0)
        #expect(after == local.policy.act(observations: obs, count: 3, deterministic: true, rng: &rng))
        rng = SeededGenerator(seed: 0)
        #expect(after != policy.act(observations: obs, count: 3, deterministic: true, rng: &rng), "adapting the context changes the actions")
        let o = arch.contextOffset
        #expect(local.policy.parameters[..<o] == policy.parameters[..<o] && local.policy.parameters[o...] != policy.parameters[o...])
        try await server.stop()
    }

    @Test("a meta-Q checkpoint (a Q-network) adapts by Q-learning on the daemon, exactly as in process, and acts greedily")
    func qNetworkAdaptsByQLearning() async throws {
        let (server, folder) = try await policyServer()
        let c = try server.connect()
        let task = heldOutTasks[2]
        let s = try c.open(OpenRequest(world: "cartpole", batch: 2, taskSeed: task, seed: 4))
        let remote = try s.adapt(policy: "cartpole", steps: 1, episodes: 4, seed: 9, evaluate: true)
        let obs: [Float] = [0.1, -0.2, 0.03, 0.4, -0.5, 0.05, -0.02, -0.3]
        let remoteActions = try s.act(obs, deterministic: true)

        let checkpoint = try Checkpoint.load(path: folder + "/cartpole.safetensors")
        let q = try #require(checkpoint.policy.qLearning)
        let d = try WorldCatalog.resolve("cartpole", root: worldsRoot)
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: task))
        let local = try checkpoint.policy.adapted(to: program, inner: InnerLoop(steps: 1, episodes: 4), seed: 9, evaluate: true)
        #expect(remote.returns == local.adaptation.returns && remote.returns.count == 2)
        // Q-learning moved the weights (a policy-gradient step would have moved them differently).
        #expect(local.policy.parameters != checkpoint.policy.parameters)
        let math = PolicyMath(architecture: checkpoint.policy.architecture, normalizer: checkpoint.policy.normalizer)
        let pg = Adapter(math: math, sampler: Sampler(program: program), inner: InnerLoop(steps: 1, episodes: 4))
        let pgFinal = try pg.run(from: checkpoint.policy.parameters.map { Double($0) }, seed: 9, evaluateFinal: false).final
        #expect(pgFinal.map { Float($0) } != local.policy.parameters)
        #expect(q.updates > 0)
        // list_policies advertises the Q-network's adaptation budget and its Adam rate, not its
        // meta-training's per-iteration episode count.
        let listed = try #require(try c.listPolicies().policies.first { $0.name == "cartpole" })
        #expect(listed.inner.episodes == 20 && listed.inner.learningRates == [q.learningRate])
        var rng = SeededGenerator(seed: 0)
        let expected = local.policy.act(observations: obs, count: 2, deterministic: true, rng: &rng)
        #expect(remoteActions == expected)
        try await server.stop()
    }

    @Test("run_episodes streams the in-process rollout of the adapted policy bit for bit")
    func runEpisodesMatchesInProcess() async throws {
        let (server, folder) = try await policyServer()
        let c = try server.connect()
        let task = heldOutTasks[1]
        let count = 4
        let s = try c.open(OpenRequest(world: "point-nav", batch: count, taskSeed: task, seed: 4))
        _ = try s.adapt(policy: "point-nav", steps: 1, episodes: 10, seed: 3)
        var steps: [[UInt8]] = []
        var episodes: [RunEvent] = []
        let reply = try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: 6, deterministic: false, decimation: 1,
                                                         seed: 11, policySeed: 12),
                                      onStep: { steps.append($0) }, onEpisode: { episodes.append($0) })
        #expect(reply.returns.count == 6)
        #expect(episodes.map(\.index) == Array(0..<6).map { Optional($0) })
        #expect(episodes.map { $0.return! } == reply.returns)
        #expect(steps.count == reply.steps)

        // The same in process: the adapted policy, a batch seeded 11, sampling seeded 12.
        let checkpoint = try Checkpoint.load(path: folder + "/point-nav.safetensors")
        let d = try WorldCatalog.resolve("point-nav", root: worldsRoot)
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: task))
        let policy = try checkpoint.policy.adapted(to: program, inner: InnerLoop(steps: 1, episodes: 10, learningRate: 0.1), seed: 3).policy
        let batch = try WorldBatch(program: program, count: count, threads: 1, seed: 11, autoReset: true)
        var rng = SeededGenerator(seed: 12, stream: RandomStream.policy)
        var returns: [Double] = []
        let o = batch.observationCount
        for data in steps {
            let actions = policy.act(observations: Array(batch.observations), count: count, deterministic: false, rng: &rng)
            for k in 0..<actions.count { batch.actions[k] = actions[k] }
            batch.step()
            try data.withUnsafeBytes { p in
                let (_, layout) = try #require(StepReplyLayout.parse(UnsafeRawBufferPointer(rebasing: p[0..<(p.count - 4 * actions.count)])))
                for i in 0..<count {
                    #expect(p.loadUnaligned(fromByteOffset: layout.rewards + 8 * i, as: Double.self).bitPattern == batch.rewards[i].bitPattern)
                    for k in 0..<o {
                        let v = p.loadUnaligned(fromByteOffset: layout.observations + 4 * (i * o + k), as: Float.self)
                        #expect(v.bitPattern == batch.observations[i * o + k].bitPattern)
                    }
                }
                // The event ends with the actions the daemon applied.
                let sent = p.count - 4 * actions.count
                for k in 0..<actions.count {
                    #expect(p.loadUnaligned(fromByteOffset: sent + 4 * k, as: Float.self).bitPattern == actions[k].bitPattern)
                }
            }
            for i in 0..<count where batch.terminated[i] | batch.truncated[i] != 0 && returns.count < 6 {
                returns.append(batch.finishedReturns[i])
            }
        }
        #expect(returns == reply.returns)
        try await server.stop()
    }

    @Test("a policy of another family, an unknown policy, and act without a policy are refused")
    func refusals() async throws {
        let (server, _) = try await policyServer()
        let c = try server.connect()
        let lander = try c.open(OpenRequest(world: "lunar-lander"))
        func code(_ body: () throws -> Void) -> ErrorCode? {
            do { try body() } catch {
                if case .server(_, _, let reply) = error as? ClientError { return reply.code }
            }
            return nil
        }
        #expect(code { _ = try lander.adapt(policy: "point-nav", steps: 0) } == .policyMismatch)
        #expect(code { _ = try lander.adapt(policy: "no-such-policy") } == .unknownPolicy)
        #expect(code { _ = try lander.act([0, 0, 0, 0, 0, 0, 0, 0]) } == .noPolicy)
        #expect(code { _ = try c.runEpisodes(RunEpisodesRequest(session: lander.id)) } == .noPolicy)
        let pn = try c.open(OpenRequest(world: "point-nav"))
        _ = try pn.adapt(policy: "point-nav", steps: 0)
        #expect(code { _ = try pn.act([0, 0, 0]) } == .badShape)
        #expect(code { _ = try pn.act([.nan, 0]) } == .badRequest)
        #expect(code { _ = try pn.adapt(steps: 1000) } == .limitExceeded)
        // The connection is still usable after every refusal.
        #expect(try pn.act([0.1, 0.1]).count == 2)
        // A client that agreed on 1.0 cannot use 1.1 requests.
        let old = try MetaSimConnection(socketPath: server.path, protocol: ProtocolVersion(major: 1, minor: 0))
        #expect(old.hello.protocol == ProtocolVersion(major: 1, minor: 0))
        #expect(code { _ = try old.listPolicies() } == .unknownKind)
        try await server.stop()
    }

    @Test("a session opened with a horizon truncates episodes there; a policy lists its training horizon")
    func sessionHorizon() async throws {
        let (server, _) = try await policyServer()
        let c = try server.connect()
        let world = try c.open(OpenRequest(world: "track-racer"))
        let s = try c.open(OpenRequest(world: "track-racer", batch: 2, horizon: 7))
        #expect(s.info.horizon == 7)
        #expect(world.info.horizon != 7)
        for step in 1...7 {
            try s.step([Float](repeating: 0, count: 2 * s.actionSize))
            #expect(s.truncated == (step == 7 ? [1, 1] : [0, 0]), "step \(step)")
        }
        // The shipped track-racer policies were trained on 300-step episodes.
        let racer = try #require(try c.listPolicies().policies.first { $0.name == "track-racer" })
        #expect(racer.trainingHorizon == 300)
        #expect(try c.listPolicies().policies.first { $0.name == "point-nav" }?.trainingHorizon == nil)
        func code(_ body: () throws -> Void) -> ErrorCode? {
            do { try body() } catch {
                if case .server(_, _, let reply) = error as? ClientError { return reply.code }
            }
            return nil
        }
        #expect(code { _ = try c.open(OpenRequest(world: "track-racer", horizon: 0)) } == .badRequest)
        let old = try MetaSimConnection(socketPath: server.path, protocol: ProtocolVersion(major: 1, minor: 0))
        #expect(code { _ = try old.open(OpenRequest(world: "track-racer", horizon: 7)) } == .badRequest)
        try await server.stop()
    }

    @Test("a client that disconnects mid-adaptation has it cancelled and its session freed")
    func disconnectCancelsAdaptation() async throws {
        let (server, _) = try await policyServer()
        let monitor = try server.connect("monitor")
        let path = server.path
        // A long adaptation (10 steps of 1000 episodes: many seconds), abandoned while it runs:
        // the leaver hangs up once the monitor has seen it run (not after a fixed sleep, which a
        // loaded machine can outlast before the adaptation starts).
        let seen = DispatchSemaphore(value: 0)
        let t = Thread {
            guard let c = try? MetaSimConnection(socketPath: path, client: "leaver"),
                  let s = try? c.open(OpenRequest(world: "point-nav", batch: 1)) else { return }
            let id = c.makeID()
            try? c.send(kind: MessageKind.adapt.rawValue, id: id,
                        meta: MetaCoding.encode(AdaptRequest(session: s.id, policy: "point-nav", steps: 10, episodes: 1000)))
            _ = seen.wait(timeout: .now() + 10)
            // `c` goes out of scope here: the socket closes.
        }
        t.start()
        var running = false
        for _ in 0..<600 where !running {
            running = try monitor.status().adaptations == 1
            try await Task.sleep(for: .milliseconds(10))
        }
        seen.signal()
        #expect(running, "the adaptation never showed in status")
        // Once the client is gone: no adaptation, no session, within 3 s (the full run takes far longer).
        var freed = false
        let start = Date()
        while Date().timeIntervalSince(start) < 3, !freed {
            let st = try monitor.status()
            freed = st.adaptations == 0 && st.sessions == 0 && st.connections == 1
            try await Task.sleep(for: .milliseconds(20))
        }
        let final = try monitor.status()
        #expect(freed, "status: \(final)")
        try await server.stop()
    }

    @Test("save_policy writes the adapted policy atomically; it is served and acts the same")
    func savePolicy() async throws {
        let (server, folder) = try await policyServer()
        let c = try server.connect()
        let s = try c.open(OpenRequest(world: "point-nav", batch: 2, taskSeed: heldOutTasks[2]))
        _ = try s.adapt(policy: "point-nav", steps: 2, episodes: 10, seed: 1)
        let saved = try c.savePolicy(session: s.id, name: "pn-adapted")
        #expect(saved.file == folder + "/saved/pn-adapted.safetensors")
        #expect(saved.policy.saved == true)
        #expect(saved.policy.adaptedTaskSeed == heldOutTasks[2])
        #expect(saved.policy.adaptFirst == false, "an adapted policy is to be used as it is")
        #expect(try c.listPolicies().policies.contains { $0.name == "pn-adapted" })
        do {
            _ = try c.savePolicy(session: s.id, name: "pn-adapted")
            Issue.record("saving over an existing policy without overwrite was accepted")
        } catch {
            guard case .server(_, _, let reply) = error else { throw error }
            #expect(reply.code == .policyExists)
        }
        let loaded = try Checkpoint.load(path: saved.file)
        #expect(loaded.metadata.world == "point-nav")
        let obs: [Float] = [0.2, 0.1, -0.3, 0.25]
        let other = try c.open(OpenRequest(world: "point-nav", batch: 2, taskSeed: heldOutTasks[2]))
        _ = try other.adapt(policy: "pn-adapted", steps: 0)
        let fromSaved = try other.act(obs)
        let fromSession = try s.act(obs)
        #expect(fromSaved == fromSession)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder + "/saved").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        try await server.stop()
    }
}
