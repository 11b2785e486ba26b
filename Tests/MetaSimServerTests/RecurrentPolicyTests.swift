import Foundation
import MetaLearning
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Testing

/// A recurrent (rl2) checkpoint for point-nav, written programmatically: a GRU of `hidden` units
/// (or, with `latent`, a context policy of that width and latent size) with parameters drawn wide
/// enough that its state moves its actions visibly, and an observation normalizer with a
/// non-trivial mean and variance (so the step inputs go through it).
func recurrentCheckpoint(world: String = "point-nav", hidden: Int, latent: Int? = nil, seed: UInt64) throws -> Checkpoint {
    let definition = try WorldCatalog.resolve(world, root: worldsRoot)
    let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
    let base = PolicyArchitecture(specs: specs, hidden: [])
    let architecture = latent.map { PolicyArchitecture.context(base, hiddenSize: hidden, latentSize: $0) } ?? .recurrent(base, hiddenSize: hidden)
    var rng = SeededGenerator(seed: seed, stream: RandomStream.policy)
    let parameters = (0..<architecture.parameterCount).map { _ in Float(rng.uniform(-0.8, 0.8)) }
    var normalizer = ObservationNormalizer(size: architecture.observationCount, enabled: true)
    normalizer.mean = (0..<architecture.observationCount).map { Double(Float(0.3 - 0.1 * Double($0))) }
    normalizer.variance = (0..<architecture.observationCount).map { Double(Float(2.5 + Double($0))) }
    normalizer.count = 100
    let algorithm: MetaAlgorithm = latent == nil ? .rl2 : .context
    let config = MetaTrainingConfig(algorithm: algorithm, hidden: [hidden], recurrent: RecurrentTraining(latentSize: latent))
    return Checkpoint(policy: Policy(architecture: architecture, parameters: parameters, normalizer: normalizer),
                      metadata: CheckpointMetadata(definition: definition, specs: specs, algorithm: algorithm.rawValue,
                                                   hyperparameters: RecurrentLearner().hyperparameters(config),
                                                   trainingSeed: 0, metasimVersion: "test"))
}

/// The daemon serving recurrent policies (issue 31): `act` with each instance's state carried,
/// `set_task` and `reset_policy_state` resetting it, `run_episodes` as one trial (the same
/// inputs as training's `TrialSampler`, bit for bit), external sessions adapting online, and the
/// state's protocol requests (`policy_state`, `save_policy_state`, `restore_policy_state`).
@Suite("Recurrent (rl2) policies served with their state", .serialized)
struct RecurrentPolicyTests {
    /// A server with the shipped policies plus pn-rl2 (GRU 8) and pn-rl2-wide (GRU 6, another architecture).
    static func server() async throws -> (TestServer, String) {
        let folder = try temporaryPolicies()
        try recurrentCheckpoint(hidden: 8, seed: 1).write(to: folder + "/pn-rl2.safetensors")
        try recurrentCheckpoint(hidden: 6, seed: 2).write(to: folder + "/pn-rl2-other.safetensors")
        try recurrentCheckpoint(world: "cartpole", hidden: 8, seed: 3).write(to: folder + "/cartpole-rl2.safetensors")
        try recurrentCheckpoint(hidden: 8, latent: 3, seed: 4).write(to: folder + "/pn-context.safetensors")
        try recurrentCheckpoint(world: "cartpole", hidden: 8, latent: 3, seed: 5).write(to: folder + "/cartpole-context.safetensors")
        let server = try await TestServer { $0.policiesRoot = folder }
        return (server, folder)
    }

    static func code(_ body: () throws -> Void) -> ErrorCode? {
        do { try body() } catch {
            if case .server(_, _, let r) = error as? ClientError { return r.code }
        }
        return nil
    }

