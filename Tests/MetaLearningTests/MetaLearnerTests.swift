import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// The registry of learners (`MetaLearners`), what checkpoints report through their learner, and
/// the adaptation runner. The expectations in `Reference` are the rules metasim applied before
/// the learners held them (TrainCommand's defaults, MetaTrainingConfig's episode count, the
/// daemon's PolicyCatalog): each learner must reproduce them.
@Suite("Meta-learners: registry, checkpoint facts, adaptation runner")
struct MetaLearnerTests {
    /// The rules as they were written out per algorithm before the learners held them.
    enum Reference {
        static func innerSteps(_ a: String) -> Int { a == "reptile" || a == "metaq" ? 3 : 1 }
        static func outerLearningRate(_ a: String) -> Double { a == "reptile" ? 0.5 : a == "metaq" || a == "rl2" || a == "context" ? 0.001 : 0.003 }
        static func episodesPerTask(_ a: String, _ inner: InnerLoop) -> Int {
            a == "rl2" || a == "context" ? RecurrentTraining().trialEpisodes : a == "metaq" ? inner.episodes : a == "reptile" ? inner.steps * inner.episodes : (inner.steps + 1) * inner.episodes
        }

        struct Settings: Decodable {
            var inner: InnerLoop?
            var proximal: ProximalOuter?
        }

        /// PolicyCatalog.entry's inner loop, learning rates, trained steps, adapt_first and proximal.
        static func entry(_ c: Checkpoint) -> (inner: InnerLoop, rates: [Double], trainedSteps: Int?, adaptFirst: Bool?, proximal: ProximalOuter?) {
            let m = c.metadata
            var inner = InnerLoop(steps: 3, episodes: 20, learningRate: 0.1)
            let q = c.policy.qLearning
            let trainedWith = try? JSONDecoder().decode(Settings.self, from: Data(m.hyperparameters.utf8))
            if let trained = trainedWith?.inner {
                if q == nil { inner.episodes = trained.episodes }
                inner.learningRate = trained.learningRate
                inner.gamma = trained.gamma
                inner.lambda = trained.lambda
            }
            let rates = q.map { [$0.learningRate] } ?? (c.policy.innerLearningRates.isEmpty ? [inner.learningRate] : c.policy.innerLearningRates)
            let adapted = m.adaptedTaskSeed != nil
            let adaptFirst: Bool? = switch m.algorithm {
            case "maml", "fomaml", "reptile", "metaq": !adapted
            case "multitask", "oracle": false
            case "rl2", "context": true  // acting with memory needs episodes of experience first
            default: nil
            }
            let trainedSteps: Int? = ["maml", "fomaml", "reptile"].contains(m.algorithm) ? trainedWith?.inner?.steps : nil
            return (inner, rates, trainedSteps, adaptFirst, trainedWith?.proximal)
        }
    }

    static let names = ["maml", "fomaml", "reptile", "multitask", "oracle", "metaq", "rl2", "context"]

    @Test("every algorithm name round-trips through its learner, once, in --algo's order")
    func registryRoundTrips() throws {
        #expect(MetaAlgorithm.allCases.map(\.rawValue) == Self.names)
        for name in Self.names {
            let a = try #require(MetaAlgorithm(rawValue: name))
            #expect(a.rawValue == name && a.description == name)
            let learner = try #require(MetaLearners.learner(named: name))
            #expect(learner.algorithms.contains(a))
            #expect(MetaLearners.all.filter { $0.algorithms.contains(a) }.count == 1, "\(name) is registered once")
            // The configuration codec writes the name and reads it back to the same learner.
            let config = MetaTrainingConfig(algorithm: a)
            let decoded = try JSONDecoder().decode(MetaTrainingConfig.self, from: Data(learner.hyperparameters(config).utf8))
            #expect(decoded == config)
            #expect(type(of: MetaLearners.learner(for: decoded.algorithm)) == type(of: learner))
        }
        #expect(MetaAlgorithm(rawValue: "maml2") == nil)
        #expect(MetaLearners.learner(named: "maml2") == nil)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MetaAlgorithm.self, from: Data(#""maml2""#.utf8)) }
    }

    @Test("train's defaults and episode counts are each learner's, as they were per algorithm")
    func defaultsAreTheLearners() throws {
        let inner = InnerLoop(steps: 4, episodes: 7)
        for a in MetaAlgorithm.allCases {
            let d = MetaLearners.learner(for: a).defaults(for: a)
            #expect(d.innerSteps == Reference.innerSteps(a.rawValue), "\(a)")
            #expect(d.outerLearningRate == Reference.outerLearningRate(a.rawValue), "\(a)")
            #expect((d.qLearning != nil) == (a.rawValue == "metaq"), "\(a)")
            #expect(MetaTrainingConfig(algorithm: a, inner: inner).episodesPerTask == Reference.episodesPerTask(a.rawValue, inner), "\(a)")
        }
        #expect(MetaLearners.algorithms(supporting: .parameterRates) == "maml or fomaml")
        #expect(MetaLearners.algorithms(supporting: .proximalOuter) == "maml or fomaml")
    }

