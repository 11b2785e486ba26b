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
            consecutive seeds and reports each.
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
        definition = definition.withHorizon(innerOptions.horizon ?? meta.metadata.trainingHorizon)
        let (total, overflow) = blocks.multipliedReportingOverflow(by: tasks)
        guard blocks >= 1, tasks >= 1, !overflow, total <= TaskSeeds.evaluation.count else {
            throw ValidationError("need --tasks and --blocks >= 1, --tasks × --blocks at most \(TaskSeeds.evaluation.count)")
        }
        var methods = [Evaluator.Method(name: meta.metadata.algorithm, policy: meta.policy)]
        var tunedBaseline: Checkpoint?
        if let baseline {
            let b = try loadCheckpoint(baseline, definition: definition, specs: specs)
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
        var reports: [EvaluationReport] = []
        for block in 0..<blocks {
            let seeds = (0..<tasks).map { firstTaskSeed &+ UInt64(block * tasks + $0) }
            var report: EvaluationReport
            do {
                let evaluator = try Evaluator(definition: definition, inner: inner, taskSeeds: seeds, seed: seed, threads: threads)
                let clock = ContinuousClock.now
                report = try evaluator.run(methods: methods, scratch: noScratch ? nil : scratch.architecture,
                                           scratchLearningRates: sameRates ? meta.policy.innerLearningRates : [],
                                           scratchRateScales: sameRates ? meta.policy.innerRateScales : [],
                                           scratchQLearning: scratchQ,
                                           oracle: oraclePolicy)
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
        return AdaptationPlot(title: title, panels: [
            .init(title: report.qLearning == nil ? "episodes sampled with θ_k (MAML's protocol)" : "ε-greedy episodes with θ_k",
                  curves: curves(report.methods), levels: levels(false)),
            .init(title: report.qLearning == nil ? "deterministic episodes with θ_k (mean action)" : "greedy episodes with θ_k",
                  curves: curves(report.deterministic), levels: levels(true)),
        ])
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
