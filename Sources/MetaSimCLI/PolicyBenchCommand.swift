import ArgumentParser
import Foundation
import MetaLearning
import MetaSimClient
import MetaSimCore
import MetaSimProtocol

/// The meta-policy daemon's benchmark: adapt latency (request to final response) at the default
/// budget, and act throughput over the socket, next to the same work done in process.
struct PolicyBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-policy",
        abstract: "Benchmark adapt latency and act throughput of a private metasimd, against the same work in process.",
        discussion: """
            Adapt: the default budget (3 inner steps of 20 episodes) on held-out tasks of point-nav \
            and lunar-lander, with the shipped meta-policies (episodes of the world file's length, \
            as a daemon session has them). Act: deterministic actions for batches of 1 and 64 \
            observations; then batch 1 with the policies with memory at their default sizes on \
            point-nav (rl2: a GRU of 64 units; context: an encoder and a policy 64 wide, a latent \
            vector of 8), their parameters drawn at random (the cost does not depend on them), \
            and their cost over the feed-forward policy's.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Folder holding point-nav.safetensors and lunar-lander.safetensors (default: as metasim demo).") var policies: String?
    @Option(help: "The metasimd binary (default: next to this one).") var daemon: String?
    @Option(help: "Adaptations per world (the median is reported).") var repeats = 5
    @Option(help: "Seconds of act requests per batch size.") var seconds = 2.0
    @Flag(help: "Print JSON.") var json = false
    @Flag(name: .customLong("act-only"), help: "Only the act rows (no adaptations).") var actOnly = false

    struct Row: Codable {
        var name: String
        var daemon: Double
        var inProcess: Double
        var unit: String
    }

    func run() throws {
        guard let root = catalog.root else { throw CLIError("no worlds folder found (give --worlds DIR)") }
        let source = try DemoCommand.policiesFolder(policies)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("metasim-bench-policies-\(getpid())").path
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let worlds = ["point-nav", "lunar-lander"]
        for w in worlds {
            try FileManager.default.copyItem(atPath: source + "/\(w).safetensors", toPath: folder + "/\(w).safetensors")
        }

        let memory: [(name: String, label: String, checkpoint: Checkpoint)] = [
            ("point-nav-rl2", "rl2 (GRU 64)", try Self.recurrentCheckpoint(try catalog.definition("point-nav"), hidden: 64)),
            ("point-nav-context", "context (64, latent 8)",
             try Self.recurrentCheckpoint(try catalog.definition("point-nav"), hidden: 64, latent: ContextLearner.defaultLatentSize)),
        ]
        for m in memory {
            do { try m.checkpoint.write(to: folder + "/\(m.name).safetensors") } catch { throw CLIError(error.description) }
        }
        let server = try PrivateDaemon(binary: daemon, worlds: root, policies: folder)
        let c = try server.connect("metasim-bench-policy")
        var rows: [Row] = []
        for world in worlds where !actOnly {
            let d = try catalog.definition(world)
            var remote: [Double] = [], local: [Double] = []
            let checkpoint: Checkpoint
            do { checkpoint = try Checkpoint.load(path: folder + "/\(world).safetensors") } catch { throw CLIError(error.description) }
            for k in 0..<repeats {
                let task = TaskSeeds.evaluation.lowerBound + UInt64(k)
                do {
                    let s = try c.open(OpenRequest(world: world, taskSeed: task))
                    let clock = ContinuousClock.now
                    _ = try s.adapt(policy: world, steps: 3, episodes: 20, seed: UInt64(k))
                    remote.append(clock.secondsAgo)
                    try s.close()
                    let program = try WorldProgram(definition: d, task: d.sampleTask(seed: task))
                    let start = ContinuousClock.now
                    _ = try checkpoint.policy.adapted(to: program, inner: InnerLoop(steps: 3, episodes: 20, learningRate: 0.1), seed: UInt64(k))
                    local.append(start.secondsAgo)
                } catch { throw CLIError("\(world): \(error)") }
            }
            rows.append(Row(name: "adapt \(world) (3 × 20 episodes), median of \(repeats)", daemon: median(remote) * 1000,
                            inProcess: median(local) * 1000, unit: "ms"))
        }
        let checkpoint: Checkpoint
        do { checkpoint = try Checkpoint.load(path: folder + "/point-nav.safetensors") } catch { throw CLIError(error.description) }
        for batch in [1, 64] {
            var rng = SeededGenerator(seed: 1)
            let obs = (0..<(batch * 2)).map { _ in Float.random(in: -1...1, using: &rng) }
            let remote: Double
            do {
                let s = try c.open(OpenRequest(world: "point-nav"))
                _ = try s.adapt(policy: "point-nav", steps: 0)
                remote = try rate(observations: batch) { () throws(ClientError) in _ = try c.act(session: s.id, observations: obs) }
                try s.close()
            } catch { throw CLIError("act: \(error)") }
            let policy = checkpoint.policy
            var prng = SeededGenerator(seed: 0)
            let local = try rate(observations: batch) { () throws(ClientError) in
                _ = policy.act(observations: obs, count: batch, deterministic: true, rng: &prng)
            }
            rows.append(Row(name: "act point-nav, batch \(batch)", daemon: remote, inProcess: local, unit: "observations/s"))
        }
        // The policies with memory: one row per instance, its state stepped at each act.
        for m in memory {
            do {
                var rng = SeededGenerator(seed: 1)
                let obs = (0..<2).map { _ in Float.random(in: -1...1, using: &rng) }
                let s = try c.open(OpenRequest(world: "point-nav"))
                _ = try s.adapt(policy: m.name, steps: 0)
                let remote = try rate(observations: 1) { () throws(ClientError) in _ = try c.act(session: s.id, observations: obs) }
                try s.close()
                let p = m.checkpoint.policy
                var actor = RecurrentActor(math: RecurrentMath(architecture: p.architecture, normalizer: p.normalizer), rows: 1)
                let params = p.parameters.map { Double($0) }
                var prng = SeededGenerator(seed: 0)
                var sink = 0.0
                let local = try rate(observations: 1) { () throws(ClientError) in
                    actor.act(params, deterministic: true, rng: &prng, observation: { _, k in Double(obs[k]) }) { _, _, v in sink += v }
                }
                withExtendedLifetime(sink) {}
                rows.append(Row(name: "act point-nav, batch 1, \(m.label)", daemon: remote, inProcess: local, unit: "observations/s"))
            } catch { throw CLIError("act (\(m.label)): \(error)") }
        }
        try server.stop()
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(rows), as: UTF8.self))
            return
        }
        var table = TextTable(["case", "metasimd (socket)", "in process", "unit", "daemon / in process"])
        for r in rows {
            table.add([r.name, fmt(r.daemon, 1), fmt(r.inProcess, 1), r.unit, fmt(r.daemon / r.inProcess, 2)])
        }
        print(table.render(), terminator: "")
        if let mlp = rows.first(where: { $0.name == "act point-nav, batch 1" }) {
            for m in memory {
                guard let row = rows.first(where: { $0.name.hasSuffix(m.label) }) else { continue }
                print("act batch 1 over the socket, \(m.label) cost / MLP cost: \(fmt(mlp.daemon / row.daemon, 2))"
                      + " (in process: \(fmt(mlp.inProcess / row.inProcess, 2)))")
            }
        }
    }

    /// A recurrent (rl2) checkpoint for `definition` (with `latent`, a context one) with random
    /// parameters (acting costs the same whatever they are) and observation normalization on.
    static func recurrentCheckpoint(_ definition: WorldDefinition, hidden: Int, latent: Int? = nil) throws -> Checkpoint {
        let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
        let base = PolicyArchitecture(specs: specs, hidden: [])
        let architecture = latent.map { PolicyArchitecture.context(base, hiddenSize: hidden, latentSize: $0) } ?? .recurrent(base, hiddenSize: hidden)
        let algorithm: MetaAlgorithm = latent == nil ? .rl2 : .context
        let config = MetaTrainingConfig(algorithm: algorithm, hidden: [hidden], recurrent: RecurrentTraining(latentSize: latent))
        return Checkpoint(policy: Policy(architecture: architecture, seed: 1, normalizeObservations: true),
                          metadata: CheckpointMetadata(definition: definition, specs: specs, algorithm: algorithm.rawValue,
                                                       hyperparameters: RecurrentLearner().hyperparameters(config),
                                                       trainingSeed: 0, metasimVersion: MetaSimVersion.string))
    }

    /// Calls `body` for `seconds` (after a short warm-up); observations handled per second.
    func rate(observations: Int, _ body: () throws(ClientError) -> Void) throws(ClientError) -> Double {
        for _ in 0..<50 { try body() }
        let start = ContinuousClock.now
        var n = 0
        while true {
            for _ in 0..<64 { try body() }
            n += 64
            let t = start.secondsAgo
            if t >= seconds { return Double(n * observations) / t }
        }
    }

    func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
    }
}
