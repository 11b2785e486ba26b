import ArgumentParser
import Foundation
import MetaLearning
import MetaSimClient
import MetaSimCore
import MetaSimProtocol

/// The end-to-end demo (`make run`): a private metasimd, the shipped checkpoints, held-out worlds
/// of two families adapted to over the real protocol, a table of returns and an SVG.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start metasimd privately, adapt the shipped meta-policies to held-out worlds over the socket, and report.",
        discussion: """
            For each family (default: every family with both a meta-policy NAME.safetensors and its \
            NAME-multitask.safetensors baseline in the policies folder), opens held-out tasks, takes \
            the meta-policy and the multi-task baseline, adapts each by one inner step at a time \
            (20 episodes a step, the default budget of 3 steps), and scores every step with \
            deterministic episodes the daemon runs (run_episodes). Then says what each family \
            shows, from its shipped evaluation (NAME-evaluation.json): a family whose oracle, told \
            the task, leads the multi-task policy is one where adapting can pay; one without a \
            measurable gap is a control. A family with a meta-policy with memory, NAME-rl2 (a GRU \
            whose state, carried across the episodes of a task, is what adapts) or NAME-context (an \
            encoder pooling the transitions seen of the task into a vector the policy reads), gets \
            a row in a second table: its return after 0, 1 and 2 episodes of experience of each task, beside the \
            meta-policy's after one inner step. Writes an SVG of one adapted episode, replayed in \
            process from the actions the daemon streamed.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Folder of checkpoints (default: $METASIM_POLICIES, ./policies, or the installed ones).") var policies: String?
    @Option(help: "The metasimd binary (default: next to this one).") var daemon: String?
    @Option(help: "Families to demonstrate, comma-separated (default: every family with a meta-policy and a baseline).")
    var families: String?
    @Option(help: "Held-out tasks per family.") var tasks = 10
    @Option(name: .customLong("episodes"), help: "Episodes per inner step and per evaluation.") var episodes = 20
    @Option(help: "Inner steps.") var steps = 3
    @Option(help: "Where to write the SVG of one adapted episode.") var svg = "demo-episode.svg"

    func run() throws {
        let started = ContinuousClock.now
        guard let root = catalog.root else { throw CLIError("no worlds folder found (give --worlds DIR)") }
        let policiesFolder = try Self.policiesFolder(policies)
        let names = try chosenFamilies(policiesFolder)
        let server = try PrivateDaemon(binary: daemon, worlds: root, policies: policiesFolder)
        print("Starting metasimd on \(server.socket) (worlds \(root), policies \(policiesFolder))")
        let c = try server.connect("metasim-demo")
        print("Connected: \(c.hello.server), protocol \(c.hello.protocol)\n")

        // A policy trained with `--horizon` is scored on episodes of that length (the session's
        // `horizon`), as its figures in docs/meta-learning.md were.
        let served = Dictionary(try c.listPolicies().policies.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var rows: [(family: String, policy: String, intervals: [Interval], seconds: Double)] = []
        var svgFamily: String?
        for family in names {
            for policy in [family, family + "-multitask"] {
                let clock = ContinuousClock.now
                var perStep = [[Double]](repeating: [], count: steps + 1)
                for k in 0..<tasks {
                    let returns = try adaptAndScore(c, world: family, policy: policy, horizon: served[policy]?.trainingHorizon,
                                                    taskSeed: TaskSeeds.evaluation.lowerBound + UInt64(k))
                    for (s, r) in returns.enumerated() { perStep[s].append(r) }
                }
                rows.append((family, policy == family ? "meta-policy (\(served[policy]?.algorithm ?? "?"))" : "multi-task, fine-tuned",
                             perStep.map { Interval(samples: $0) }, clock.secondsAgo))
            }
            if svgFamily == nil || (try? catalog.definition(family).kind) == .driving { svgFamily = family }
        }

        print("Mean return over \(tasks) held-out tasks (95% interval), \(episodes) deterministic episodes each, after each inner step of \(episodes) episodes:\n")
        var table = TextTable(["family", "policy"] + (0...steps).map { $0 == 0 ? "before" : "step \($0)" } + ["time (s)"])
        for r in rows {
            table.add([r.family, r.policy] + r.intervals.map { "\(fmt($0.mean, 1)) [\(fmt($0.low, 1)), \(fmt($0.high, 1))]" } + [fmt(r.seconds, 1)])
        }
        print(table.render())
        try printMemoryPolicies(c, families: names, served: served, metaRows: rows.filter { $0.policy.hasPrefix("meta-policy") })
        for family in names {
            if let h = served[family]?.trainingHorizon { print("\(family): episodes of \(h) steps, the horizon its policies were trained with.") }
        }
        print()
        print("What each family shows (the gap an oracle told the task opens over the multi-task policy, from the shipped NAME-evaluation.json of `make evaluate`):")
        for family in names { print("  \(family): \(Self.role(family, policies: policiesFolder))") }
        print()

        if let family = svgFamily {
            try writeEpisode(c, world: family, horizon: served[family]?.trainingHorizon)
        }
        try server.stop()  // SIGTERM: the daemon drains and exits 0
        print("metasimd stopped cleanly. Demo took \(fmt(started.secondsAgo, 1)) s.")
    }

    /// Mean deterministic return before adapting and after each inner step, on one task.
    func adaptAndScore(_ c: MetaSimConnection, world: String, policy: String, horizon: Int?, taskSeed: UInt64) throws -> [Double] {
        do {
            let s = try c.open(OpenRequest(world: world, batch: episodes, taskSeed: taskSeed, horizon: horizon))
            defer { try? s.close() }
            _ = try s.adapt(policy: policy, steps: 0)
            func score() throws(ClientError) -> Double {
                try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: episodes, deterministic: true, decimation: 0, seed: 1_000 + taskSeed)).meanReturn
            }
            var out = [try score()]
            for k in 0..<steps {
                _ = try s.adapt(steps: 1, episodes: episodes, seed: SplitMix64.mix(taskSeed, UInt64(k)))
                out.append(try score())
            }
            return out
        } catch {
            throw CLIError("\(world), task \(taskSeed), policy \(policy): \(error)")
        }
    }

    /// For each family with a policy with memory `FAMILY-rl2` or `FAMILY-context` served: on each held-out task,
    /// `episodes` trials of 3 deterministic episodes that the daemon runs (`run_episodes`: one
    /// trial, the state carried across its episodes, zeroed before each by
    /// `reset_policy_state`); the mean return of each trial's episode e is the return after e
    /// episodes of experience. Beside it, the meta-policy after one inner step (20 episodes).
    func printMemoryPolicies(_ c: MetaSimConnection, families: [String], served: [String: PolicyInfo],
                             metaRows: [(family: String, policy: String, intervals: [Interval], seconds: Double)]) throws {
        let memory = families.flatMap { f in ["rl2", "context"].map { (family: f, name: "\(f)-\($0)") } }.filter { served[$0.name] != nil }
        guard !memory.isEmpty else { return }
        let experience = 3
        var table = TextTable(["family", "policy"] + (0..<experience).map { "after \($0) ep." } + ["meta-policy after 1 step (\(episodes) ep.)", "time (s)"])
        for (family, name) in memory {
            let clock = ContinuousClock.now
            var perEpisode = [[Double]](repeating: [], count: experience)
            for k in 0..<tasks {
                let taskSeed = TaskSeeds.evaluation.lowerBound + UInt64(k)
                do {
                    let s = try c.open(OpenRequest(world: family, batch: 1, taskSeed: taskSeed, horizon: served[name]?.trainingHorizon))
                    defer { try? s.close() }
                    _ = try s.adapt(policy: name, steps: 0)
                    var sums = [Double](repeating: 0, count: experience)
                    for t in 0..<episodes {
                        _ = try c.resetPolicyState(session: s.id)
                        let run = try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: experience, deterministic: true, decimation: 0,
                                                                       seed: SplitMix64.mix(taskSeed, UInt64(t), 0x3E3)))
                        guard run.returns.count == experience else { throw CLIError("run_episodes returned \(run.returns.count) episodes, not \(experience)") }
                        for e in 0..<experience { sums[e] += run.returns[e] }
                    }
                    for e in 0..<experience { perEpisode[e].append(sums[e] / Double(episodes)) }
                } catch let e as CLIError {
                    throw e
                } catch {
                    throw CLIError("\(family), task \(taskSeed), policy \(name): \(error)")
                }
            }
            let maml = metaRows.first { $0.family == family }.flatMap { $0.intervals.count > 1 ? $0.intervals[1] : nil }
            let ci: (Interval) -> String = { "\(fmt($0.mean, 1)) [\(fmt($0.low, 1)), \(fmt($0.high, 1))]" }
            table.add([family, "memory (\(served[name]?.algorithm ?? "rl2"))"] + perEpisode.map { ci(Interval(samples: $0)) }
                      + [maml.map(ci) ?? "-", fmt(clock.secondsAgo, 1)])
        }
        print("Meta-policies with memory: a GRU's state (rl2) or a pooled code of the transitions seen (context), carried across the episodes of a task, adapts with no gradient step. Mean return over \(tasks) held-out tasks (95% interval) of \(episodes) trials of \(experience) deterministic episodes each, the state zeroed before each trial:\n")
        print(table.render())
    }

    /// One adapted episode, run by the daemon and drawn from the actions it streamed.
    func writeEpisode(_ c: MetaSimConnection, world: String, horizon: Int?) throws {
        let taskSeed = TaskSeeds.evaluation.lowerBound
        let seed: UInt64 = 2_000
        var actions: [[Float]] = []
        let reply: RunEpisodesReply
        do {
            let s = try c.open(OpenRequest(world: world, batch: 1, taskSeed: taskSeed, horizon: horizon))
            _ = try s.adapt(policy: world, steps: steps, episodes: episodes, seed: 7)
            let width = s.actionSize
            reply = try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: 1, deterministic: true, decimation: 1, seed: seed),
                                      onStep: { data in
                                          // The step event's data ends with the actions the daemon applied.
                                          data.withUnsafeBytes { p in
                                              let at = p.count - 4 * width
                                              actions.append((0..<width).map { k in
                                                  s.info.discreteActions == nil ? p.loadUnaligned(fromByteOffset: at + 4 * k, as: Float.self)
                                                      : Float(p.loadUnaligned(fromByteOffset: at + 4 * k, as: Int32.self))
                                              })
                                          }
                                      })
            try s.close()
        } catch {
            throw CLIError("\(world): \(error)")
        }
        let d = try catalog.definition(world).withHorizon(horizon)
        do {
            let w = try World(definition: d, task: d.sampleTask(seed: taskSeed))
            var renderer = SVGRenderer(world: w)
            let text = renderer.render(seed: WorldBatch.episodeSeed(batchSeed: seed, instance: 0), actions: actions)
            try AtomicFile.write(Array(text.utf8), to: svg)
        } catch {
            throw CLIError("\(svg): \(error)")
        }
        print("Wrote \(svg): one adapted \(world) episode (task \(taskSeed), return \(fmt(reply.returns.first ?? 0, 1)), \(actions.count) steps), replayed from the streamed actions.\n")
    }

    /// One line on what `family` demonstrates, from its shipped evaluation: a family whose oracle
    /// leads the multi-task policy (95% interval above 0) is one where adapting can pay; one
    /// without a measurable gap is a control, where no adaptation can beat the multi-task policy.
    static func role(_ family: String, policies folder: String) -> String {
        let path = "\(folder)/\(family)-evaluation.json"
        guard let reports = try? EvaluationReport.load(contentsOfFile: path), !reports.isEmpty else {
            return "no shipped evaluation (make evaluate writes \(family)-evaluation.json)"
        }
        guard let role = EvaluationReport.FamilyRole(reports: reports) else { return "its shipped evaluation has no oracle or no multi-task baseline" }
        let tasks = reports.map { "\($0.taskSeeds.count)" }.joined(separator: " + ")
        func text(_ gaps: [Interval]) -> String { gaps.map { "\(fmt($0.mean, 2)) [\(fmt($0.low, 2)), \(fmt($0.high, 2))]" }.joined(separator: " and ") }
        switch role {
        case .metaLearning(let gaps):
            return "meta-learning family: the oracle leads the multi-task policy by \(text(gaps)) (\(tasks) held-out tasks)"
        case .control(let gaps):
            return "control: no measurable gap, knowing the task pays nothing here (oracle - multi-task \(text(gaps)), \(tasks) held-out tasks)"
        }
    }

    func chosenFamilies(_ folder: String) throws -> [String] {
        if let families { return families.split(separator: ",").map(String.init) }
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        let names = files.filter { $0.hasSuffix(".safetensors") && !$0.contains("-multitask") }
            .map { String($0.dropLast(".safetensors".count)) }
            .filter { files.contains($0 + "-multitask.safetensors") && (try? catalog.definition($0)) != nil }
            .sorted()
        guard !names.isEmpty else { throw CLIError("\(folder): no meta-policy with a -multitask baseline to demonstrate") }
        return names
    }

    static func policiesFolder(_ explicit: String?) throws -> String {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["METASIM_POLICIES"], !env.isEmpty { return env }
        let exe = URL(fileURLWithPath: sibling("metasim")).deletingLastPathComponent()
        let candidates = ["policies", exe.appendingPathComponent("../share/metasim/policies").standardized.path]
            + (1...4).map { n in (0..<n).reduce(exe) { u, _ in u.deletingLastPathComponent() }.appendingPathComponent("policies").path }
        var isDir: ObjCBool = false
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue }) else {
            throw CLIError("no policies folder found (give --policies DIR)")
        }
        return found
    }

    /// A binary installed next to this one.
    static func sibling(_ name: String) -> String {
        let exe = Bundle.main.executablePath ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name).path
    }

}
