import ArgumentParser
import Foundation
import MetaSimBatch

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Run a batch spec (worlds × tasks × grid × policies) headless, in parallel, crash safe.",
        discussion: """
            Writes DIR/episodes.jsonl (one line per episode), DIR/summary.csv (one row per unit) and \
            prints a summary table. Results are identical for any --jobs and any sharding. After a \
            crash or kill, rerun with --resume to finish. Without --shard, the shard comes from \
            SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX with --shard-count \
            (Kubernetes Indexed Jobs). Join shard folders with `metasim merge`. See docs/batch.md.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Argument(help: "The batch spec (YAML).") var spec: String
    @Option(help: "Output folder.") var output: String
    @Option(help: "Units run in parallel (default: the number of cores).") var jobs: Int?
    @Option(help: "Run shard I of N (0 <= I < N): the units whose index is I modulo N.") var shard: String?
    @Option(name: .customLong("shard-count"), help: "Shard count for $JOB_COMPLETION_INDEX (the Indexed Job's completions).") var shardCount: Int?
    @Flag(help: "Finish the batch already in the output folder (skips the units it holds).") var resume = false
    @Option(help: "Progress: auto (a bar on a terminal, plain lines otherwise), bar, lines, or none.") var progress: ProgressStyle = .auto
    @Option(name: .customLong("progress-interval"), help: "Seconds between plain progress lines.") var progressInterval = 10.0

    enum ProgressStyle: String, ExpressibleByArgument, CaseIterable { case auto, bar, lines, none }

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if progressInterval <= 0 { throw ValidationError("--progress-interval must be positive") }
    }

    func run() throws {
        do {
            let shard = try resolveShard()
            let batchSpec = try BatchSpec.load(contentsOfFile: spec)
            let plan = try BatchPlan(spec: batchSpec, worldsRoot: catalog.root)
            let jobs = jobs ?? ProcessInfo.processInfo.activeProcessorCount
            // Every checkpoint is loaded and checked against its worlds once, before anything runs.
            let runner = try BatchRunner(plan: plan, folder: output, shard: shard, jobs: jobs)
            for warning in runner.checkpoints.warnings { note(warning) }
            var style = progress
            if style == .auto { style = isatty(STDERR_FILENO) != 0 ? .bar : .lines }
            let shardText = shard == .all ? "" : ", shard \(shard)"
            note("batch '\(batchSpec.name)': \(plan.units.count) units\(shardText), \(jobs) job\(jobs == 1 ? "" : "s")")
            let results = try runner.run(resume: resume, interval: style == .bar ? 0.2 : progressInterval) { p in
                switch style {
                case .bar: ProgressLine.bar(p)
                case .lines: if !p.finished || p.episodesThisRun > 0 { ProgressLine.line(p) }
                case .none, .auto: break
                }
            }
            print(BatchTable.render(results), terminator: "")
            print("wrote \(output)/\(BatchOutput.episodesFile) and \(output)/\(BatchOutput.summaryFile) (\(results.count) units)")
        } catch {
            throw CLIError(error.description)
        }
    }

    private func resolveShard() throws(BatchError) -> Shard {
        if let shard { return try Shard(parsing: shard) }
        if let s = try Shard.fromEnvironment(ProcessInfo.processInfo.environment, count: shardCount) { return s }
        if shardCount != nil {
            throw BatchError.shard("--shard-count needs $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID (or give --shard I/N)")
        }
        return .all
    }

    private func note(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}

/// Progress on standard error: a redrawn bar on a terminal, plain lines otherwise.
enum ProgressLine {
    static func bar(_ p: BatchRunner.Progress) {
        let width = 30
        let fraction = p.totalEpisodes > 0 ? Double(p.doneEpisodes) / Double(p.totalEpisodes) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        var s = "\r[\(bar)] \(p.doneUnits)/\(p.totalUnits) units  \(p.doneEpisodes)/\(p.totalEpisodes) episodes  \(fmt(p.episodesPerSecond, 1)) ep/s  ETA \(eta(p))\u{1B}[K"
        if p.finished { s += "\n" }
        FileHandle.standardError.write(Data(s.utf8))
    }

    static func line(_ p: BatchRunner.Progress) {
        let percent = p.totalEpisodes > 0 ? 100 * Double(p.doneEpisodes) / Double(p.totalEpisodes) : 100
        let s = "progress: \(p.doneUnits)/\(p.totalUnits) units, \(p.doneEpisodes)/\(p.totalEpisodes) episodes (\(fmt(percent, 1)) %), \(fmt(p.episodesPerSecond, 1)) episodes/s, ETA \(eta(p))\n"
        FileHandle.standardError.write(Data(s.utf8))
    }

    static func eta(_ p: BatchRunner.Progress) -> String {
        if p.finished || p.doneEpisodes == p.totalEpisodes { return "0:00" }
        guard let e = p.eta, e.isFinite else { return "--:--" }
        let s = Int(e.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
