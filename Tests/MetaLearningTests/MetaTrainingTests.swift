import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// Short meta-training runs on point-nav (small, fast settings) and what they must show: MAML's
/// initialization adapts, the multi-task policy with the same samples does not as much, and the
/// oracle, told the task, is far ahead of both.
@Suite("Meta-training on point-nav", .serialized)
struct MetaTrainingTests {
    static let heldOut = (0..<8).map { TaskSeeds.evaluation.lowerBound + 100 + UInt64($0) }

    static func train(_ algorithm: MetaAlgorithm) throws -> (Policy, MetaTrainingConfig) {
        let config = MetaTrainingConfig(algorithm: algorithm, iterations: 60, metaBatch: 10,
                                        inner: InnerLoop(steps: 1, episodes: 10, learningRate: 0.3),
                                        outerLearningRate: 0.01, hidden: [16], seed: 1)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return (try MetaTrainer(definition: try Support.definition("point-nav"), config: config).train(logger: logger), config)
    }

    @Test("after one inner step MAML measurably beats the un-adapted and the fine-tuned multi-task policy; the oracle beats both")
    func mamlBeatsMultitaskAndTheOracleBeatsBoth() throws {
        let d = try Support.definition("point-nav")
        let (maml, config) = try Self.train(.maml)
        let (multitask, _) = try Self.train(.multitask)
        let (oracle, _) = try Self.train(.oracle)
        #expect(oracle.architecture.taskInputs == ["goal_x", "goal_y"])
        #expect(oracle.architecture.observationCount == 4 && oracle.architecture.worldObservationCount == 2)
        #expect(maml.architecture.taskInputs == nil)

        let evaluator = try Evaluator(definition: d, inner: config.inner, taskSeeds: Self.heldOut, seed: 0, threads: 2)
        let report = try evaluator.run(methods: [.init(name: "maml", policy: maml), .init(name: "multitask", policy: multitask)],
                                       scratch: nil, oracle: oracle)
        let m = try #require(report.methods.first { $0.name == "maml" }).returns
        let t = try #require(report.methods.first { $0.name == "multitask" }).returns
        let o = try #require(report.oracle).returns[0]
        // Measured with these settings: MAML -48.7 -> -28.0, multi-task -50.6 -> -44.6, oracle -7.5.
        #expect(m[1].mean > t[0].mean + 10, "MAML after 1 step \(m[1].mean), multi-task before adapting \(t[0].mean)")
        #expect(m[1].mean > t[1].mean + 5, "MAML after 1 step \(m[1].mean), multi-task after 1 step \(t[1].mean)")
        #expect(m[1].mean - m[0].mean > 10, "MAML's own gain \(m[1].mean - m[0].mean)")
        #expect(o.mean > m[1].mean + 10, "oracle \(o.mean), MAML after 1 step \(m[1].mean)")
        let gap = try #require(report.gapClosed(method: "maml", reference: "multitask"))
        #expect(gap[1].mean > 0.3)
        #expect(try #require(report.oracleDeterministic).returns[0].mean > o.mean, "the oracle's mean action does better than its samples")
    }

    @Test("ProMP (--outer-epochs): learns to adapt on point-nav; reproducible for any thread count; the setting survives a checkpoint")
    func prompAdapts() throws {
        let d = try Support.definition("point-nav")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var config = MetaTrainingConfig(algorithm: .maml, iterations: 60, metaBatch: 10, inner: InnerLoop(steps: 1, episodes: 10, learningRate: 0.3),
                                        outerLearningRate: 0.01, hidden: [16], proximal: ProximalOuter(epochs: 3, clip: 0.2), seed: 1, threads: 2)
        let promp = try MetaTrainer(definition: d, config: config).train(logger: logger)
        let (multitask, _) = try Self.train(.multitask)
        let evaluator = try Evaluator(definition: d, inner: config.inner, taskSeeds: Self.heldOut, seed: 0, threads: 2)
        let report = try evaluator.run(methods: [.init(name: "promp", policy: promp), .init(name: "multitask", policy: multitask)],
                                       scratch: nil, oracle: nil)
        let m = try #require(report.methods.first { $0.name == "promp" }).returns
        let t = try #require(report.methods.first { $0.name == "multitask" }).returns
        #expect(m[1].mean > t[0].mean + 10, "ProMP after 1 step \(m[1].mean), multi-task before adapting \(t[0].mean)")
        #expect(m[1].mean - m[0].mean > 10, "ProMP's own gain \(m[1].mean - m[0].mean)")

        config.iterations = 2
        config.metaBatch = 3
        config.threads = 1
        let one = try MetaTrainer(definition: d, config: config).train(logger: logger)
        config.threads = 3
        #expect(try MetaTrainer(definition: d, config: config).train(logger: logger) == one, "the same policy for 1 and 3 threads")
        config.proximal = ProximalOuter(epochs: 1, clip: 0.2)
        #expect(try MetaTrainer(definition: d, config: config).train(logger: logger) != one, "3 epochs are not 1")
        let json = Checkpoint.json(config)
        #expect(json.contains("\"proximal\":{\"clip\":0.2,\"epochs\":1}"), "\(json)")
        #expect(!Checkpoint.json(MetaTrainingConfig(algorithm: .maml)).contains("proximal"))
        let decoded = try JSONDecoder().decode(MetaTrainingConfig.self, from: Data(json.utf8))
        #expect(decoded.proximal == config.proximal)
    }

