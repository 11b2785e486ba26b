import ArgumentParser
import Foundation
import MetaSimCore

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run episodes headless and print a summary table.",
        discussion: """
            Episode k uses episode seed SEED + k. With --catalog, every catalog world runs its \
            nominal task (or --task-seed). --output writes one JSON line per episode (atomically).
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var taskOptions: TaskOptions
    @Option(help: "World name (from the catalog) or path to a world file.") var world: String?
    @Flag(help: "Run every world of the catalog.") var all = false
    @Option(help: "Episodes per world.") var episodes = 10
    @Option(help: "First episode seed (and the policy's seed).") var seed: UInt64 = 0
    @Option(help: "Baseline policy: random or zero.") var policy: BaselinePolicy.Kind = .random
    @Option(help: "Write one JSON line per episode to this file.") var output: String?

    func validate() throws {
        if (world == nil) == !all { throw ValidationError("give --world NAME|PATH or --all") }
        if episodes < 1 { throw ValidationError("--episodes must be at least 1") }
    }

    struct EpisodeRecord: Encodable {
        let world: String
        let task_seed: UInt64?
        let episode_seed: UInt64
        let `return`: Double
        let length: Int
        let reason: String
    }

    func run() throws {
        var definitions: [WorldDefinition] = []
        if let world {
            definitions = [try catalog.definition(world)]
        } else {
            guard let root = catalog.root else { throw CLIError("error: no worlds folder found (use --worlds DIR)") }
            let c = WorldCatalog(root: root)
            for f in c.failures { FileHandle.standardError.write(Data((f.error.description + "\n").utf8)) }
            if !c.failures.isEmpty { throw ExitCode(1) }
            definitions = c.entries.map(\.definition)
        }
        var table = TextTable(["world", "episodes", "mean return", "std", "min", "max", "mean length", "ends"])
        var records: [EpisodeRecord] = []
        for d in definitions {
            let task = try taskOptions.task(for: d)
            let world: World
            do { world = try World(definition: d, task: task) } catch { throw CLIError(error.description) }
            var pi = BaselinePolicy(policy, specs: world.specs, seed: seed)
            var runner = EpisodeRunner(world: world)
            var returns: [Double] = [], lengths: [Int] = []
            var ends: [String: Int] = [:]
            for k in 0..<episodes {
                let o = runner.run(seed: seed &+ UInt64(k), policy: &pi)
                returns.append(o.episodeReturn)
                lengths.append(o.length)
                ends[o.end, default: 0] += 1
                records.append(EpisodeRecord(world: d.name, task_seed: task.seed, episode_seed: o.seed,
                                             return: o.episodeReturn, length: o.length, reason: o.end))
            }
            let s = Summary(returns)
            table.add([d.name, "\(episodes)", fmt(s.mean), fmt(s.std), fmt(s.min), fmt(s.max),
                       fmt(Double(lengths.reduce(0, +)) / Double(lengths.count)),
                       ends.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")])
        }
        print(table.render(), terminator: "")
        if let output {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var text = ""
            for r in records { text += String(decoding: try encoder.encode(r), as: UTF8.self) + "\n" }
            do { try AtomicFile.write(text, to: output) } catch { throw CLIError(error.description) }
        }
    }
}

/// Mean, sample standard deviation, extremes.
struct Summary {
    let mean: Double, std: Double, min: Double, max: Double
    init(_ xs: [Double]) {
        let n = Double(xs.count)
        let m = xs.reduce(0, +) / n
        mean = m
        std = xs.count > 1 ? (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / (n - 1)).squareRoot() : 0
        min = xs.min() ?? 0
        max = xs.max() ?? 0
    }
}

func fmt(_ v: Double, _ digits: Int = 2) -> String {
    String(format: "%.\(digits)f", v)
}

extension BaselinePolicy.Kind: ExpressibleByArgument {}
