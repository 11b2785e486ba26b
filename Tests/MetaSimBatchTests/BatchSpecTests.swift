import Foundation
import MetaSimTestSupport
import Testing

@testable import MetaSimBatch

/// Batch specs are strict like worlds: every file in `MalformedBatches/` has one mistake, stated
/// on its first line as `# expect: LINE:COLUMN KEY.PATH | message fragment`, and must be
/// rejected with exactly that diagnostic (found by the schema walk or when the plan resolves
/// worlds and parameters).
@Suite("Batch specs")
struct BatchSpecTests {
    static var folder: URL? { Bundle.module.url(forResource: "MalformedBatches", withExtension: nil) }

    static let files: [String] = {
        guard let folder, let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    /// Loads and plans a spec file against the catalog.
    static func plan(_ path: String) throws(BatchError) -> BatchPlan {
        try BatchPlan(spec: BatchSpec.load(contentsOfFile: path), worldsRoot: TestPaths.worldsRoot)
    }

    @Test("the malformed batch corpus holds at least 12 specs")
    func corpus() {
        #expect(Self.files.count >= 12)
    }

    @Test("a malformed batch spec is rejected with path:line:column and key path", arguments: files)
    func malformed(name: String) throws {
        let path = try #require(Self.folder).appendingPathComponent(name).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let expected = try #require(MalformedExpectation(firstLineOf: text), "\(name) has no '# expect:' line")
        do {
            let plan = try Self.plan(path)
            Issue.record("\(name) was accepted (\(plan.units.count) units); expected \(expected)")
        } catch {
            guard case .invalid(let diagnostics) = error else {
                Issue.record("\(name): expected BatchError.invalid, got \(error)")
                return
            }
            let report = diagnostics.map(\.description).joined(separator: "\n")
            #expect(diagnostics.count == 1, "one mistake, one diagnostic; got:\n\(report)")
            let location = "\(path):\(expected.line):\(expected.column): error: "
            let prefix = expected.keyPath.isEmpty ? location : location + expected.keyPath + ": "
            #expect(error.description.split(separator: "\n").contains { $0.hasPrefix(prefix) && $0.contains(expected.fragment) },
                    "expected \(expected); got:\n\(report)")
        }
    }

    @Test("a spec expands into units in canonical order with stable keys")
    func expansion() throws {
        let spec = try BatchSpec.parse("""
            worlds:
              - point-nav
              - world: pendulum
                tasks: {seeds: [4]}
                grid: {mass: [0.5, 2], length: 1}
            tasks: {nominal: true, seeds: {from: 7, count: 2}}
            policies: [random, zero, {checkpoint: a.safetensors, adapt: {steps: [0, 5], episodes: 3}}]
            episodes: 3
            seed: 11
            """, file: "inline.yaml")
        let plan = try BatchPlan(spec: spec, worldsRoot: TestPaths.worldsRoot)
        // point-nav: 3 tasks × 4 policies; pendulum: 1 task × 2 grid points × 4 policies.
        #expect(plan.units.count == 12 + 8)
        #expect(plan.units.map(\.index) == Array(0..<20))
        #expect(plan.units[0].key == "point-nav|nominal|-|random")
        #expect(plan.units[2].key == "point-nav|nominal|-|checkpoint:a.safetensors+adapt(steps=0,episodes=3)")
        #expect(plan.units[4].key == "point-nav|task=7|-|random")
        #expect(plan.units[12].key == "pendulum|task=4|mass=0.5,length=1|random")
        #expect(plan.units[17].key == "pendulum|task=4|mass=2,length=1|zero")
        #expect(plan.units[12].task["mass"] == 0.5 && plan.units[12].task["length"] == 1)
        #expect(plan.units.allSatisfy { $0.episodes == 3 && $0.episodeSeed(1) == 12 })
        #expect(Set(plan.units.map(\.key)).count == plan.units.count)
        // Same spec, same fingerprint; another seed, another batch.
        let again = try BatchPlan(spec: spec, worldsRoot: TestPaths.worldsRoot)
        #expect(again.fingerprint == plan.fingerprint)
        var reseeded = spec
        reseeded.seed = 12
        #expect(try BatchPlan(spec: reseeded, worldsRoot: TestPaths.worldsRoot).fingerprint != plan.fingerprint)
        // Shards partition the units.
        let shards = (0..<4).map { plan.units(in: Shard(index: $0, count: 4)).map(\.index) }
        #expect(shards.flatMap { $0 }.sorted() == Array(0..<20))
        #expect(shards[1] == [1, 5, 9, 13, 17])
    }