    /// Every shipped checkpoint, as trained and as adapted, and renamed to every algorithm and to
    /// one this metasim does not know.
    static func shippedCheckpoints() throws -> [(String, Checkpoint)] {
        let root = Support.packageRoot.appendingPathComponent("policies").path
        var files = try FileManager.default.contentsOfDirectory(atPath: root).map { root + "/" + $0 }
        files += try FileManager.default.contentsOfDirectory(atPath: root + "/oracles").map { root + "/oracles/" + $0 }
        var out: [(String, Checkpoint)] = []
        for path in files.sorted() where path.hasSuffix(".safetensors") {
            let c = try Checkpoint.load(path: path)
            out.append((path, c))
            var adapted = c
            adapted.metadata.adaptedTaskSeed = 1_000_000_001
            out.append((path + " (adapted)", adapted))
            for algorithm in names + ["from-a-newer-metasim"] where algorithm != c.metadata.algorithm {
                var renamed = c
                renamed.metadata.algorithm = algorithm
                out.append((path + " (as \(algorithm))", renamed))
                renamed.metadata.adaptedTaskSeed = 1_000_000_001
                out.append((path + " (as \(algorithm), adapted)", renamed))
            }
        }
        return out
    }

    @Test("a checkpoint reports its inner defaults, adapt_first and trained steps as the daemon computed them")
    func checkpointFactsMatchTheDaemonsOldRules() throws {
        let all = try Self.shippedCheckpoints()
        #expect(all.count >= 12 * 14, "every shipped checkpoint is looked at")
        #expect(Set(all.map(\.1.metadata.algorithm)).isSuperset(of: ["maml", "multitask", "oracle", "metaq"]))
        // The old rules predate recurrent policies: a shipped rl2 checkpoint, under any name, is
        // adapted by acting with its memory (RecurrentLearner: rounds of 10 trials, rate 0, as many
        // episodes of experience as its training trials had before their last).
        let recurrent = all.filter { $0.1.policy.architecture.recurrent != nil }
        #expect(Set(recurrent.filter { $0.1.metadata.algorithm == "rl2" }.map(\.0)).count >= 4, "the shipped rl2 checkpoints are looked at")
        for (name, c) in recurrent {
            let trained = try #require(c.metadata.trainingConfig, "\(name)")
            let k = try #require(trained.recurrent?.trialEpisodes, "\(name)")
            #expect(c.adaptationDefaults.inner == InnerLoop(steps: max(k - 1, 1), episodes: 10, learningRate: 0, gamma: trained.inner.gamma,
                                                           lambda: trained.inner.lambda), "\(name)")
            #expect(c.adaptationDefaults.learningRates == [0], "\(name)")
            // A context policy named as one is its learner's; any other policy with memory, under
            // any name, the first registered learner that acts with memory (RL²'s, which runs
            // trials of either network alike).
            if c.metadata.algorithm == "context" && c.policy.architecture.recurrent?.cell == RecurrentCell.context {
                #expect(AdaptationRunner(checkpoint: c).learner is ContextLearner, "\(name)")
            } else {
                #expect(AdaptationRunner(checkpoint: c).learner is RecurrentLearner, "\(name)")
            }
            if ["rl2", "context"].contains(c.metadata.algorithm) { #expect(c.adaptFirst == true && c.trainedSteps == nil, "\(name)") }
        }
        for (name, c) in all where c.policy.architecture.recurrent == nil {
            let old = Reference.entry(c)
            let defaults = c.adaptationDefaults
            #expect(defaults.inner == old.inner, "\(name)")
            #expect(defaults.learningRates == old.rates, "\(name)")
            #expect(c.trainedSteps == old.trainedSteps, "\(name)")
            #expect(c.adaptFirst == old.adaptFirst, "\(name)")
            #expect(c.trainingRecord?.proximal == old.proximal, "\(name)")
        }
    }

    @Test("the runner picks the learner from the checkpoint, and what the policy is when that learner cannot adapt it")
    func runnerPicksTheLearner() throws {
        let root = Support.packageRoot.appendingPathComponent("policies").path
        let cartpole = try Checkpoint.load(path: root + "/cartpole.safetensors")
        let pointNav = try Checkpoint.load(path: root + "/point-nav.safetensors")
        #expect(AdaptationRunner(checkpoint: cartpole).learner is MetaQLearner)
        #expect(AdaptationRunner(checkpoint: pointNav).learner is MAMLLearner)
        #expect(AdaptationRunner(policy: pointNav.policy).learner is MAMLLearner, "the first learner adapting a policy-gradient policy")
        // A Q-network whose checkpoint names a policy-gradient algorithm still adapts by Q-learning.
        var renamed = cartpole
        renamed.metadata.algorithm = "reptile"
        #expect(AdaptationRunner(checkpoint: renamed).learner is MetaQLearner)
        #expect(AdaptationRunner(checkpoint: renamed).recordedEpisodesRefusal != nil)
        #expect(AdaptationRunner(checkpoint: pointNav).recordedEpisodesRefusal == nil)
    }

    @Test("the runner reports every step, stops when cancelled, and adapts as Policy.adapted does")
    func runnerProgressAndCancellation() throws {
        let root = Support.packageRoot.appendingPathComponent("policies").path
        let checkpoint = try Checkpoint.load(path: root + "/point-nav.safetensors")
        let program = try Support.program("point-nav", taskSeed: 1_000_000_002)
        let runner = AdaptationRunner(checkpoint: checkpoint)
        let request = AdaptationRequest(inner: InnerLoop(steps: 2, episodes: 4), seed: 5, evaluateFinal: true)
        var reported: [Int] = []
        let a = try runner.run(on: program, request) { k, _ in reported.append(k) }
        #expect(reported == [1, 2])
        #expect(!a.cancelled && a.returns.count == 3)
        let b = try checkpoint.policy.adapted(to: program, inner: InnerLoop(steps: 2, episodes: 4), seed: 5, evaluate: true)
        #expect(b.adaptation.returns == a.returns)
        #expect(b.policy.parameters == a.final.map { Float($0) })
        let cancel = Cancellation()
        cancel.cancel()
        let stopped = try runner.run(on: program, request, cancel: cancel)
        #expect(stopped.cancelled)
        #expect(stopped.returns.isEmpty)
    }
}
