import Foundation
import MetaLearning
import MetaSimCore
import MetaSimTestSupport
import Testing

@testable import MetaSimBatch

/// Checkpoint policies in batches (`CheckpointPolicies`, which the runner loads): the same
/// determinism, resume and merge promises as the baselines,
/// adaptation curves in the outputs, and every bad checkpoint refused at the spec's line before
/// anything runs. Uses the shipped `policies/point-nav.safetensors`, copied next to the spec.
@Suite("Batch checkpoint policies")
struct BatchCheckpointTests {
    static let specText = """
        name: ckpt-batch
        worlds: [point-nav]
        tasks: {seeds: {from: 1000000000, count: 3}}
        policies:
          - {checkpoint: ckpt/point-nav.safetensors}
          - checkpoint: ckpt/point-nav.safetensors
            adapt: {steps: 1, episodes: 4}
        episodes: 2
        seed: 5
        """

    static var shipped: String { TestPaths.packageRoot.appendingPathComponent("policies/point-nav.safetensors").path }

    /// A temporary folder holding `ckpt/NAME.safetensors` (a copy of the shipped one).
    static func folder(_ name: String = "point-nav") throws -> String {
        let root = TestPaths.temporaryFolder()
        try FileManager.default.createDirectory(atPath: root + "/ckpt", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestPaths.packageRoot.appendingPathComponent("policies/\(name).safetensors").path,
                                         toPath: root + "/ckpt/\(name).safetensors")
        return root
    }

    @discardableResult
    static func run(_ plan: BatchPlan, _ folder: String, shard: Shard = .all, jobs: Int, resume: Bool = false) throws -> [UnitResult] {
        try BatchRunner(plan: plan, folder: folder, shard: shard, jobs: jobs).run(resume: resume)
    }

    @Test("checkpoint units: --jobs 1 = --jobs 2 = 3 shards merged, byte for byte; resume after a torn journal too")
    func determinism() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try BatchRunnerTests.plan(in: root, text: Self.specText)
        #expect(plan.units.count == 6)
        let one = try Self.run(plan, root + "/j1", jobs: 1)
        let two = try Self.run(plan, root + "/j2", jobs: 2)
        #expect(one == two)
        #expect(try BatchRunnerTests.outputs(root + "/j1") == BatchRunnerTests.outputs(root + "/j2"))
        // Checkpoint and adapted policies differ (the adaptation changed the parameters).
        #expect(one[0].episodes.map(\.episodeReturn) != one[1].episodes.map(\.episodeReturn))

        var shards: [String] = []
        for i in 0..<3 {
            let folder = root + "/shard\(i)"
            try Self.run(plan, folder, shard: Shard(index: i, count: 3), jobs: 1)
            shards.append(folder)
        }
        try BatchOutput.merge(shards, into: root + "/merged")
        #expect(try BatchRunnerTests.outputs(root + "/merged") == BatchRunnerTests.outputs(root + "/j1"))

        // Killed after two units (plus half a line): --resume finishes to the same files.
        let journal = try Data(contentsOf: URL(fileURLWithPath: root + "/j1/journal.log"))
        let lines = journal.split(separator: UInt8(ascii: "\n"))
        let crashed = root + "/crashed"
        try FileManager.default.createDirectory(atPath: crashed, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/j1/batch.json", toPath: crashed + "/batch.json")
        try (Data(lines.prefix(2).joined(separator: [UInt8(ascii: "\n")])) + Data("\n".utf8) + Data(lines[2].prefix(50)))
            .write(to: URL(fileURLWithPath: crashed + "/journal.log"))
        var resumed = 0
        try BatchRunner(plan: plan, folder: crashed, jobs: 2).run(resume: true) {
            resumed = $0.resumedUnits
        }
        #expect(resumed == 2)
        #expect(try BatchRunnerTests.outputs(crashed) == BatchRunnerTests.outputs(root + "/j1"))
    }

    @Test("an adapted unit records the return after each adaptation step, reproducible with the adaptation API")
    func adaptationReturns() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try BatchRunnerTests.plan(in: root, text: Self.specText)
        let results = try Self.run(plan, root + "/out", jobs: 2)
        #expect(results.map(\.adaptSteps) == [0, 1, 0, 1, 0, 1])
        #expect(results.map { $0.adaptReturns?.count } == [nil, 2, nil, 2, nil, 2])

