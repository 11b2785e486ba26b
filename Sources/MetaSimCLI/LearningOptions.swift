import ArgumentParser
import Foundation
import Logging
import MetaLearning
import MetaSimCore

/// The inner loop (adaptation budget), shared by train, adapt and evaluate.
struct InnerLoopOptions: ParsableArguments {
    @Option(name: [.customLong("inner-steps"), .customLong("steps")], help: "Policy-gradient steps of adaptation.") var innerSteps: Int?
    @Option(name: [.customLong("episodes"), .customLong("episodes-per-step")], help: "Episodes per inner step.") var episodes = 20
    @Option(name: .customLong("inner-lr"), help: "Inner-loop SGD learning rate.") var innerLR = 0.1
    @Option(help: "Discount.") var gamma = 0.99
    @Option(name: .customLong("gae-lambda"), help: "GAE lambda (default 1; train --algo rl2 or context: 0.95).") var gaeLambda: Double?
    @Option(help: "Episode length in steps, replacing the world's horizon (train: recorded in the checkpoint; adapt, evaluate: default the checkpoint's).")
    var horizon: Int?

    func inner(defaultSteps: Int, defaultLambda: Double = 1) throws -> InnerLoop {
        let steps = innerSteps ?? defaultSteps, gaeLambda = self.gaeLambda ?? defaultLambda
        guard steps >= 0, episodes >= 1, innerLR >= 0, (0...1).contains(gamma), (0...1).contains(gaeLambda), (horizon ?? 1) >= 1 else {
            throw ValidationError("inner loop: need --inner-steps >= 0, --episodes >= 1, --inner-lr >= 0, gamma and lambda in [0, 1], --horizon >= 1")
        }
        return InnerLoop(steps: steps, episodes: episodes, learningRate: innerLR, gamma: gamma, lambda: gaeLambda)
    }
}

/// Meta-Q-learning's inner-loop settings (train --algo metaq; adapt and evaluate use the checkpoint's).
struct QLearningOptions: ParsableArguments {
    @Option(name: .customLong("q-updates"), help: "metaq: Q-learning updates per inner step.") var updates = 250
    @Option(name: .customLong("q-batch"), help: "metaq: minibatch size.") var batch = 64
    @Option(name: .customLong("q-lr"), help: "metaq: Adam learning rate of the TD loss.") var learningRate = 1e-3
    @Option(help: "metaq: probability of a random action while collecting episodes.") var epsilon = 0.1
    @Option(name: .customLong("target-period"), help: "metaq: updates between target-network refreshes.") var targetPeriod = 100

    func settings() throws -> QLearning {
        guard updates >= 0, batch >= 1, learningRate >= 0, (0...1).contains(epsilon), targetPeriod >= 1 else {
            throw ValidationError("Q-learning: need --q-updates >= 0, --q-batch >= 1, --q-lr >= 0, --epsilon in [0, 1], --target-period >= 1")
        }
        return QLearning(updates: updates, batchSize: batch, learningRate: learningRate, epsilon: epsilon, targetPeriod: targetPeriod)
    }
}