    @Test("a variant's base is part of the batch's identity: changing the base changes the fingerprint")
    func variantFingerprint() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(folder)/worlds/robots", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: "\(folder)/mine", withIntermediateDirectories: true)
        let base = try String(contentsOfFile: "\(TestPaths.worldsRoot)/robots/pendulum.yaml", encoding: .utf8)
        try base.write(toFile: "\(folder)/worlds/robots/pendulum.yaml", atomically: true, encoding: .utf8)
        try "extends: pendulum\nname: pendulum-light\nparameters:\n  mass: 0.5\n"
            .write(toFile: "\(folder)/worlds/robots/pendulum-light.yaml", atomically: true, encoding: .utf8)
        // A variant given by path names its base in the catalog, not next to it.
        try "extends: pendulum\nname: pendulum-mine\n".write(toFile: "\(folder)/mine/mine.yaml", atomically: true, encoding: .utf8)
        let spec = try BatchSpec.parse("""
            worlds: [pendulum-light, mine/mine.yaml]
            policies: [zero]
            episodes: 1
            seed: 1
            """, file: "\(folder)/spec.yaml")
        let before = try BatchPlan(spec: spec, worldsRoot: "\(folder)/worlds")
        #expect(before.definitions.map(\.name) == ["pendulum-light", "pendulum-mine"])
        #expect(try BatchPlan(spec: spec, worldsRoot: "\(folder)/worlds").fingerprint == before.fingerprint)
        try (base + "# the base changed\n").write(toFile: "\(folder)/worlds/robots/pendulum.yaml", atomically: true, encoding: .utf8)
        let after = try BatchPlan(spec: spec, worldsRoot: "\(folder)/worlds")
        #expect(after.fingerprint != before.fingerprint)
        #expect(zip(after.definitions, before.definitions).allSatisfy { $0.fileHash != $1.fileHash })
    }

    @Test("independent mistakes in a spec are all reported, in file order")
    func collectsAll() {
        #expect {
            _ = try BatchSpec.parse("""
                worlds: [point-nav]
                episodes: -2
                seed: x
                polices: [random]
                """, file: "three.yaml")
        } throws: { error in
            guard let e = error as? BatchError, case .invalid(let d) = e else { return false }
            return d.map(\.line) == [2, 3, 4] && d[2].message.contains("did you mean 'policies'?")
        }
    }

    @Test("shards from --shard and from Slurm or Kubernetes environments")
    func shards() throws {
        #expect(try Shard(parsing: "2/4") == Shard(index: 2, count: 4))
        #expect(throws: BatchError.self) { try Shard(parsing: "4/4") }
        #expect(throws: BatchError.self) { try Shard(parsing: "1") }
        #expect(try Shard.fromEnvironment([:]) == nil)
        #expect(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "8"]) == Shard(index: 3, count: 8))
        #expect(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "4", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1"])
                == Shard(index: 3, count: 4))
        #expect(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "1"], count: 3) == Shard(index: 1, count: 3))
        #expect(throws: BatchError.self) { try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "1"]) }
        #expect(throws: BatchError.self) { try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "3"], count: 3) }
    }

    @Test("the 95 % t quantile matches the table and tends to the normal quantile")
    func tQuantile() {
        #expect(abs(UnitSummary.tQuantile975(df: 1) - 12.706) < 1e-3)
        #expect(abs(UnitSummary.tQuantile975(df: 40) - 2.021075) < 1e-4)
        #expect(abs(UnitSummary.tQuantile975(df: 120) - 1.979930) < 1e-4)
        #expect(abs(UnitSummary.tQuantile975(df: 100_000) - 1.959964) < 1e-4)
    }
}