        // The unit's curve is `metasim adapt --task-seed T --seed 5 --inner-steps 1 --episodes 4`'s,
        // and its episodes are the adapted policy's, sampled from the episode seeds.
        let u = plan.units[3]
        let definition = plan.definitions[u.worldIndex]
        let checkpoint = try Checkpoint.load(path: Self.shipped)
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: 1_000_000_001))
        let adapted = try checkpoint.policy.adapted(to: program, inner: InnerLoop(steps: 1, episodes: 4),
                                                    seed: SplitMix64.mix(5, 1_000_000_001), evaluate: true)
        #expect(CheckpointPolicies.adaptationSeed(for: u) == SplitMix64.mix(5, 1_000_000_001))
        #expect(results[3].adaptReturns == adapted.adaptation.returns)
        var runner = EpisodeRunner(world: try World(program: program))
        var policy = CheckpointEpisodePolicy(adapted.policy)
        #expect(runner.run(seed: 6, resetting: &policy).episodeReturn == results[3].episodes[1].episodeReturn)
        // One adaptation step on point-nav helps (the shipped checkpoint is meta-trained for it).
        for r in results where r.adaptReturns != nil { #expect(r.adaptReturns![1] > r.adaptReturns![0]) }

        // Both outputs carry the curve: every episode line of the unit, and summary.csv's last column.
        let lines = try BatchOutput.readEpisodes(folder: root + "/out")
        #expect(lines.filter { $0.unit == 3 }.allSatisfy { $0.adaptReturns == adapted.adaptation.returns })
        #expect(lines.filter { $0.unit == 2 }.allSatisfy { $0.adaptReturns == nil && $0.adaptSteps == 0 })
        let csv = try String(contentsOfFile: root + "/out/summary.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv[0].hasSuffix(",ends,adapt_returns"))
        #expect(csv[4].hasSuffix(",\(adapted.adaptation.returns[0]) \(adapted.adaptation.returns[1])"))
        #expect(csv[3].hasSuffix(",horizon=2,"))
        // The plot draws the curve.
        #expect(BatchPlot(lines: lines).render().contains("adaptation episodes (4 per step"))
    }

    @Test("the checkpoint's contents are part of the fingerprint: --resume refuses another checkpoint")
    func fingerprint() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try BatchRunnerTests.plan(in: root, text: Self.specText)
        let runner = try BatchRunner(plan: plan, folder: root + "/out", shard: Shard(index: 0, count: 2), jobs: 1)
        #expect(runner.fingerprint == SplitMix64.mix(plan.fingerprint, try #require(runner.checkpoints.fingerprint)))
        #expect(runner.fingerprint != plan.fingerprint)
        try runner.run(resume: false)
        let other = TestPaths.packageRoot.appendingPathComponent("policies/point-nav-multitask.safetensors").path
        try FileManager.default.removeItem(atPath: root + "/ckpt/point-nav.safetensors")
        try FileManager.default.copyItem(atPath: other, toPath: root + "/ckpt/point-nav.safetensors")
        #expect {
            try Self.run(plan, root + "/out", shard: Shard(index: 0, count: 2), jobs: 1, resume: true)
        } throws: { error in
            (error as? BatchError)?.description.contains("different batch") == true
        }
        // A plan without checkpoints keeps the plan's fingerprint (old folders still resume).
        let baseline = try BatchRunnerTests.plan(in: root, text: "worlds: [point-nav]\nepisodes: 1\n")
        let none = try BatchRunner(plan: baseline, folder: root + "/b", jobs: 1)
        #expect(none.checkpoints.fingerprint == nil && none.checkpoints.files.isEmpty)
        #expect(none.fingerprint == baseline.fingerprint)
    }

    /// The one diagnostic of a spec whose checkpoint `CheckpointPolicies` refuses.
    static func refusal(_ text: String, in root: String) throws -> (Diagnostic, String)? {
        let plan = try BatchRunnerTests.plan(in: root, text: text)
        do throws(BatchError) {
            _ = try CheckpointPolicies(plan: plan)
            return nil
        } catch {
            guard case .invalid(let d) = error, d.count == 1 else { Issue.record("unexpected \(error)"); return nil }
            return (d[0], error.description)
        }
    }

    /// Runs `metasim batch ROOT/spec.yaml --output ROOT/out` to its end: the process and its stderr.
    static func runBatch(in root: String) throws -> (process: Process, stderr: String) {
        let binary = try #require(TestPaths.builtProduct("metasim"), "no metasim binary; build it with swift build")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["batch", root + "/spec.yaml", "--output", root + "/out", "--worlds", TestPaths.worldsRoot, "--progress", "none"]
        let stderr = Pipe()
        p.standardError = stderr
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p, message)
    }

    @Test("a checkpoint of another world is refused at the policy's file:line:column, and nothing is written")
    func otherWorld() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let text = """
            worlds: [lunar-lander]
            policies:
              - random
              - {checkpoint: ckpt/point-nav.safetensors, adapt: {steps: 1, episodes: 4}}
            episodes: 2
            """
        let (d, description) = try #require(try Self.refusal(text, in: root))
        #expect(d.line == 4 && d.column == 5 && d.keyPath == "policies[1]")
        #expect(description.hasPrefix("\(root)/spec.yaml:4:5: error: policies[1]: checkpoint "))
        #expect(description.contains("does not fit world 'lunar-lander': it holds a policy for 'point-nav', not 'lunar-lander'"))

        // `metasim batch` stops with it before it creates the output folder.
        let (p, message) = try Self.runBatch(in: root)
        #expect(p.terminationStatus != 0)
        #expect(message.contains("\(root)/spec.yaml:4:5: error: policies[1]: checkpoint "), "\(message)")
        #expect(!FileManager.default.fileExists(atPath: root + "/out"))
    }

    @Test("a missing or truncated checkpoint file is refused with a clear error at the policy's line")
    func missingOrTruncated() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = { (name: String) in "worlds: [point-nav]\npolicies:\n  - checkpoint: \(name)\nepisodes: 1\n" }
        let (missing, m) = try #require(try Self.refusal(spec("ckpt/nope.safetensors"), in: root))
        #expect(missing.line == 3 && missing.keyPath == "policies[0]")
        #expect(m.contains("cannot read checkpoint \(URL(fileURLWithPath: root).standardized.path)/ckpt/nope.safetensors: no such file"))

        let bytes = try Data(contentsOf: URL(fileURLWithPath: Self.shipped))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: root + "/ckpt/half.safetensors"))
        let (truncated, t) = try #require(try Self.refusal(spec("ckpt/half.safetensors"), in: root))
        #expect(truncated.line == 3 && truncated.keyPath == "policies[0]")
        #expect(t.contains("truncated checkpoint") && t.contains("half.safetensors"))

        try Data("not a checkpoint".utf8).write(to: URL(fileURLWithPath: root + "/ckpt/text.safetensors"))
        let (_, x) = try #require(try Self.refusal(spec("ckpt/text.safetensors"), in: root))
        #expect(x.contains("text.safetensors"))
    }
}
