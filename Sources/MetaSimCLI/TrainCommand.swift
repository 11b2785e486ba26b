import ArgumentParser
import Foundation
import MetaLearning
import MetaSimCore

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Meta-train a policy on a task family and write a safetensors checkpoint.",
        discussion: """
            Tasks are drawn from the training task-seed range [0, 1e9); evaluation uses the \
            reserved range [1e9, 2e9). --algo multitask trains the multi-task baseline on the same \
            tasks with the same number of episodes. The same seed gives the same bytes.
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var innerOptions: InnerLoopOptions
    @OptionGroup var qOptions: QLearningOptions
    @OptionGroup var recurrentOptions: RecurrentOptions
    @Option(name: [.customLong("world"), .customLong("family")], help: "World family (catalog name or path).") var world: String
    @Option(help: "Outer loop: maml, fomaml, reptile, multitask, oracle, metaq (discrete actions), rl2 (a GRU trained with PPO), or context (a transition encoder conditioning the policy, trained with PPO).") var algo: MetaAlgorithm = .maml
    @Option(help: "Outer iterations.") var iterations = 100
    @Option(name: .customLong("meta-batch"), help: "Tasks per iteration.") var metaBatch = 20
    @Option(name: .customLong("outer-lr"), help: "Outer learning rate (Adam; Reptile's step size; metaq: Adam's on the multi-task TD loss). Default 0.003, Reptile 0.5, metaq 0.001.") var outerLR: Double?
    @Option(help: "Hidden layer sizes (default 64,64; rl2: the GRU's size, default 64; context: the encoder's and policy's width, default 64).") var hidden: String?
    @Option(name: .customLong("init-log-std"), help: "Initial log standard deviation (Gaussian policies).") var initLogStd = 0.0
    @Flag(name: .customLong("normalize-observations"), help: "Running observation normalization.") var normalize = false
    @Flag(name: .customLong("raw-actions"), help: "Gaussian policies act in world units (MAML's setup) instead of units of the action bounds.") var rawActions = false
    @Flag(name: .customLong("last-step-loss"), help: "MAML: meta-loss after the last inner step only (default: mean over every inner step).") var lastStepLoss = false
    @Flag(name: .customLong("learn-inner-lr"), help: "MAML: meta-learn each inner step's learning rate (stored in the checkpoint).") var learnInnerLR = false
    @Flag(name: .customLong("learn-parameter-rates"), help: "MAML: also meta-learn one multiplier of the inner learning rate per parameter (Meta-SGD; stored in the checkpoint).")
    var learnParameterRates = false
    @Option(name: .customLong("context-parameters"), help: "MAML: CAVIA, N context parameters as extra network inputs that the inner loop adapts alone (the rest is meta-learned).")
    var contextParameters: Int?
    @Option(name: .customLong("outer-epochs"), help: "MAML: ProMP's outer loop, N clipped outer steps on each iteration's episodes, with likelihood ratios in the inner surrogate (default: MAML's one step).")
    var outerEpochs: Int?
    @Option(help: "MAML with --outer-epochs: PPO's clip ε of the post-adaptation likelihood ratios (default 0.3, ProMP's); rl2: PPO's clip ε (default 0.2).") var clip: Double?
    @Option(help: "Training seed.") var seed: UInt64 = 0
    @Option(help: "Threads (tasks of an iteration in parallel; results do not depend on it).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: [.customLong("output"), .customLong("out")], help: "Checkpoint to write.") var output: String
    @Option(help: "Print progress every N iterations (0: only the summary).") var every = 10
    @Flag(help: "Debug logging.") var verbose = false

    func run() throws {
        let definition = try catalog.definition(world)
        let learner = MetaLearners.learner(for: algo), defaults = learner.defaults(for: algo)
        let recurrent = defaults.recurrent != nil
        let sizes = try parseHidden(hidden ?? (recurrent ? "64" : "64,64"))
        if recurrent && sizes.count != 1 {
            throw CLIError("--hidden is the size of \(algo == .context ? "the context encoder's and policy's hidden layers" : "rl2's GRU"): one number, not \(sizes.count)")
        }
        if !recurrent && (recurrentOptions.latent != nil || recurrentOptions.decoderCoefficient != nil) {
            throw CLIError("--latent and --decoder-coef are the context policy's: use them with --algo context, not \(algo)")
        }
        if !recurrent && recurrentOptions.rewardInputScale != nil {
            throw CLIError("--reward-input-scale scales the reward a policy with memory reads: use it with --algo rl2 or context, not \(algo)")
        }
        let config = MetaTrainingConfig(
            algorithm: algo, iterations: iterations, metaBatch: metaBatch,
            inner: try innerOptions.inner(defaultSteps: defaults.innerSteps, defaultLambda: recurrent ? 0.95 : 1),
            outerLearningRate: outerLR ?? defaults.outerLearningRate, hidden: sizes,
            initialLogStd: initLogStd, normalizeObservations: normalize, lossAtEveryStep: !lastStepLoss, learnInnerLearningRates: learnInnerLR,
            learnParameterRates: learnParameterRates, contextParameters: contextParameters,
            proximal: outerEpochs.map { ProximalOuter(epochs: $0, clip: clip ?? ProximalOuter().clip) }, scaledActions: !rawActions, seed: seed, horizon: innerOptions.horizon, threads: threads,
            qLearning: defaults.qLearning != nil ? try qOptions.settings() : nil,
            recurrent: recurrent ? try recurrentOptions.settings(clip: clip, algorithm: algo) : nil)
        if learnParameterRates && !learner.options.contains(.parameterRates) {
            throw CLIError("--learn-parameter-rates meta-learns MAML's inner step: use it with --algo \(MetaLearners.algorithms(supporting: .parameterRates)), not \(algo.rawValue)")
        }
        if let n = contextParameters {
            guard n >= 1 else { throw CLIError("--context-parameters must be at least 1, not \(n)") }
            guard learner.options.contains(.contextParameters) else {
                throw CLIError("--context-parameters is CAVIA, an inner loop on context inputs: use it with --algo \(MetaLearners.algorithms(supporting: .contextParameters)), not \(algo.rawValue)")
            }
            guard !learnParameterRates else {
                throw CLIError("--context-parameters fixes the inner rate multipliers (1 on the context, 0 elsewhere): it cannot be combined with --learn-parameter-rates")
            }
        }
        if let n = outerEpochs {
            guard learner.options.contains(.proximalOuter) else {
                throw CLIError("--outer-epochs is ProMP's outer loop for MAML: use it with --algo \(MetaLearners.algorithms(supporting: .proximalOuter)), not \(algo.rawValue)")
            }
            guard n >= 1 else { throw CLIError("--outer-epochs must be at least 1, not \(n)") }
            if let clip, !(clip > 0 && clip.isFinite) { throw CLIError("--clip must be a positive number, not \(clip)") }
        } else if clip != nil && !recurrent {
            throw CLIError("--clip is the clip ε of ProMP's outer steps: give --outer-epochs too")
        }
        if let problem = learner.problem(specs: try worldSpecs(definition), world: definition.name) {
            throw CLIError("--algo \(algo.rawValue) \(problem)")
        }
        let trainer: MetaTrainer
        do { trainer = try MetaTrainer(definition: definition, config: config) } catch { throw CLIError(error.description) }
        let clock = ContinuousClock.now
        var bar = TrainingProgress(iterations: iterations, every: every, terminal: isatty(STDOUT_FILENO) != 0)
        let policy = try trainer.train(logger: makeLogger(verbose: verbose)) { bar.report($0) }
        bar.finish()
        let elapsed = ContinuousClock.now - clock
        let specs = try worldSpecs(definition)
        let metadata = CheckpointMetadata(definition: definition, specs: specs, algorithm: algo.rawValue,
                                          hyperparameters: learner.hyperparameters(config), trainingSeed: seed,
                                          metasimVersion: MetaSimVersion.string)
        do { try Checkpoint(policy: policy, metadata: metadata).write(to: output) } catch { throw CLIError(error.description) }
        let seconds = elapsed.inSeconds
        if !policy.innerLearningRates.isEmpty {
            print("meta-learned inner learning rates: \(policy.innerLearningRates.map { fmt($0, 4) }.joined(separator: ", "))")
        }
        let context = policy.architecture.contextCount
        if context > 0 {
            let o = policy.architecture.contextOffset
            print("context parameters (\(context), adapted alone by the inner loop), initial values: \(policy.parameters[o..<(o + context)].map { fmt(Double($0), 3) }.joined(separator: ", "))")
        } else if !policy.innerRateScales.isEmpty { print("meta-learned per-parameter rate multipliers: \(rateScaleSummary(policy.innerRateScales))") }
        print("wrote \(output): \(algo.rawValue) on \(definition.name), \(iterations) iterations × \(metaBatch) tasks × \(config.episodesPerTask) episodes in \(fmt(seconds, 1)) s (\(threads) thread\(threads == 1 ? "" : "s"))")
    }
}
