import ArgumentParser
import Foundation
import MetaLearning
import MetaSimBatch
import MetaSimCore

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Few-shot evaluation on held-out tasks, baselines side by side (table, JSON, 95% intervals).",
        discussion: """
            Every policy (and a from-scratch policy, fresh weights per task) adapts with the same \
            inner loop on the same episode seeds; the return after k steps is the mean return of \
            the episodes sampled with the k-times adapted parameters. Task seeds must lie in the \
            held-out range [1e9, 2e9). Intervals: Student t over tasks; gap closed: task bootstrap. \
            A --baseline tuned by metasim tune adapts at its tuned rate, not --inner-lr; scratch \
            always at --inner-lr. With a trained --oracle, the report counts the tasks on which \
            each method beats it after each step. --blocks N evaluates N disjoint blocks of --tasks \
            consecutive seeds and reports each. --memory adds meta-policies with memory (rl2, context: they \
            adapt by acting, their state carried across the episodes of a task), evaluated on the \
            same tasks in trials of episodes; then every method is tabulated and plotted against \
            episodes of experience of the task (--experience), one inner step counting as \
            --episodes episodes.
            """,
        aliases: ["eval"])

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var innerOptions: InnerLoopOptions
    @Option(name: [.customLong("world"), .customLong("family")], help: "World family (catalog name or path).") var world: String
    @Option(help: "Meta-trained checkpoint.") var policy: String
    @Option(help: "Multi-task baseline checkpoint (the gap reference).") var baseline: String?
    @Option(help: "Oracle checkpoint (metasim train --algo oracle: told the task), the level the gap is measured to; default: the analytic oracle where one exists.")
    var oracle: String?
    @Option(help: "Held-out tasks.") var tasks = 40
    @Option(name: .customLong("first-task-seed"), help: "First held-out task seed (tasks use consecutive seeds).") var firstTaskSeed: UInt64 = TaskSeeds.evaluation.lowerBound
    @Option(help: "Disjoint blocks of --tasks consecutive held-out seeds, from --first-task-seed on, each evaluated and reported (JSON: a list of reports when > 1).")
    var blocks = 1
    @Flag(name: .customLong("no-scratch"), help: "Skip the from-scratch baseline.") var noScratch = false
    @Flag(name: .customLong("same-rates"), help: "Baselines adapt with the meta-policy's meta-learned inner learning rates (and per-parameter multipliers) too.") var sameRates = false
    @Option(name: .customLong("scratch-q-lr"), help: "metaq: Adam learning rate of the from-scratch Q-network (default: the rate meta-training trained its Q-network from scratch with, --outer-lr).")
    var scratchQLR: Double?
    @Option(name: .customLong("memory"), help: "A meta-policy with memory (metasim train --algo rl2 or context) to evaluate beside, against episodes of experience (repeatable).")
    var memory: [String] = []
    @Option(help: "Episodes of experience to tabulate every method at, comma-separated (the largest at most --inner-steps × --episodes).")
    var experience = EvaluationReport.defaultExperiencePoints.map(String.init).joined(separator: ",")
    @Option(name: .customLong("memory-trials"), help: "Trials per task for each --memory policy (each as long as the largest --experience point + 1 episodes; as many again acting deterministically).")
    var memoryTrials = 10
    @Flag(name: .customLong("validation"), help: "Evaluate on validation tasks of the training range instead of held-out ones (from the top tenth of the range, skipping every given checkpoint's training tasks, as metasim tune does): to choose settings on, never to report.")
    var validation = false
    @Option(help: "Evaluation seed (episode seeds and scratch weights).") var seed: UInt64 = 0
    @Option(help: "Threads (tasks in parallel; results do not depend on it).") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Option(help: "Write the report as JSON to this file.") var json: String?
    @Option(help: "Write an SVG plot of return against adaptation steps (every method, 95% intervals, the oracle) to this file.")
    var plot: String?

    func run() throws {
        var definition = try catalog.definition(world)
        let specs = try worldSpecs(definition)
        let inner = try innerOptions.inner(defaultSteps: 3)
        let meta = try loadCheckpoint(policy, definition: definition, specs: specs)
        let worldHorizon = definition.episode.horizon
        definition = definition.withHorizon(innerOptions.horizon ?? meta.metadata.trainingHorizon)
        let points = memory.isEmpty ? [] : try experiencePoints(inner: inner)
        let memoryCheckpoints = try memory.map { ($0, try loadCheckpoint($0, definition: definition, specs: specs, recurrent: true)) }
        let memoryMethods = try memoryCheckpoints.map { path, m in
            guard m.policy.architecture.recurrent != nil else {
                throw CLIError("--memory \(path): not a memory-based policy (\(m.metadata.algorithm) is a feed-forward network: give it as --policy or --baseline)")
            }
            let trained = m.metadata.trainingHorizon ?? worldHorizon
            guard trained == definition.episode.horizon else {
                throw CLIError("--memory \(path): trained on episodes of \(trained) steps, the evaluation runs \(definition.episode.horizon) (give --horizon \(trained), or train both with the same --horizon)")
            }
            return Evaluator.Method(name: memory.count == 1 ? m.metadata.algorithm : URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent,
                                    policy: m.policy)
        }
        let (total, overflow) = blocks.multipliedReportingOverflow(by: tasks)
        guard blocks >= 1, tasks >= 1, !overflow, total <= TaskSeeds.evaluation.count else {
            throw ValidationError("need --tasks and --blocks >= 1, --tasks × --blocks at most \(TaskSeeds.evaluation.count)")
        }
        var methods = [Evaluator.Method(name: meta.metadata.algorithm, policy: meta.policy)]
        var tunedBaseline: Checkpoint?
        var loaded = [(policy, meta)] + memoryCheckpoints
        if let baseline {
            let b = try loadCheckpoint(baseline, definition: definition, specs: specs)
            loaded.append((baseline, b))
            let name = b.metadata.algorithm == meta.metadata.algorithm ? "baseline" : b.metadata.algorithm
            do {
                methods.append(try Evaluator.Method.baseline(b, name: name, sameRatesAs: sameRates ? meta.policy : nil))
            } catch {
                throw CLIError("--same-rates: \(baseline) and \(policy): \(error.description)")
            }
            // Tuned (metasim tune): it adapts at its own rates, not --inner-lr.
            if !sameRates, !b.policy.innerLearningRates.isEmpty { tunedBaseline = b }
        }
        var oraclePolicy: Policy?
        if let oracle {
            let o = try loadCheckpoint(oracle, definition: definition, specs: specs, oracle: true)
            loaded.append((oracle, o))
            guard o.policy.architecture.taskInputs?.isEmpty == false else {
                throw CLIError("\(oracle): not an oracle (it is not told the task: train one with --algo oracle)")
            }
            oraclePolicy = o.policy
        }
        // The from-scratch baseline is the meta-policy's learner's (meta-Q-learning: a fresh
        // Q-network at the rate that trained its own network from scratch, its outer rate).
        let scratch = AdaptationRunner(checkpoint: meta).learner.scratchBaseline(for: meta, learningRate: scratchQLR)
        let scratchQ = scratch.qLearning
        if !meta.policy.innerLearningRates.isEmpty {
            let rates = meta.policy.innerLearningRates.map { fmt($0, 4) }
            let which = meta.metadata.laterRateTuning.map { t in
                "inner learning rates \(rates.prefix(t.metaTrainedSteps).joined(separator: ", ")) (meta-learned), then \(rates.dropFirst(t.metaTrainedSteps).joined(separator: ", ")) (chosen on validation tasks: metasim tune)"
            } ?? "meta-learned inner learning rates \(rates.joined(separator: ", "))"
            print("\(methods[0].name) adapts with its \(which); \(sameRates ? "so do the baselines (--same-rates)" : tunedBaseline == nil ? "the others with --inner-lr" : "scratch with --inner-lr")")
        }
        if let b = tunedBaseline {
            let rates = b.policy.innerLearningRates.map { fmt($0, 4) }.joined(separator: ", ")
            let how = b.metadata.laterRateTuning.map { t in
                "chosen among \(t.candidates.map { fmt($0, 4) }.joined(separator: ", ")) on \(t.validationTaskSeeds.count) validation tasks from seed \(t.validationTaskSeeds.first.map(String.init) ?? "-"): metasim tune"
            } ?? "recorded in its checkpoint"
            print("\(methods[1].name) adapts with its tuned inner learning rates \(rates) (\(how)), not --inner-lr")
        }
        if meta.policy.architecture.contextCount > 0, meta.policy.innerRateScales.map(Double.init) == meta.policy.architecture.contextRateScales {
            print("\(methods[0].name) adapts its \(meta.policy.architecture.contextCount) context parameters alone (CAVIA)\(sameRates ? "; so do the baselines (--same-rates)" : "")")
        } else if !meta.policy.innerRateScales.isEmpty {
            print("\(methods[0].name) multiplies each parameter's inner rate by its meta-learned factor (\(rateScaleSummary(meta.policy.innerRateScales)))\(sameRates ? "; so do the baselines (--same-rates)" : "")")
        }
        let rule = meta.policy.qLearning.map { q in
            "Q-learning (\(q.updates) updates of \(q.batchSize) transitions per step, Adam lr \(q.learningRate), ε \(q.epsilon), target every \(q.targetPeriod))"
        } ?? "inner lr \(inner.learningRate)"
        if let q = scratchQ, !noScratch { print("scratch: a fresh Q-network with the same budget, Adam lr \(q.learningRate)") }
        // The validation range is the training range's top tenth (less the training tasks).
        guard !validation || total <= 1_000_000 else { throw ValidationError("--validation: at most 1000000 tasks (--tasks × --blocks)") }
        let validationSeeds = validation ? try validationTaskSeeds(count: total, checkpoints: loaded, definition: definition) : []
        if validation { print("VALIDATION tasks of the training range (--validation): for choosing settings, not for reporting results") }
        var reports: [EvaluationReport] = []
        for block in 0..<blocks {
            let seeds = validation ? Array(validationSeeds[(block * tasks)..<((block + 1) * tasks)])
                : (0..<tasks).map { firstTaskSeed &+ UInt64(block * tasks + $0) }
            var report: EvaluationReport
            do {
                let evaluator = validation
                    ? try Evaluator(definition: definition, inner: inner, validationTaskSeeds: seeds, seed: seed, threads: threads)
                    : try Evaluator(definition: definition, inner: inner, taskSeeds: seeds, seed: seed, threads: threads)
                let clock = ContinuousClock.now
                report = try evaluator.run(methods: methods, scratch: noScratch ? nil : scratch.architecture,
                                           scratchLearningRates: sameRates ? meta.policy.innerLearningRates : [],
                                           scratchRateScales: sameRates ? meta.policy.innerRateScales : [],
                                           scratchQLearning: scratchQ,
                                           oracle: oraclePolicy)
                if !memoryMethods.isEmpty {
                    let m = try evaluator.runMemory(methods: memoryMethods, maxExperience: points.max() ?? 0, trials: memoryTrials)
                    report.memory = m.sampled
                    report.memoryDeterministic = m.deterministic
                    report.memoryTrials = memoryTrials
                    report.experiencePoints = points
                }
                let d = ContinuousClock.now - clock
                FileHandle.standardError.write(Data("evaluated in \(d.components.seconds) s\n".utf8))
            } catch let e as EvaluationError {
                throw CLIError(e.description)
            } catch let e as WorldError {
                throw CLIError(e.description)
            }
            // A trained oracle: the gap and, per method and step, the tasks that beat it.
            if oraclePolicy != nil { report = report.withOracleSummary(reference: methods.count > 1 ? methods[1].name : nil) }
            if blocks > 1 { print("\n=== block \(block + 1) of \(blocks) ===") }
            print("\(definition.name): \(tasks) held-out tasks (seeds \(seeds.first!)…\(seeds.last!)), \(inner.steps) inner steps × \(inner.episodes) episodes of up to \(definition.episode.horizon) steps, \(rule)")
            for deterministic in [false, true] {
                let q = meta.policy.qLearning != nil
                print(deterministic
                      ? "\nacting deterministically (\(q ? "greedy" : "mean") action) with θ_k, on \(inner.episodes) separate episodes:"
                      : q ? "\nε-greedy episodes with θ_k (the data of step k + 1):" : "\nsampled episodes with θ_k (MAML's protocol; the data of step k + 1):")
                printResults(report, methods: methods.map(\.name), deterministic: deterministic)
                if report.memory != nil { printExperience(report, points: points, reference: methods.count > 1 ? methods[1].name : nil, deterministic: deterministic) }
            }
            print("one inner step (\(inner.episodes) episodes + gradient + update, 1 thread): median \(fmt(report.innerStepSecondsMedian * 1000, 1)) ms")
            if let plot {
                let file = blocks == 1 ? plot : Self.blockFile(plot, block: block + 1)
                do { try AtomicFile.write(Self.plot(report).render(), to: file) } catch { throw CLIError("\(file): \(error)") }
                print("wrote \(file)")
            }
            reports.append(report)
        }
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            do {
                let data = blocks == 1 ? try e.encode(reports[0]) : try e.encode(reports)
                try AtomicFile.write(Array(data), to: json)
            } catch { throw CLIError("\(error)") }
        }
    }

    /// `count` validation tasks (`--validation`): from the top tenth of the training range, none
    /// of them a task any of `checkpoints` trained on (`LaterRateTuner.validationTaskSeeds`).
    func validationTaskSeeds(count: Int, checkpoints: [(path: String, checkpoint: Checkpoint)], definition: WorldDefinition) throws -> [UInt64] {
        var training = Set<UInt64>()
        for (path, c) in checkpoints {
            guard let config = c.metadata.trainingConfig else {
                throw CLIError("--validation: \(path): no training configuration recorded: its training tasks are unknown")
            }
            do { training.formUnion(try LaterRateTuner.trainingTaskSeeds(definition: definition, config: config)) } catch { throw CLIError(error.description) }
        }
        return LaterRateTuner.validationTaskSeeds(count: count, excluding: training)
    }

    /// `--experience`, checked: distinct non-negative counts, ascending, covered by the gradient
    /// methods' inner steps (one step = `inner.episodes` episodes).
    func experiencePoints(inner: InnerLoop) throws -> [Int] {
        let (product, overflow) = inner.steps.multipliedReportingOverflow(by: inner.episodes)
        let covered = overflow ? Int.max : product
        let parts = experience.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var points: [Int] = []
        for p in parts {
            guard let v = Int(p), v >= 0 else { throw ValidationError("--experience: '\(p)' is not a count of episodes (expected e.g. 0,1,2,3,5,10,20,60)") }
            // A memory policy's trials run the largest point + 1 episodes each.
            guard v <= 1000 else { throw ValidationError("--experience: \(v) episodes is more than the 1000 a trial may hold") }
            guard v <= covered else {
                throw ValidationError("--experience: \(v) episodes is beyond the \(inner.steps) inner steps × \(inner.episodes) episodes (\(covered)) the gradient methods are evaluated for")
            }
            points.append(v)
        }
        guard !points.isEmpty, points == Array(Set(points)).sorted() else { throw ValidationError("--experience: give distinct counts in increasing order") }
        guard (1...1000).contains(memoryTrials) else { throw ValidationError("--memory-trials: \(memoryTrials) is not in 1...1000") }
        return points
    }

    /// Every method against episodes of experience: returns, the share of the gap closed, and
    /// each memory method minus the meta-policy, paired per task.
    func printExperience(_ report: EvaluationReport, points: [Int], reference: String?, deterministic: Bool) {
        let names = report.experienceMethods(points: points, deterministic: deterministic)
        print("\nagainst episodes of experience of the task (\(deterministic ? "deterministic" : "sampled"); one inner step = \(report.inner.episodes) episodes; memory policies: \(report.memoryTrials ?? 0) trials per task, state carried across a trial's episodes):")
        let ci: (Interval) -> String = { "\(fmt($0.mean)) [\(fmt($0.low)), \(fmt($0.high))]" }
        var table = TextTable(["method"] + points.map { "after \($0) ep." })
        for n in names {
            guard let r = report.byExperience(method: n, points: points, deterministic: deterministic) else { continue }
            table.add([n] + r.map(ci))
        }
        if let o = report.oracle(deterministic: deterministic) { table.add(["oracle"] + points.map { _ in ci(o.returns[0]) }) }
        print(table.render(), terminator: "")
        if let reference {
            var gap = TextTable(["gap closed vs \(reference) before adapting"] + points.map { "after \($0) ep." })
            for n in names {
                guard let g = report.gapClosedByExperience(method: n, reference: reference, points: points, deterministic: deterministic) else { continue }
                gap.add([n] + g.map { "\(fmt($0.mean * 100, 1))% [\(fmt($0.low * 100, 1)), \(fmt($0.high * 100, 1))]" })
            }
            if !gap.rows.isEmpty { print(gap.render(), terminator: "") }
        }
        let meta = (deterministic ? report.deterministic : report.methods).first
        for m in (deterministic ? report.memoryDeterministic : report.memory) ?? [] {
            for other in [meta?.name, reference].compactMap({ $0 }) {
                if let d = report.pairedByExperience(method: m.name, other: other, points: points, deterministic: deterministic) {
                    print("  \(m.name) − \(other) per task (paired): \(zip(points, d).map { "\($0): \(ci($1))" }.joined(separator: ", "))")
                }
            }
            // Against the meta-policy fully adapted: after all its inner steps.
            if let meta, let d = report.pairedAgainstAdapted(memory: m.name, method: meta.name, points: points, deterministic: deterministic) {
                let steps = report.inner.steps
                print("  \(m.name) after e episodes − \(meta.name) after \(steps) steps (\(steps * report.inner.episodes) episodes), per task (paired): \(zip(points, d).map { "\($0): \(ci($1))" }.joined(separator: ", "))")
            }
        }
    }

    /// `FILE.svg` of block b (of several): `FILE-block<b>.svg`.
    static func blockFile(_ path: String, block: Int) -> String {
        let url = URL(fileURLWithPath: path)
        let ext = url.pathExtension
        let base = ext.isEmpty ? path : String(path.dropLast(ext.count + 1))
        return base + "-block\(block)" + (ext.isEmpty ? "" : "." + ext)
    }

    /// The report as two panels (sampled and deterministic episodes), a curve per method.
    static func plot(_ report: EvaluationReport) -> AdaptationPlot {
        func curves(_ results: [EvaluationReport.MethodResult]) -> [AdaptationPlot.Curve] {
            results.map { AdaptationPlot.Curve(label: $0.name, mean: $0.returns.map(\.mean), low: $0.returns.map(\.low), high: $0.returns.map(\.high)) }
        }
        func levels(_ deterministic: Bool) -> [(label: String, value: Double)] {
            report.oracle(deterministic: deterministic).map { [(label: "oracle", value: $0.returns[0].mean)] } ?? []
        }
        let title = "\(report.world): mean return over \(report.taskSeeds.count) held-out tasks (95% interval), \(report.inner.episodes) episodes per step"
        var panels: [AdaptationPlot.Panel] = [
            .init(title: report.qLearning == nil ? "episodes sampled with θ_k (MAML's protocol)" : "ε-greedy episodes with θ_k",
                  curves: curves(report.methods), levels: levels(false)),
            .init(title: report.qLearning == nil ? "deterministic episodes with θ_k (mean action)" : "greedy episodes with θ_k",
                  curves: curves(report.deterministic), levels: levels(true)),
        ]
        // With memory policies: every method against episodes of experience (one inner step =
        // `inner.episodes` episodes), sampled and deterministic.
        if let points = report.experiencePoints, report.memory != nil {
            for deterministic in [false, true] {
                let c = report.experienceMethods(points: points, deterministic: deterministic).compactMap { n in
                    report.byExperience(method: n, points: points, deterministic: deterministic).map {
                        AdaptationPlot.Curve(label: n, mean: $0.map(\.mean), low: $0.map(\.low), high: $0.map(\.high))
                    }
                }
                panels.append(.init(title: "against episodes of experience (\(deterministic ? "deterministic" : "sampled"); an inner step = \(report.inner.episodes) episodes)",
                                    curves: c, levels: levels(deterministic), xLabels: points.map(String.init), xTitle: "episodes of experience of the task"))
            }
        }
        return AdaptationPlot(title: title, panels: panels)
    }

    func printResults(_ report: EvaluationReport, methods: [String], deterministic: Bool) {
        let steps = report.inner.steps
        let results = deterministic ? report.deterministic : report.methods
        var header = ["method"]
        for k in 0...steps { header.append("return after \(k) (95% CI)") }
        var table = TextTable(header)
        let ci: (Interval) -> String = { "\(fmt($0.mean)) [\(fmt($0.low)), \(fmt($0.high))]" }
        for m in results { table.add([m.name] + m.returns.map(ci)) }
        if let o = report.oracle(deterministic: deterministic) { table.add(["oracle"] + (0...steps).map { _ in ci(o.returns[0]) }) }
        print(table.render(), terminator: "")
        if report.oracle != nil, methods.count > 1, let size = report.oracleGap(reference: methods[1], deterministic: deterministic) {
            let reference = methods[1]
            print("gap: oracle − \(reference) before adaptation (per task, 95% CI): \(ci(size))\(size.low > 0 ? "" : "  (not above 0: no measurable gap)")")
            // gapClosed is nil when that gap is not measurably above 0.
            let closed = results.compactMap { m in report.gapClosed(method: m.name, reference: reference, deterministic: deterministic).map { (m.name, $0) } }
            if closed.isEmpty {
                print("gap closed: no measurable gap to close (the oracle's 95% interval over \(reference) is not above 0)")
            } else {
                var gap = TextTable(["gap closed vs \(reference) at step 0"] + (0...steps).map { "after \($0) (95% CI)" })
                for (name, g) in closed {
                    gap.add([name] + g.map { "\(fmt($0.mean * 100, 1))% [\(fmt($0.low * 100, 1)), \(fmt($0.high * 100, 1))]" })
                }
                print(gap.render(), terminator: "")
            }
        }
        if report.oracleSummary != nil {
            // Trained oracle: on how many tasks each method's return is above the oracle's.
            var beat = TextTable(["tasks above the oracle"] + (0...steps).map { "after \($0)" })
            for m in results {
                guard let b = report.beatingOracle(method: m.name, deterministic: deterministic) else { continue }
                beat.add([m.name] + zip(b.count, b.share).map { "\($0)/\(b.tasks) (\(fmt($1 * 100, 0))%)" })
            }
            print(beat.render(), terminator: "")
        }
        let first = results[0]
        for other in results.dropFirst() {
            let wins = (0...steps).map { first.returns[$0].above(other.returns[$0]) ? "yes" : "no" }
            print("\(first.name) interval above \(other.name) at steps 0…\(steps): \(wins.joined(separator: " "))")
            if let d = report.pairedDifference(method: first.name, other: other.name, deterministic: deterministic) {
                print("  \(first.name) − \(other.name) per task (paired): \(d.map(ci).joined(separator: ", "))")
            }
        }
    }
}
