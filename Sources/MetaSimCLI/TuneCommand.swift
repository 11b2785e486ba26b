import ArgumentParser
import Foundation
import MetaLearning
import MetaSimCore

struct TuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tune",
        abstract: "Choose the inner learning rate of the adaptation steps past the meta-trained ones, on validation tasks.",
        discussion: """
            A policy meta-trained for m inner steps has m learning rates; adapting for more steps \
            repeats the last. This adapts the policy for --steps steps on validation tasks with \
            each --rates candidate (and the repeated last rate) for steps m + 1 onwards, takes the \
            candidate with the best mean return after those steps if it beats the repeated rate \
            paired per task (95% interval above 0; else the policy keeps its rates), and writes \
            the policy with it (metadata later_rate_tuning records every score). The validation \
            tasks are drawn from the training range, skipping the policy's own training tasks; \
            the held-out range is left for evaluation. Same inputs, same result.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Option(name: [.customLong("world"), .customLong("family")], help: "World family (catalog name or path).") var world: String
    @Option(help: "Meta-trained checkpoint.") var policy: String
    @Option(name: [.customLong("steps"), .customLong("inner-steps")], help: "Inner steps of the adaptation to tune for.") var steps = 3
    @Option(name: [.customLong("episodes"), .customLong("episodes-per-step")], help: "Episodes per inner step (default: the policy's training setting).")
    var episodes: Int?
    @Option(help: "Candidate rates for the later steps, comma-separated.") var rates: String
    @Option(help: "Validation tasks.") var tasks = 40
    @Option(help: "Episode seed of the validation adaptations.") var seed: UInt64 = 0
    @Option(help: "Threads (tasks in parallel; results do not depend on it).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: [.customLong("output"), .customLong("out")], help: "Write the tuned policy here (default: replace --policy, atomically).")
    var output: String?

    func run() throws {
        let candidates = rates.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !candidates.isEmpty, candidates.allSatisfy({ ($0 ?? -1) >= 0 && $0!.isFinite }) else {
            throw ValidationError("--rates: expected non-negative rates like 0.025,0.05,0.1")
        }
        guard tasks >= 1, steps >= 1, (episodes ?? 1) >= 1, threads >= 1 else {
            throw ValidationError("need --tasks, --steps, --episodes and --threads >= 1")
        }
        var definition = try catalog.definition(world)
        let specs = try worldSpecs(definition)
        var checkpoint = try loadCheckpoint(policy, definition: definition, specs: specs)
        guard let config = checkpoint.metadata.trainingConfig else {
            throw CLIError("\(policy): no training configuration recorded (hyperparameters): its meta-trained steps and training tasks are unknown")
        }
        guard checkpoint.metadata.adaptedTaskSeed == nil else { throw CLIError("\(policy): already adapted to one task; tune the meta-trained policy") }
        definition = definition.withHorizon(config.horizon)
        var inner = config.inner
        inner.steps = steps
        if let episodes { inner.episodes = episodes }
        let tuned: (policy: Policy, tuning: LaterRateTuning)
        do {
            let training = try LaterRateTuner.trainingTaskSeeds(definition: definition, config: config)
            let validation = LaterRateTuner.validationTaskSeeds(count: tasks, excluding: training)
            let clock = ContinuousClock.now
            tuned = try LaterRateTuner.tune(policy: checkpoint.policy, metaTrainedSteps: config.inner.steps, definition: definition,
                                            inner: inner, candidates: candidates.map { $0! }, validationTasks: validation, seed: seed,
                                            threads: threads)
            FileHandle.standardError.write(Data("tuned in \((ContinuousClock.now - clock).components.seconds) s\n".utf8))
        } catch let e as LaterRateTuningError {
            throw CLIError(e.description)
        } catch let e as WorldError {
            throw CLIError(e.description)
        }
        let t = tuned.tuning
        print("\(definition.name): \(t.validationTaskSeeds.count) validation tasks (training range, seeds from \(t.validationTaskSeeds.first!), none a training task), \(t.steps) inner steps × \(t.episodes) episodes; meta-trained for \(t.metaTrainedSteps)")
        var table = TextTable(["rate of steps \(t.metaTrainedSteps + 1)…\(t.steps)", "mean return after those steps", "paired lead (95% CI)", ""])
        for (i, r) in t.candidates.enumerated() {
            table.add([fmt(r, 4) + (i == 0 ? " (untuned: the last meta-trained rate)" : ""), fmt(t.scores[i]),
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
