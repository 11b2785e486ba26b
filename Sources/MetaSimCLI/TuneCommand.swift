import ArgumentParser
import Foundation
import MetaLearning
import MetaSimCore

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Choose the inner learning rate of the adaptation steps past the meta-trained ones (of every step, for a multi-task baseline), on validation tasks.",
        discussion: """
            A policy meta-trained for m inner steps has m learning rates; adapting for more steps \
            repeats the last. This adapts the policy for --steps steps on validation tasks with \
            each --rates candidate (and the repeated last rate) for steps m + 1 onwards, takes the \
            candidate with the best mean return after those steps if it beats the repeated rate \
            paired per task (95% interval above 0; else the policy keeps its rates), and writes \
            the policy with it (metadata later_rate_tuning records every score). The validation \
            tasks are drawn from the training range, skipping the policy's own training tasks \
            (and those of every --skip-training-of policy); the held-out range is left for \
            evaluation. Same inputs, same result. A multi-task checkpoint (the fine-tuned \
            baseline, meta-trained for no step) gets one rate for every step, chosen the same way \
            against its current rate; give it --same-tasks-as META to tune it on the very \
            validation tasks (and episode seed, steps, episodes and grid) META's tuning recorded. \
            metasim evaluate --baseline then adapts it at that rate.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Option(name: [.customLong("world"), .customLong("family")], help: "World family (catalog name or path).") var world: String
    @Option(help: "Meta-trained (or multi-task) checkpoint.") var policy: String
    @Option(name: [.customLong("steps"), .customLong("inner-steps")], help: "Inner steps of the adaptation to tune for (default 3, or --same-tasks-as's).")
    var steps: Int?
    @Option(name: [.customLong("episodes"), .customLong("episodes-per-step")], help: "Episodes per inner step (default: the policy's training setting, or --same-tasks-as's).")
    var episodes: Int?
    @Option(help: "Candidate rates, comma-separated (default with --same-tasks-as: its grid).") var rates: String?
    @Option(help: "Validation tasks (default 40).") var tasks: Int?
    @Option(help: "Episode seed of the validation adaptations (default 0, or --same-tasks-as's).") var seed: UInt64?
    @Option(name: .customLong("same-tasks-as"), help: "Tune on the validation tasks, episode seed, steps, episodes and grid this tuned checkpoint's tuning recorded (the meta-policy, for its baseline).")
    var sameTasksAs: String?
    @Option(name: .customLong("skip-training-of"), help: "Also skip this checkpoint's training tasks when drawing validation tasks (repeatable).")
    var skipTrainingOf: [String] = []
    @Option(help: "Threads (tasks in parallel; results do not depend on it).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: [.customLong("output"), .customLong("out")], help: "Write the tuned policy here (default: replace --policy, atomically).")
    var output: String?

    func run() throws {
        let given = try rates.map { text in
            let candidates = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !candidates.isEmpty, candidates.allSatisfy({ ($0 ?? -1) >= 0 && $0!.isFinite }) else {
                throw ValidationError("--rates: expected non-negative rates like 0.025,0.05,0.1")
            }
            return candidates.map { $0! }
        }
        guard (tasks ?? 1) >= 1, (steps ?? 1) >= 1, (episodes ?? 1) >= 1, threads >= 1 else {
            throw ValidationError("need --tasks, --steps, --episodes and --threads >= 1")
        }
        var definition = try catalog.definition(world)
        let specs = try worldSpecs(definition)
        var checkpoint = try loadCheckpoint(policy, definition: definition, specs: specs)
        guard let config = checkpoint.metadata.trainingConfig else {
            throw CLIError("\(policy): no training configuration recorded (hyperparameters): its meta-trained steps and training tasks are unknown")
        }
        guard checkpoint.metadata.adaptedTaskSeed == nil else { throw CLIError("\(policy): already adapted to one task; tune the meta-trained policy") }
        // The multi-task baseline was meta-trained for no inner step: every step's rate is tuned.
        let everyStep = checkpoint.metadata.algorithm == MetaAlgorithm.multitask.rawValue
        definition = definition.withHorizon(config.horizon)
        let tuned: (policy: Policy, tuning: LaterRateTuning)
        var inner = config.inner
        do {
            var training = try LaterRateTuner.trainingTaskSeeds(definition: definition, config: config)
            for other in skipTrainingOf {
                guard let c = try loadCheckpoint(other, definition: definition, specs: specs, oracle: true).metadata.trainingConfig else {
                    throw CLIError("\(other): no training configuration recorded (hyperparameters): its training tasks are unknown")
                }
                training.formUnion(try LaterRateTuner.trainingTaskSeeds(definition: definition, config: c))
            }
            let validation: [UInt64], candidates: [Double], episodeSeed: UInt64
            if let sameTasksAs {
                guard let shared = try loadCheckpoint(sameTasksAs, definition: definition, specs: specs).metadata.laterRateTuning else {
                    throw CLIError("\(sameTasksAs): no later_rate_tuning recorded: tune it first (metasim tune --policy \(sameTasksAs)), or give --skip-training-of \(sameTasksAs) for the validation tasks that skip both policies' training tasks")
                }
                for (option, value, recorded) in [("--steps", steps, shared.steps), ("--episodes", episodes, shared.episodes), ("--tasks", tasks, shared.validationTaskSeeds.count)]
                where value.map({ $0 != recorded }) == true {
                    throw CLIError("\(option) \(value!): \(sameTasksAs) was tuned with \(recorded); --same-tasks-as tunes on the same")
                }
                if let seed, seed != shared.seed { throw CLIError("--seed \(seed): \(sameTasksAs) was tuned with episode seed \(shared.seed)") }
                validation = try LaterRateTuner.sharedValidationTaskSeeds(shared, excluding: training)
                episodeSeed = shared.seed
                inner.steps = shared.steps
                inner.episodes = shared.episodes
                // Its grid: the candidates it was given (its first is its own untuned rate).
                let grid = Array(shared.candidates.dropFirst())
                candidates = given ?? (grid.isEmpty ? shared.candidates : grid)
            } else {
                guard let given else { throw ValidationError("--rates: give the candidate rates (or --same-tasks-as a tuned checkpoint)") }
                validation = LaterRateTuner.validationTaskSeeds(count: tasks ?? 40, excluding: training)
                episodeSeed = seed ?? 0
                inner.steps = steps ?? 3
                if let episodes { inner.episodes = episodes }
                candidates = given
            }
            let clock = ContinuousClock.now
            tuned = everyStep
                ? try LaterRateTuner.tuneEveryStep(policy: checkpoint.policy, definition: definition, inner: inner, candidates: candidates,
                                                   validationTasks: validation, seed: episodeSeed, threads: threads)
                : try LaterRateTuner.tune(policy: checkpoint.policy, metaTrainedSteps: config.inner.steps, definition: definition,
                                          inner: inner, candidates: candidates, validationTasks: validation, seed: episodeSeed,
                                          threads: threads)
            FileHandle.standardError.write(Data("tuned in \((ContinuousClock.now - clock).components.seconds) s\n".utf8))
        } catch let e as LaterRateTuningError {
            throw CLIError(e.description)
        } catch let e as WorldError {
            throw CLIError(e.description)
        }
        let t = tuned.tuning
        let origin = sameTasksAs.map { "\($0)'s validation tasks" } ?? "training range, seeds from \(t.validationTaskSeeds.first!)"
        print("\(definition.name): \(t.validationTaskSeeds.count) validation tasks (\(origin), none a training task), \(t.steps) inner steps × \(t.episodes) episodes, episode seed \(t.seed); \(everyStep ? "a multi-task baseline: one rate for every step" : "meta-trained for \(t.metaTrainedSteps)")")
        let untuned = everyStep ? "(untuned: its current rate)" : "(untuned: the last meta-trained rate)"
        var table = TextTable(["rate of steps \(t.metaTrainedSteps + 1)…\(t.steps)", "mean return after those steps", "paired lead (95% CI)", ""])
        for (i, r) in t.candidates.enumerated() {
            table.add([fmt(r, 4) + (i == 0 ? " \(untuned)" : ""), fmt(t.scores[i]),
                       i == 0 ? "-" : "\(fmt(t.leads[i].mean)) [\(fmt(t.leads[i].low)), \(fmt(t.leads[i].high))]", r == t.chosen ? "chosen" : ""])
        }
        print(table.render(), terminator: "")
        checkpoint.policy = tuned.policy
        checkpoint.metadata.laterRateTuning = t
        let out = output ?? policy
        do { try checkpoint.write(to: out) } catch { throw CLIError(error.description) }
        print("wrote \(out): inner learning rates \(tuned.policy.innerLearningRates.map { fmt($0, 4) }.joined(separator: ", "))")
    }
}