    static func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }

    /// A point-nav session of `batch` instances bound to pn-rl2 (its state zero).
    static func bound(_ c: MetaSimConnection, batch: Int, taskSeed: UInt64, seed: UInt64) throws -> RemoteSession {
        let s = try c.open(OpenRequest(world: "point-nav", batch: batch, taskSeed: taskSeed, seed: seed))
        _ = try s.adapt(policy: "pn-rl2", steps: 0)
        return s
    }

    @Test func aRecurrentCheckpointIsListedAndTaken() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        #expect(c.hello.protocol == ProtocolVersion(major: 1, minor: 2))
        #expect(c.hello.capabilities.contains("policy_state"))
        let list = try c.listPolicies()
        let entry = try #require(list.policies.first { $0.name == "pn-rl2" })
        #expect(entry.algorithm == "rl2" && entry.adaptFirst == true)
        #expect(list.rejected.isEmpty)
        let s = try c.open(OpenRequest(world: "point-nav", batch: 3))
        _ = try s.adapt(policy: "pn-rl2", steps: 0)
        let state = try c.policyState(session: s.id)
        #expect(state.valuesPerInstance == 8 + 2 + 3 && state.values == 3 * 13 && state.dtype == "float64")
        #expect(state.architecture == "gru-h8-o2-a2-gaussian-in:observation,previous_action,previous_reward,episode_end")
        try await server.stop()
    }

    @Test func actCarriesTheStateAndResettingItGivesTheFirstAnswerAgain() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        let obs = s.observations
        let first = try s.act(obs), second = try s.act(obs)
        #expect(first.count == 4)
        #expect(Self.bits(first) != Self.bits(second), "the same observations with another state give other actions")
        try c.resetPolicyState(session: s.id)
        #expect(Self.bits(try s.act(obs)) == Self.bits(first), "a reset state answers as the first time")
        // One row per instance: a recurrent policy keeps a state for each.
        #expect(Self.code { _ = try s.act(Array(obs[0..<2])) } == .badShape)
        // Taking the policy again starts afresh too.
        _ = try s.adapt(policy: "pn-rl2", steps: 0)
        #expect(Self.bits(try s.act(obs)) == Self.bits(first))
        try await server.stop()
    }

    @Test func aStepsRewardsAndEpisodeEndsReachTheNextInputAndResetsKeepTheState() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try Self.bound(c, batch: 1, taskSeed: 5, seed: 3)
        let a = try s.act(s.observations)
        try s.step(a)
        let saved = try c.savePolicyState(session: s.id)
        let h = 8, w = 2
        #expect(saved.values[h + w] == s.rewards[0], "the step's reward is the next input's previous reward")
        #expect(saved.values[h + w + 1] == 0 && saved.values[h + w + 2] == 1)
        #expect(Array(saved.values[h..<(h + w)]).contains { $0 != 0 })
        try s.reset()
        let afterReset = try c.savePolicyState(session: s.id)
        #expect(afterReset.values[h + w + 1] == 1, "an episode restarted by hand is an episode end")
        #expect(Array(afterReset.values[0..<h]) == Array(saved.values[0..<h]), "a reset of the episode keeps the state")
        try await server.stop()
    }

    @Test func aStateLargerThanAFrameIsRefusedNotSent() async throws {
        let folder = try temporaryPolicies()
        try recurrentCheckpoint(hidden: 8, seed: 1).write(to: folder + "/pn-rl2.safetensors")
        // 16 instances × (8 + 2 + 3) float64 values = 1,664 bytes of state, over a 1,024-byte frame.
        let server = try await TestServer { $0.policiesRoot = folder; $0.maxFrame = 1024 }
        let c = try server.connect()
        let s = try Self.bound(c, batch: 16, taskSeed: 5, seed: 3)
        #expect(try c.policyState(session: s.id).values == 16 * 13)
        #expect(Self.code { _ = try c.savePolicyState(session: s.id) } == .limitExceeded)
        // The connection and the session go on.
        #expect(try s.act(s.observations).count == 16 * 2)
        let small = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        #expect(try c.savePolicyState(session: small.id).values.count == 2 * 13)
        try await server.stop()
    }

    @Test func setTaskResetsTheState() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        let obs = s.observations
        let first = try s.act(obs)
        _ = try s.act(obs)
        #expect(try c.savePolicyState(session: s.id).values.contains { $0 != 0 })
        try s.setTask(taskSeed: 6)
        #expect(try c.savePolicyState(session: s.id).values.allSatisfy { $0 == 0 }, "a new task starts from a zero state")
        #expect(Self.bits(try s.act(obs)) == Self.bits(first))
        try await server.stop()
    }

    @Test func saveThenRestoreGivesBitIdenticalActions() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        for _ in 0..<5 { try s.step(try s.act(s.observations, deterministic: false)) }
        let saved = try c.savePolicyState(session: s.id)
        let obs = s.observations
        var rows: [[Float]] = [obs, obs.map { $0 * 0.5 }, obs.map { $0 + 1 }]
        let before = try rows.map { try Self.bits(s.act($0)) }
        try c.restorePolicyState(session: s.id, values: saved.values, architecture: saved.reply.architecture)
        #expect(try c.savePolicyState(session: s.id).values.map(\.bitPattern) == saved.values.map(\.bitPattern))
        #expect(try rows.map { try Self.bits(s.act($0)) } == before)
        // The state moves to another session of the same architecture and size.
        let other = try Self.bound(c, batch: 2, taskSeed: 9, seed: 1)
        try c.restorePolicyState(session: other.id, values: saved.values, architecture: saved.reply.architecture)
        #expect(try rows.map { try Self.bits(other.act($0)) } == before)
        rows.removeAll()
        try await server.stop()
    }

    @Test func aWrongStateIsRefusedAndLeavesTheStateUntouched() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        for _ in 0..<3 { try s.step(try s.act(s.observations)) }
        let saved = try c.savePolicyState(session: s.id)
        let tag = saved.reply.architecture
        let otherSession = try c.open(OpenRequest(world: "point-nav", batch: 2, taskSeed: 5, seed: 3))
        _ = try otherSession.adapt(policy: "pn-rl2-other", steps: 0)
        let other = try c.savePolicyState(session: otherSession.id)
        #expect(other.reply.architecture != tag)
        let one = try c.open(OpenRequest(world: "point-nav", batch: 1))
        _ = try one.adapt(policy: "pn-rl2", steps: 0)
        let oneRow = try c.savePolicyState(session: one.id)
        #expect(oneRow.reply.architecture == tag)

        #expect(Self.code { try c.restorePolicyState(session: s.id, values: Array(saved.values.dropLast()), architecture: tag) } == .badShape)
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: oneRow.values, architecture: tag) } == .badShape)
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: other.values, architecture: other.reply.architecture) } == .policyMismatch)
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: saved.values, architecture: "gru-h8") } == .policyMismatch)
        var nan = saved.values
        nan[3] = .nan
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: nan, architecture: tag) } == .badRequest)
        var flag = saved.values
        flag[8 + 2 + 1] = 2
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: flag, architecture: tag) } == .badRequest)
        // A count that does not match the data, and a type other than float64.
        func raw(_ meta: RestorePolicyStateRequest, _ values: [Double]) -> ErrorCode? {
            Self.code {
                _ = try values.withUnsafeBytes { p in
                    try c.request(.restorePolicyState, meta: meta, data: p, as: PolicyStateReply.self)
                }
            }
        }
        #expect(raw(RestorePolicyStateRequest(session: s.id, architecture: tag, values: saved.values.count), Array(saved.values.dropLast())) == .badShape)
        #expect(raw(RestorePolicyStateRequest(session: s.id, architecture: tag, values: Int.max), saved.values) == .badShape)
        #expect(raw(RestorePolicyStateRequest(session: s.id, architecture: tag, values: saved.values.count, dtype: "float32"), saved.values) == .badDtype)
        #expect(try c.savePolicyState(session: s.id).values.map(\.bitPattern) == saved.values.map(\.bitPattern), "every refusal left the state as it was")

        // A feed-forward policy keeps no state; a session without a policy has none.
        let mlp = try c.open(OpenRequest(world: "point-nav", batch: 2))
        #expect(Self.code { _ = try c.policyState(session: mlp.id) } == .noPolicy)
        _ = try mlp.adapt(policy: "point-nav", steps: 0)
        #expect(Self.code { _ = try c.policyState(session: mlp.id) } == .noPolicyState)
        #expect(Self.code { try c.resetPolicyState(session: mlp.id) } == .noPolicyState)
        #expect(Self.code { _ = try c.savePolicyState(session: mlp.id) } == .noPolicyState)
        #expect(Self.code { try c.restorePolicyState(session: mlp.id, values: saved.values, architecture: tag) } == .noPolicyState)
        try await server.stop()
    }

    /// run_episodes is one trial: the daemon's episodes are those of `TrialSampler` (training's
    /// rollouts) with the same seed and task, bit for bit, for any stepping thread count; for
    /// continuous (point-nav) and discrete (cartpole) actions.
    @Test(arguments: [("point-nav", "pn-rl2"), ("cartpole", "cartpole-rl2"), ("point-nav", "pn-context"), ("cartpole", "cartpole-context")])
    func runEpisodesIsATrialAsInTrainingForAnyThreadCount(world: String, policy: String) async throws {
        let (server, folder) = try await Self.server()
        let checkpoint = try Checkpoint.load(path: folder + "/\(policy).safetensors")
        let c = try server.connect()
        let count = 3, episodes = 3, seed: UInt64 = 11, taskSeed: UInt64 = 7
        var replies: [RunEpisodesReply] = []
        for threads in [1, 2] {
            let s = try c.open(OpenRequest(world: world, batch: count, threads: threads, taskSeed: taskSeed, seed: 1))
            _ = try s.adapt(policy: policy, steps: 0)
            replies.append(try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: count * episodes * 2, deterministic: true, decimation: 0, seed: seed)))
        }
        #expect(replies[0].returns.map(\.bitPattern) == replies[1].returns.map(\.bitPattern))
        #expect(replies[0].instances == replies[1].instances && replies[0].lengths == replies[1].lengths)

        let definition = try WorldCatalog.resolve(world, root: worldsRoot)
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: taskSeed))
        let math = RecurrentMath(architecture: checkpoint.policy.architecture, normalizer: checkpoint.policy.normalizer)
        let trials = try TrialSampler(program: program).collect(math: math, params: checkpoint.policy.parameters.map { Double($0) },
                                                                count: count, episodes: episodes, seed: seed, deterministic: true)
        for i in 0..<count {
            let mine = zip(replies[0].instances, replies[0].returns).filter { $0.0 == i }.map(\.1)
            let lengths = zip(replies[0].instances, replies[0].lengths).filter { $0.0 == i }.map(\.1)
            try #require(mine.count >= episodes)
            #expect(Array(mine.prefix(episodes)).map(\.bitPattern) == trials[i].episodeReturns.map(\.bitPattern), "instance \(i)")
            #expect(Array(lengths.prefix(episodes)) == (0..<episodes).map { trials[i].steps(ofEpisode: $0).count }, "instance \(i)")
        }
        try await server.stop()
    }

    /// A context policy is served as a GRU is: listed, its state carried by `act`, saved and
    /// restored bit for bit, and a state that is not one of its states refused whole.
    @Test func aContextPolicyIsServedWithItsState() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let entry = try #require(try c.listPolicies().policies.first { $0.name == "pn-context" })
        #expect(entry.algorithm == "context" && entry.adaptFirst == true)
        let s = try c.open(OpenRequest(world: "point-nav", batch: 2, taskSeed: 5, seed: 3))
        _ = try s.adapt(policy: "pn-context", steps: 0)
        let obs = s.observations
        let first = try s.act(obs)
        for _ in 0..<4 { try s.step(try s.act(s.observations, deterministic: false)) }
        let saved = try c.savePolicyState(session: s.id)
        // Per instance: Σ codes (3), their count, the previous observation (2), its flag; then the
        // previous action (2), reward, episode end and has-acted.
        #expect(saved.reply.valuesPerInstance == 3 + 1 + 2 + 1 + 2 + 3)
        #expect(saved.reply.architecture.hasPrefix("context-h8-z3-o2-a2-gaussian"))
        #expect(saved.values[3] == 4 && saved.values[6] == 1, "four transitions pooled after five acts")
        let next = try s.act(obs)
        #expect(Self.bits(next) != Self.bits(first), "the pooled transitions change the answer")
        try c.restorePolicyState(session: s.id, values: saved.values, architecture: saved.reply.architecture)
        #expect(Self.bits(try s.act(obs)) == Self.bits(next))
        try c.restorePolicyState(session: s.id, values: saved.values, architecture: saved.reply.architecture)
        var count = saved.values
        count[3] = 2.5
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: count, architecture: saved.reply.architecture) } == .badRequest)
        count[3] = -1
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: count, architecture: saved.reply.architecture) } == .badRequest)
        let gru = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        let gruState = try c.savePolicyState(session: gru.id)
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: gruState.values, architecture: gruState.reply.architecture) } == .policyMismatch)
        #expect(try c.savePolicyState(session: s.id).values.map(\.bitPattern) == saved.values.map(\.bitPattern), "refusals left the state as it was")
        try c.resetPolicyState(session: s.id)
        #expect(Self.bits(try s.act(obs)) == Self.bits(first))
        try await server.stop()
    }

    /// A restored state may be finite and still extreme: a GRU state of 1.7e308 gives NaN actions.
    /// run_episodes never steps a world with them: an error reply, and the daemon and the
    /// session go on.
    @Test func runEpisodesRefusesAPolicysNonFiniteActions() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try Self.bound(c, batch: 2, taskSeed: 5, seed: 3)
        let saved = try c.savePolicyState(session: s.id)
        var extreme = saved.values
        for r in 0..<2 { for j in 0..<8 { extreme[r * saved.reply.valuesPerInstance + j] = 1.7e308 } }
        try c.restorePolicyState(session: s.id, values: extreme, architecture: saved.reply.architecture)
        #expect(try s.act(s.observations).contains { !$0.isFinite }, "the state gives non-finite actions")
        try c.restorePolicyState(session: s.id, values: extreme, architecture: saved.reply.architecture)
        #expect(Self.code { _ = try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: 2, deterministic: true, decimation: 0)) } == .badAction)
        // The session and the daemon go on: a zero state runs.
        try c.resetPolicyState(session: s.id)
        let run = try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: 2, deterministic: true, decimation: 0))
        #expect(run.returns.count == 2 && run.returns.allSatisfy(\.isFinite))
        try await server.stop()
    }

    @Test func aDiscretePolicysStateIsCheckedOnRestore() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let s = try c.open(OpenRequest(world: "cartpole", batch: 2, taskSeed: 5, seed: 3))
        _ = try s.adapt(policy: "cartpole-rl2", steps: 0)
        let a = try s.act(s.observations)
        #expect(a.allSatisfy { $0 == 0 || $0 == 1 })
        let saved = try c.savePolicyState(session: s.id)
        #expect(saved.reply.valuesPerInstance == 8 + 1 + 3 && saved.reply.architecture.contains("categorical"))
        #expect(saved.values[8] == Double(a[0]), "the previous action is the index")
        var beyond = saved.values
        beyond[8] = 2
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: beyond, architecture: saved.reply.architecture) } == .badRequest)
        beyond[8] = 0.5
        #expect(Self.code { try c.restorePolicyState(session: s.id, values: beyond, architecture: saved.reply.architecture) } == .badRequest)
        #expect(try c.savePolicyState(session: s.id).values == saved.values)
        try await server.stop()
    }

    /// An external session adapts online: each record's rewards and episode ends reach the next act.
    @Test func anExternalSessionAdaptsOnlineFromItsRecords() async throws {
        let (server, _) = try await Self.server()
        let c = try server.connect()
        let info = try #require(try c.listWorlds().first { $0.name == "point-nav" })
        func external() throws -> UInt32 {
            let e = try c.openExternal(OpenExternalRequest(world: "point-nav", batch: 1, observation: info.observation, action: info.action,
                                                           discreteActions: nil))
            _ = try c.adapt(AdaptRequest(session: e.session, policy: "pn-rl2", steps: 0))
            return e.session
        }
        func act(_ id: UInt32, _ obs: [Float]) throws -> [Float] {
            let bytes = try c.act(session: id, observations: obs)
            return bytes.withUnsafeBytes { p in (0..<2).map { p.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
        }
        let a = try external(), b = try external(), same = try external()
        let obs: [Float] = [1.5, -2]
        var actions: [[Float]] = []
        for id in [a, b, same] { actions.append(try act(id, obs)) }
        #expect(actions[0] == actions[1] && actions[1] == actions[2])
        let reply = try c.record(session: a, rewards: [-1], observations: obs, actions: actions[0], terminated: [false], truncated: [false])
        #expect(reply.transitions == 0, "a recurrent policy keeps no recorded episodes")
        _ = try c.record(session: b, rewards: [3], observations: obs, actions: actions[1], terminated: [false], truncated: [false])
        _ = try c.record(session: same, rewards: [-1], observations: obs, actions: actions[2], terminated: [false], truncated: [false])
        let next = try [a, b, same].map { try Self.bits(act($0, obs)) }
        #expect(next[0] != next[1], "the recorded reward reaches the state")
        #expect(next[0] == next[2])
        // No gradient step: adapt from recorded episodes is refused for it.
        #expect(Self.code { _ = try c.adapt(AdaptRequest(session: a)) } == .badRequest)
        try await server.stop()
    }
}