/// The trials and PPO updates of policies with memory (train --algo rl2 or context; the GRU's or
/// the context networks' width is --hidden, the clip ε --clip).
struct RecurrentOptions: ParsableArguments {
    @Option(name: .customLong("trial-episodes"), help: "rl2, context: episodes of one task per trial, the GRU's state or the pooled context carried across them.") var trialEpisodes = 2
    @Option(name: .customLong("ppo-epochs"), help: "rl2, context: PPO epochs over each iteration's trials.") var epochs = 4
    @Option(help: "rl2, context: minibatches of trials per PPO epoch (one Adam step each).") var minibatches = 4
    @Option(name: .customLong("value-coef"), help: "rl2, context: weight of the value loss.") var valueCoefficient = 0.5
    @Option(help: "rl2: truncated BPTT, the gradient through the GRU's state stops every N steps of a trial (0: the whole trial).") var bptt = 0
    @Option(name: .customLong("max-grad-norm"), help: "rl2, context: each minibatch's gradient is scaled down to at most this norm (0: never).") var maxGradNorm = 0.5
    @Option(help: "context: the size of the latent task vector (default \(ContextLearner.defaultLatentSize)).") var latent: Int?
    @Option(name: .customLong("decoder-coef"), help: "context: weight of the decoder loss, predicting each next reward and change of observation from the task vector (default \(ContextLearner.defaultDecoderCoefficient); 0: none).")
    var decoderCoefficient: Double?
    @Option(name: .customLong("reward-input-scale"), help: "rl2, context: the previous reward is multiplied by this before the network reads it (recorded in the checkpoint; default 1). For worlds whose rewards are a few hundredths a step.")
    var rewardInputScale: Double?

    func settings(clip: Double?, algorithm: MetaAlgorithm) throws -> RecurrentTraining {
        if latent != nil && algorithm != .context { throw ValidationError("--latent is the context policy's latent size: use it with --algo context, not \(algorithm)") }
        if decoderCoefficient != nil && algorithm != .context {
            throw ValidationError("--decoder-coef weighs the context policy's decoder: use it with --algo context, not \(algorithm)")
        }
        if bptt != 0 && algorithm == .context {
            throw ValidationError("--bptt truncates the GRU's backpropagation through time: a context policy has no chain of states to cut")
        }
        let r = RecurrentTraining(trialEpisodes: trialEpisodes, epochs: epochs, minibatches: minibatches, clip: clip ?? RecurrentTraining().clip,
                                  valueCoefficient: valueCoefficient, truncation: bptt, maxGradientNorm: maxGradNorm, latentSize: latent,
                                  decoderCoefficient: decoderCoefficient, rewardScale: rewardInputScale)
        if let problem = r.problem { throw ValidationError("\(algorithm): \(problem)") }
        return r
    }
}

/// Parses "64,64" into layer sizes.
func parseHidden(_ text: String) throws -> [Int] {
    let sizes = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) > 0 }) else { throw ValidationError("--hidden: expected sizes like 64,64") }
    return sizes.map { $0! }
}

func makeLogger(verbose: Bool) -> Logger {
    var logger = Logger(label: "metasim")
    logger.logLevel = verbose ? .debug : .warning
    return logger
}

/// Loads a checkpoint and checks it against the world (warning on stderr if only the file hash differs).
func loadCheckpoint(_ path: String, definition: WorldDefinition, specs: WorldSpecs, oracle: Bool = false, recurrent: Bool = false) throws -> Checkpoint {
    do {
        let c = try Checkpoint.load(path: path)
        if let warning = try c.check(against: definition, specs: specs, path: path, allowTaskInputs: oracle, allowRecurrent: recurrent) {
            FileHandle.standardError.write(Data((warning + "\n").utf8))
        }
        return c
    } catch {
        throw CLIError(error.description)
    }
}

func worldSpecs(_ definition: WorldDefinition) throws -> WorldSpecs {
    do { return try WorldProgram(definition: definition, task: definition.nominalTask()).specs } catch { throw CLIError(error.description) }
}

extension MetaAlgorithm: ExpressibleByArgument {}

/// Meta-SGD's per-parameter rate multipliers in one line: their median, 5–95% range and extremes.
func rateScaleSummary(_ scales: [Float]) -> String {
    let s = scales.map { Double($0) }.sorted()
    guard !s.isEmpty else { return "none" }
    func q(_ p: Double) -> Double { s[min(s.count - 1, Int((p * Double(s.count - 1)).rounded()))] }
    return "\(s.count) factors, median \(fmt(q(0.5), 3)), 5–95% \(fmt(q(0.05), 3))…\(fmt(q(0.95), 3)), min \(fmt(s[0], 3)), max \(fmt(s[s.count - 1], 3))"
}
