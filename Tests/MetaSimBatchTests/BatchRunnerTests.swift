import Foundation
import MetaSimCore
import MetaSimTestSupport
import Testing

@testable import MetaSimBatch

/// The batch runner's promises: numbers depend only on the units (not on --jobs or sharding),
/// an interrupted batch resumes to the uninterrupted result, outputs are canonical.
@Suite("Batch runs")
struct BatchRunnerTests {
    static let specText = """
        name: test-batch
        worlds:
          - point-nav
          - world: pendulum
            grid: {mass: [0.5, 2]}
        tasks: {nominal: true, seeds: [3, 5]}
        policies: [random, zero]
        episodes: 3
        seed: 2
        """

    static func plan(in folder: String, text: String = specText) throws -> BatchPlan {
        let file = folder + "/spec.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return try BatchPlan(spec: BatchSpec.load(contentsOfFile: file), worldsRoot: TestPaths.worldsRoot)
    }

    static func outputs(_ folder: String) throws -> [String] {
        try [BatchOutput.episodesFile, BatchOutput.summaryFile, BatchOutput.manifestFile].map {
            try String(contentsOfFile: folder + "/" + $0, encoding: .utf8)
        }
    }

    @Test("--jobs 1 and --jobs 2 write identical outputs")
    func jobsDoNotChangeResults() throws {
        let root = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Self.plan(in: root)
        let one = try BatchRunner(plan: plan, folder: root + "/j1", jobs: 1).run(resume: false)
        let two = try BatchRunner(plan: plan, folder: root + "/j2", jobs: 2).run(resume: false)
        #expect(one == two)
        #expect(one.count == 18 && one.map(\.unit) == Array(0..<18))
        #expect(try Self.outputs(root + "/j1") == Self.outputs(root + "/j2"))
        let lines = try String(contentsOfFile: root + "/j1/episodes.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 18 * 3)
        let summary = try String(contentsOfFile: root + "/j1/summary.csv", encoding: .utf8).split(separator: "\n")
        #expect(summary.count == 19 && summary[0].hasPrefix("unit,key,world,task_seed,policy"))
        // Units are reproducible one by one: episode k from seed + k, like `metasim run`.
        let u = plan.units[7]
        let world = try World(definition: plan.definitions[u.worldIndex], task: u.task)
        var runner = EpisodeRunner(world: world)
        var policy = BaselinePolicy(.zero, specs: world.specs, seed: 3)
        #expect(u.policy == .baseline(.zero))
        #expect(runner.run(seed: 3, policy: &policy).episodeReturn == one[7].episodes[1].episodeReturn)
    }

    @Test("4 shards merged equal the unsharded run byte for byte")
    func shardsMerge() throws {
        let root = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Self.plan(in: root)
        try BatchRunner(plan: plan, folder: root + "/all", jobs: 2).run(resume: false)
        var shardFolders: [String] = []
        for i in 0..<4 {
            let folder = root + "/shard\(i)"
            let results = try BatchRunner(plan: plan, folder: folder, shard: Shard(index: i, count: 4), jobs: 1).run(resume: false)
            #expect(results.map(\.unit) == plan.units(in: Shard(index: i, count: 4)).map(\.index))
            shardFolders.append(folder)
        }
        // Missing shards are refused.
        #expect(throws: BatchError.self) { try BatchOutput.merge(Array(shardFolders.prefix(3)), into: root + "/partial") }
        try BatchOutput.merge(shardFolders.reversed(), into: root + "/merged")
        #expect(try Self.outputs(root + "/merged") == Self.outputs(root + "/all"))
        // The merged journal holds the same units (in canonical order).
        let a = try BatchJournal.load(path: root + "/all/journal.log").results.sorted { $0.unit < $1.unit }
        #expect(try BatchJournal.load(path: root + "/merged/journal.log").results == a)
    }

    @Test("a torn journal tail is dropped and --resume gives the uninterrupted result")
    func resumeAfterTornWrite() throws {
        let root = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Self.plan(in: root)
        try BatchRunner(plan: plan, folder: root + "/full", jobs: 2).run(resume: false)
        let journal = try Data(contentsOf: URL(fileURLWithPath: root + "/full/journal.log"))
        let lines = journal.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // Crash states: 5 whole lines then half of the sixth; then a whole line with one byte
        // changed (a torn page) and more after it.
        let half = Data(lines[5].prefix(lines[5].count / 2))
        var corrupt = Data(lines[6])
        corrupt[40] ^= 0x01
        let cases: [Data] = [
            Data(lines.prefix(5).joined(separator: [UInt8(ascii: "\n")])) + Data("\n".utf8) + half,
            Data(lines.prefix(3).joined(separator: [UInt8(ascii: "\n")])) + Data("\n".utf8) + corrupt + Data("\n".utf8) + Data(lines[7]) + Data("\n".utf8),
        ]
        for (i, journalBytes) in cases.enumerated() {
            let folder = root + "/crash\(i)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: root + "/full/batch.json", toPath: folder + "/batch.json")
            try journalBytes.write(to: URL(fileURLWithPath: folder + "/journal.log"))
            let contents = try BatchJournal.load(path: folder + "/journal.log")
            #expect(contents.results.count == (i == 0 ? 5 : 3))
            #expect(contents.tornBytes > 0)
            // Without --resume, a folder holding a batch is refused.
            #expect(throws: BatchError.self) { try BatchRunner(plan: plan, folder: folder, jobs: 2).run(resume: false) }
            var resumed = 0
            try BatchRunner(plan: plan, folder: folder, jobs: 2).run(resume: true) { resumed = $0.resumedUnits }
            #expect(resumed == contents.results.count)
            #expect(try Self.outputs(folder) == Self.outputs(root + "/full"))
            #expect(try BatchJournal.load(path: folder + "/journal.log").tornBytes == 0)
        }
        // Killed while writing the manifest: only a temporary file; resuming starts afresh.
        // Killed while writing an output: its temporary file is removed on resume.
        let early = root + "/early"
        try FileManager.default.createDirectory(atPath: early, withIntermediateDirectories: true)
        try Data("{\"fo".utf8).write(to: URL(fileURLWithPath: early + "/.batch.json.tmp-999999"))
        try BatchRunner(plan: plan, folder: early, jobs: 2).run(resume: true)
        #expect(try Self.outputs(early) == Self.outputs(root + "/full"))
        try Data("unit,".utf8).write(to: URL(fileURLWithPath: early + "/.summary.csv.tmp-999999"))
        try BatchRunner(plan: plan, folder: early, jobs: 1).run(resume: true)
        #expect(!FileManager.default.fileExists(atPath: early + "/.summary.csv.tmp-999999"))

        // Resuming a finished batch rewrites the same outputs.
        try BatchRunner(plan: plan, folder: root + "/full", jobs: 1).run(resume: true)
        #expect(try Self.outputs(root + "/crash0") == Self.outputs(root + "/full"))
    }

    @Test("--resume with a different spec, or another shard, is refused")
    func resumeChecksTheBatch() throws {
        let root = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Self.plan(in: root)
        try BatchRunner(plan: plan, folder: root + "/out", shard: Shard(index: 0, count: 2), jobs: 1).run(resume: false)
        let other = try Self.plan(in: root, text: Self.specText.replacingOccurrences(of: "episodes: 3", with: "episodes: 4"))
        #expect {
            try BatchRunner(plan: other, folder: root + "/out", shard: Shard(index: 0, count: 2), jobs: 1).run(resume: true)
        } throws: { error in
            guard let e = error as? BatchError, case .directory = e else { return false }
            return e.description.contains("different batch")
        }
        #expect(throws: BatchError.self) {
            try BatchRunner(plan: plan, folder: root + "/out", shard: Shard(index: 1, count: 2), jobs: 1).run(resume: true)
        }
        // A comment changes nothing the batch computes: resuming is fine.
        let commented = try Self.plan(in: root, text: "# a comment\n" + Self.specText)
        try BatchRunner(plan: commented, folder: root + "/out", shard: Shard(index: 0, count: 2), jobs: 1).run(resume: true)
    }

    @Test("the runner loads the checkpoints itself: a missing one is refused at its policy's line, and nothing is written")
    func missingCheckpoint() throws {
        let root = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try Self.plan(in: root, text: """
            worlds: [point-nav]
            policies:
              - random
              - {checkpoint: ckpt/point-nav.safetensors, adapt: {steps: [0, 4], episodes: 2}}
            episodes: 2
            """)
        #expect(plan.units.map(\.policy.adaptationSteps) == [nil, 0, 4])
        #expect(plan.units.map(\.policy.adaptationEpisodes) == [0, 2, 10])
        #expect(plan.checkpointPath("ckpt/point-nav.safetensors") == URL(fileURLWithPath: root).standardized.path + "/ckpt/point-nav.safetensors")
        #expect {
            try BatchRunner(plan: plan, folder: root + "/out", jobs: 2).run(resume: false)
        } throws: { error in
            guard let e = error as? BatchError, case .invalid(let d) = e, d.count == 1 else { return false }
            return d[0].line == 4 && d[0].keyPath == "policies[1]" && e.description.contains("cannot read checkpoint")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/out"))
    }

    @Test("the plot draws every unit, and adaptation curves for adapted policies")
    func plot() throws {
        let line = { (unit: Int, steps: Int?, r: Double) in
            UnitResult.EpisodeLine(unit: unit, key: "w|nominal|-|p", world: "w", taskSeed: nil, params: [:],
                                   policy: steps == nil ? "random" : "checkpoint:c+adapt(steps=\(steps!),episodes=2)",
                                   adaptSteps: steps, adaptReturns: steps.map { (0...$0).map { -10 + Double($0) } },
                                   episode: 0, episodeSeed: 0, episodeReturn: r, length: 1, end: "horizon")
        }
        let svg = BatchPlot(lines: [line(0, nil, 1), line(0, nil, 3), line(1, 0, 2), line(2, 5, 4), line(2, 5, 6)]).render()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.contains("Return against adaptation steps"))
        // The adaptation's own curve (steps 0 … 5, one task) and the units' episodes at 0 and 5.
        #expect(svg.contains("adaptation episodes (2 per step"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.contains("<title>5 steps: mean -5.0 ± 0.0</title>"))
    }
}
