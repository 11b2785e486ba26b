import ArgumentParser
import Foundation
import MetaLearning
import MetaSimCore

struct AdaptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapt",
        abstract: "Adapt a policy to one held-out task with the inner loop; report returns and step times.",
        discussion: """
            The task seed must lie in the held-out range [1e9, 2e9). --output writes the adapted policy. \
            A memory-based policy (rl2) adapts by acting: --episodes trials of --inner-steps + 1 \
            episodes, its state carried across each trial's episodes; row k is the return after k \
            episodes of experience, and its parameters never change (no --output).
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var innerOptions: InnerLoopOptions
    @Option(name: [.customLong("world"), .customLong("family")], help: "World family (catalog name or path).") var world: String
    @Option(help: "Checkpoint to adapt.") var policy: String
    @Option(name: .customLong("task-seed"), help: "Held-out task seed.") var taskSeed: UInt64
    @Option(help: "Episode seed.") var seed: UInt64 = 0
    @Option(help: "Threads stepping each inner step's episodes.") var threads = 1
    @Option(help: "Write the adapted policy here.") var output: String?

    func run() throws {
        guard TaskSeeds.evaluation.contains(taskSeed) else { throw CLIError(EvaluationError.trainingTask(seed: taskSeed).description) }
        var definition = try catalog.definition(world)
        let specs = try worldSpecs(definition)
        let inner = try innerOptions.inner(defaultSteps: 3)
        let checkpoint = try loadCheckpoint(policy, definition: definition, specs: specs, recurrent: true)
        let memory = checkpoint.policy.architecture.recurrent != nil
        if memory, output != nil {
            throw CLIError("--output: \(policy) is a memory-based policy (\(checkpoint.metadata.algorithm)): it adapts in its state, not its parameters; save a session's state through metasimd (save_policy_state) instead")
        }
        definition = definition.withHorizon(innerOptions.horizon ?? checkpoint.metadata.trainingHorizon)
        let result: (policy: Policy, adaptation: Adaptation)
        do {
            let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: taskSeed))
            result = try AdaptationRunner(checkpoint: checkpoint)
                .adapted(on: program, AdaptationRequest(inner: inner, seed: SplitMix64.mix(seed, taskSeed), threads: threads, evaluateFinal: true))
        } catch { throw CLIError(error.description) }
        if memory {
            print("\(definition.name), task seed \(taskSeed): \(inner.episodes) trials of \(inner.steps + 1) episodes of up to \(definition.episode.horizon) steps, the state carried across each trial's episodes (no gradient step)")
        } else {
            print("\(definition.name), task seed \(taskSeed): \(inner.steps) inner steps × \(inner.episodes) episodes of up to \(definition.episode.horizon) steps")
        }
        var table = TextTable([memory ? "episodes of experience" : "step", memory ? "mean return of the trials' next episode" : "mean return of \(inner.episodes) episodes",
                               memory ? "time per episode round (ms)" : "step time (ms)"])
        for (k, r) in result.adaptation.returns.enumerated() {
            let t = k < result.adaptation.stepSeconds.count ? fmt(result.adaptation.stepSeconds[k] * 1000, 1) : "-"
            table.add(["\(k)", fmt(r), t])
        }
        print(table.render(), terminator: "")
        if let output {
            var c = checkpoint
            c.policy = result.policy
            c.metadata.adaptedTaskSeed = taskSeed
            do { try c.write(to: output) } catch { throw CLIError(error.description) }
            print("wrote \(output)")
        }
    }
}
