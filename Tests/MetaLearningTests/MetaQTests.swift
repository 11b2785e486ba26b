import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// Meta-Q-learning on cartpole: the TD loss's gradient, the replay buffer, determinism, the
/// checkpoint, and a short meta-training run that beats a Q-network trained from scratch with the
/// same adaptation budget.
@Suite("Meta-Q-learning", .serialized)
struct MetaQTests {
    static let heldOut = (0..<6).map { TaskSeeds.evaluation.lowerBound + 300 + UInt64($0) }

    static func config(iterations: Int = 40, threads: Int = 2) -> MetaTrainingConfig {
        MetaTrainingConfig(algorithm: .metaq, iterations: iterations, metaBatch: 4, inner: InnerLoop(steps: 2, episodes: 5),
                           outerLearningRate: 1e-3, hidden: [32, 32], seed: 3, threads: threads,
                           qLearning: QLearning(updates: 60, batchSize: 32, targetPeriod: 100))
    }

    static func train(_ config: MetaTrainingConfig) throws -> Policy {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try MetaTrainer(definition: try Support.definition("cartpole"), config: config).train(logger: logger)
    }

    func math(hidden: [Int] = [5, 4]) throws -> PolicyMath {
        let d = try Support.definition("cartpole")
        let arch = PolicyArchitecture(specs: try WorldProgram(definition: d, task: d.nominalTask()).specs, hidden: hidden)
        #expect(arch.kind == .categorical && arch.actionCount == 2)
        return PolicyMath(architecture: arch, normalizer: ObservationNormalizer(size: arch.observationCount, enabled: false))
    }

    @Test("the double-DQN TD loss's gradient matches finite differences (Huber in both regimes, terminal and not)")
    func tdLossGradientMatchesFiniteDifferences() throws {
        let math = try math()
        let n = math.architecture.parameterCount
        let params = Support.uniform(n, seed: 1, scale: 0.8), target = Support.uniform(n, seed: 2, scale: 0.8)
        var batch = TransitionBatch(count: 12, observationCount: 4)
        batch.observations = Support.uniform(48, seed: 3)
        batch.nextObservations = Support.uniform(48, seed: 4)
        batch.actions = (0..<12).map { $0 % 2 }
        // Rewards of 0 to 3: TD errors both below and above the Huber threshold 1.
        batch.rewards = (0..<12).map { Double($0 % 4) }
        batch.terminal = (0..<12).map { $0 % 3 == 0 ? 1 : 0 }
        let (loss, gradient) = QLearner.tdLoss(params, target: target, batch: batch, math: math, huberDelta: 1, gamma: 0.9)
        #expect(loss > 0)
        let numeric = Support.numericGradient(params) {
            QLearner.tdLoss($0, target: target, batch: batch, math: math, huberDelta: 1, gamma: 0.9).loss
        }
        #expect(Support.maxRelativeError(gradient, numeric) < 1e-5)
    }

    @Test("the replay buffer keeps the newest transitions, oldest first, and appends another buffer in order")
    func replayBufferRing() {
        var a = ReplayBuffer(capacity: 3, observationCount: 1)
        for k in 0..<5 {
            [Double(k)].withUnsafeBufferPointer { o in
                [Double(k) + 0.5].withUnsafeBufferPointer { nx in
                    a.append(observation: o, action: k % 2, reward: Double(k) * 10, next: nx, terminated: k == 4)
                }
            }
        }
        #expect(a.count == 3)
        var b = ReplayBuffer(capacity: 10, observationCount: 1)
        b.append(contentsOf: a)
        #expect(b.count == 3)
        var rng = SeededGenerator(seed: 5)
        let s = b.sample(size: 200, rng: &rng)
        // Only transitions 2, 3 and 4 remain, each with its own next observation, reward and flag.
        #expect(Set(s.observations) == [2, 3, 4])
        for r in 0..<s.count {
            let k = s.observations[r]
            #expect(s.nextObservations[r] == k + 0.5 && s.rewards[r] == k * 10 && s.actions[r] == Int(k) % 2)
            #expect(s.terminal[r] == (k == 4 ? 1 : 0))
        }
    }