    @Test("CAVIA: context inputs that the inner loop adapts alone; training reproducible; the setting and the context survive a checkpoint")
    func caviaAdaptsTheContextAlone() throws {
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let config = MetaTrainingConfig(algorithm: .maml, iterations: 3, metaBatch: 2, inner: InnerLoop(steps: 1, episodes: 4, learningRate: 3),
                                        hidden: [8], learnInnerLearningRates: true, contextParameters: 2, seed: 3, threads: 2)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let trainer = try MetaTrainer(definition: d, config: config)
        let policy = try trainer.train(logger: logger)
        #expect(try MetaTrainer(definition: d, config: config).train(logger: logger) == policy, "same seed, same policy")
        let arch = policy.architecture
        #expect(arch.contextCount == 2 && arch.network.inputCount == 4 && arch.parameterCount == policy.parameters.count)
        #expect(policy.innerRateScales.map(Double.init) == arch.contextRateScales)
        // Adapting moves the context parameters and nothing else.
        let program = try WorldProgram(definition: d, task: d.sampleTask(seed: TaskSeeds.evaluation.lowerBound + 7))
        let adapted = try policy.adapted(to: program, inner: InnerLoop(steps: 2, episodes: 4), seed: 1).policy
        let o = arch.contextOffset
        #expect(adapted.parameters[..<o] == policy.parameters[..<o])
        #expect(adapted.parameters[o...] != policy.parameters[o...])
        // The recorded training configuration keeps the setting; a plain one does not mention it.
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "maml", hyperparameters: Checkpoint.json(config),
                                      trainingSeed: 3, metasimVersion: "test")
        let loaded = try Checkpoint.decode(Checkpoint(policy: policy, metadata: meta).encoded(), path: "cavia.safetensors")
        #expect(loaded.policy == policy && loaded.metadata.trainingConfig?.contextParameters == 2)
        #expect(!Checkpoint.json(MetaTrainingConfig(algorithm: .maml)).contains("contextParameters"))
        #expect(!Checkpoint.json(PolicyArchitecture(specs: specs)).contains("contextParameters"))
    }

    @Test("an oracle checkpoint keeps its task inputs; it is refused for acting and adapting, accepted for evaluation")
    func oracleCheckpoint() throws {
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let trainer = try MetaTrainer(definition: d, config: MetaTrainingConfig(algorithm: .oracle, iterations: 1, metaBatch: 1,
                                                                               inner: InnerLoop(steps: 1, episodes: 2), hidden: [4]))
        #expect(trainer.architecture.taskInputs == ["goal_x", "goal_y"])
        let policy = Policy(architecture: trainer.architecture, seed: 1)
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "oracle", hyperparameters: "{}", trainingSeed: 1, metasimVersion: "test")
        let path = Support.temporaryPath("oracle.safetensors")
        try Checkpoint(policy: policy, metadata: meta).write(to: path)
        let loaded = try Checkpoint.load(path: path)
        #expect(loaded.policy.architecture.taskInputs == ["goal_x", "goal_y"])
        #expect(try loaded.check(against: d, specs: specs, path: path, allowTaskInputs: true) == nil)
        #expect(throws: CheckpointError.self) { try loaded.check(against: d, specs: specs, path: path) }
        // A policy without task inputs encodes no `taskInputs` key: the shipped checkpoints' bytes are unchanged.
        let plain = Checkpoint(policy: Policy(architecture: PolicyArchitecture(specs: specs, hidden: [4]), seed: 1), metadata: meta)
        #expect(!String(decoding: plain.encoded(), as: UTF8.self).contains("taskInputs"))
    }
}
