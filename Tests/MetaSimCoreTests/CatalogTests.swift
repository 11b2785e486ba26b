import Foundation
import Testing

@testable import MetaSimCore

/// Every world in `worlds/` (whatever is there when the tests run): it loads, instantiates for
/// the nominal task and sampled tasks, and runs random episodes within its declared specs.
@Suite("Catalog worlds")
struct CatalogTests {
    /// Paths relative to the package root, for readable test case names.
    static let files: [String] = TestSupport.catalogFiles()

    @Test("the catalog folder is found and holds worlds")
    func catalogIsNotEmpty() {
        var isDir: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: TestSupport.worldsRoot, isDirectory: &isDir) && isDir.boolValue,
                "no worlds folder at \(TestSupport.worldsRoot)")
        #expect(!Self.files.isEmpty, "no .yaml files under \(TestSupport.worldsRoot)")
    }

    @Test("world runs 1,000 random steps per task within its specs", arguments: files)
    func worldRunsWithinSpecs(path: String) throws {
        let definition: WorldDefinition
        do {
            definition = try WorldDefinition.load(contentsOfFile: path)
        } catch {
            Issue.record("\(path) does not load:\n\(error)")
            return
        }
        #expect(definition.file == path)
        #expect(!definition.actions.actuators.isEmpty)
        #expect(!definition.observations.isEmpty)
        #expect(!definition.reward.isEmpty)

        var tasks = [try definition.nominalTask()]
        for seed: UInt64 in [1, 2, 3] { tasks.append(try definition.sampleTask(seed: seed)) }
        #expect(tasks[0].seed == nil)
        #expect(tasks.allSatisfy { $0.names == definition.parameters.map(\.name) })

        for (t, task) in tasks.enumerated() {
            for v in task.values { #expect(v.isFinite, "task \(task) has a non-finite parameter") }
            let world: World
            do {
                world = try World(definition: definition, task: task)
            } catch {
                Issue.record("\(path): task \(t) (\(task)) does not instantiate:\n\(error)")
                continue
            }
            let specs = world.specs
            let obs = specs.observation
            try #require(obs.low.count == world.observationCount && obs.high.count == world.observationCount)
            try #require(obs.entries.count == world.observationCount)
            for i in 0..<obs.low.count {
                #expect(!obs.low[i].isNaN && !obs.high[i].isNaN && obs.low[i] < obs.high[i],
                        "\(obs.entries[i]): bounds [\(obs.low[i]), \(obs.high[i])]")
            }
            if let n = specs.discreteActions {
                #expect(n > 0 && world.actionCount == 1)
                #expect(specs.discreteTable?.count == n)
            } else {
                #expect(world.actionCount == specs.action.count)
                for i in 0..<specs.action.count {
                    #expect(specs.action.low[i].isFinite && specs.action.high[i].isFinite
                            && specs.action.low[i] < specs.action.high[i])
                }
            }

            var policy = BaselinePolicy(.random, specs: specs, seed: 100 + UInt64(t))
            var problems = 0  // reported per task, at most 3 (keeps the report readable)
            func check(_ observation: [Float], _ when: String) {
                guard problems < 3 else { return }
                for (i, v) in observation.enumerated() {
                    let ok = v.isFinite && Double(v) >= obs.low[i] && Double(v) <= obs.high[i]
                    if !ok {
                        problems += 1
                        Issue.record("\(WorldCatalog.worldName(path)) task \(t) \(when): \(obs.entries[i]) = \(v), declared bounds [\(obs.low[i]), \(obs.high[i])]")
                        if problems >= 3 { return }
                    }
                }
            }
            let first = world.reset(seed: 1000 + UInt64(t))
            #expect(first.count == world.observationCount)
            check(first, "after reset")
            var episodes = 0
            for k in 0..<1000 {
                let result = world.step(policy.act())
                if !result.reward.isFinite, problems < 3 {
                    problems += 1
                    Issue.record("\(WorldCatalog.worldName(path)) task \(t) step \(k): reward \(result.reward)")
                }
                #expect(result.terminated == (result.end.map { if case .terminated = $0 { true } else { false } } ?? false))
                check(world.observation, "step \(k)")
                if result.terminated || result.truncated {
                    #expect(world.episodeEnd != nil)
                    #expect(world.episodeReturn.isFinite)
                    episodes += 1
                    check(world.reset(), "after auto-reset at step \(k)")
                    #expect(world.episodeLength == 0 && world.episodeEnd == nil)
                }
            }
            #expect(problems == 0, "task \(t) (\(task)): observations outside their declared bounds or non-finite rewards")
        }
    }

    @Test("world names are unique across the catalog, and every file loads")
    func namesAreUnique() {
        let catalog = WorldCatalog(root: TestSupport.worldsRoot)
        for failure in catalog.failures {
            Issue.record("\(failure.path) does not load:\n\(failure.error)")
        }
        #expect(catalog.entries.count + catalog.failures.count == TestSupport.catalogFiles().count)

        // The catalog (CLI: --world NAME) is keyed by file name; the world's own `name:` is what
        // checkpoints and logs record. Neither may collide, even across subfolders.
        var byFileName: [String: [String]] = [:]
        var byWorldName: [String: [String]] = [:]
        for e in catalog.entries {
            byFileName[e.name, default: []].append(e.path)
            byWorldName[e.definition.name, default: []].append(e.path)
        }
        for (name, paths) in byFileName where paths.count > 1 {
            Issue.record("catalog name '\(name)' is used by \(paths.count) files: \(paths.joined(separator: ", "))")
        }
        for (name, paths) in byWorldName where paths.count > 1 {
            Issue.record("world name '\(name)' is declared by \(paths.count) files: \(paths.joined(separator: ", "))")
        }
        // Lookup by name finds the file of that name.
        for e in catalog.entries {
            #expect(catalog.entry(named: e.name)?.path == e.path)
        }
    }
}