    @Test("meta-Q training is identical for any thread count, and its checkpoint round-trips with its Q-learning settings")
    func deterministicAndCheckpointed() throws {
        let one = try Self.train(Self.config(iterations: 3, threads: 1))
        let two = try Self.train(Self.config(iterations: 3, threads: 2))
        #expect(one == two)
        #expect(one.qLearning == Self.config().qLearning)
        let d = try Support.definition("cartpole")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "metaq", hyperparameters: Checkpoint.json(Self.config()),
                                      trainingSeed: 3, metasimVersion: "test")
        let path = Support.temporaryPath("metaq.safetensors")
        try Checkpoint(policy: one, metadata: meta).write(to: path)
        let loaded = try Checkpoint.load(path: path)
        #expect(loaded.policy == one)
        #expect(loaded.metadata.trainingConfig?.qLearning == Self.config().qLearning)
        // Adapting a Q-network runs Q-learning: the same seed gives the same adapted weights, on
        // any number of threads stepping its episodes.
        let program = try Support.program("cartpole", taskSeed: Self.heldOut[0])
        let a = try loaded.policy.adapted(to: program, inner: InnerLoop(steps: 1, episodes: 3), seed: 9)
        let b = try one.adapted(to: program, inner: InnerLoop(steps: 1, episodes: 3), seed: 9, threads: 2)
        #expect(a.policy == b.policy && a.policy.parameters != one.parameters)
        #expect(a.adaptation.returns == b.adaptation.returns)
    }

    @Test("a continuous-action policy cannot carry Q-learning settings in a checkpoint")
    func qLearningNeedsDiscreteActions() throws {
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let policy = Policy(architecture: PolicyArchitecture(specs: specs, hidden: [4]), seed: 1)
        var bytes = Checkpoint(policy: policy, metadata: CheckpointMetadata(definition: d, specs: specs, algorithm: "metaq", hyperparameters: "{}",
                                                                          trainingSeed: 1, metasimVersion: "test")).encoded()
        // Re-encode with a q_learning entry added to the metadata.
        let (tensors, metadata) = try SafeTensors.decode(bytes, path: "x")
        var meta = metadata
        meta["q_learning"] = Checkpoint.json(QLearning())
        bytes = SafeTensors.encode(tensors, metadata: meta)
        #expect {
            _ = try Checkpoint.decode(bytes, path: "pn.safetensors")
        } throws: { error in
            "\(error)".contains("needs discrete actions")
        }
    }

    @Test("a checkpoint whose Q-learning settings cannot run is refused on load, not run", arguments: [
        QLearning(updates: 1, targetPeriod: 0), QLearning(batchSize: 0), QLearning(replayCapacity: 0),
        QLearning(learningRate: .nan), QLearning(epsilon: 2), QLearning(huberDelta: 0),
    ])
    func invalidQLearningIsRefused(q: QLearning) throws {
        let d = try Support.definition("cartpole")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        var policy = Policy(architecture: PolicyArchitecture(specs: specs, hidden: [4]), seed: 1)
        policy.qLearning = q
        let bytes = Checkpoint(policy: policy, metadata: CheckpointMetadata(definition: d, specs: specs, algorithm: "metaq",
                                                                           hyperparameters: "{}", trainingSeed: 1, metasimVersion: "test")).encoded()
        #expect {
            _ = try Checkpoint.decode(bytes, path: "cp.safetensors")
        } throws: { error in
            // A NaN cannot even be written as JSON: that checkpoint is refused as "not valid".
            "\(error)".contains("q_learning needs") || "\(error)".contains("'q_learning' is not valid")
        }
    }

    @Test("after a short meta-training run, meta-Q beats a Q-network from scratch at every step of the same adaptation budget")
    func metaQBeatsScratch() throws {
        let config = Self.config()
        let policy = try Self.train(config)
        let evaluator = try Evaluator(definition: try Support.definition("cartpole"), inner: config.inner, taskSeeds: Self.heldOut,
                                      seed: 0, threads: 2)
        let report = try evaluator.run(methods: [.init(name: "metaq", policy: policy)], scratch: policy.architecture,
                                       scratchQLearning: policy.qLearning)
        let meta = try #require(report.deterministic.first { $0.name == "metaq" }).returns
        let scratch = try #require(report.deterministic.first { $0.name == "scratch" }).returns
        // Measured with these settings (greedy returns after 0, 1, 2 steps): metaq 122.4, 108.7,
        // 140.7; scratch 67.7, 45.1, 40.3.
        for k in 0...config.inner.steps {
            #expect(meta[k].mean > scratch[k].mean + 20, "step \(k): metaq \(meta[k].mean), scratch \(scratch[k].mean)")
        }
    }
}
