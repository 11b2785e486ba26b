import ArgumentParser
import Foundation
import MetaSimCore

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Steps per second with random actions and auto-reset, against the raw Box2D step.",
        discussion: """
            The full step is everything a user gets: actions, physics, sensing, reward, termination, \
            observation, auto-reset. The raw figure replays the same actions and the same resets \
            with Box2D stepping alone (no sensing, reward or termination): the physical limit of \
            the same work. Random actions are drawn up front (64 batches, cycled, as the peers' \
            EnvPool benchmark does). --memory N instead reports the resident memory of N live \
            instances.
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var taskOptions: TaskOptions
    @Option(help: "World name or path.") var world: String
    @Option(help: "Instances stepped together.") var batch = 1
    @Option(help: "Threads stepping the batch.") var threads = 1
    @Option(help: "Environment steps to time (over all instances).") var steps = 200_000
    @Option(help: "Batch seed.") var seed: UInt64 = 0
    @Option(help: "Report the resident memory of this many live instances instead of speed.") var memory: Int?
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        let world: String
        let batch: Int
        let threads: Int
        let steps: Int
        let seconds: Double
        let steps_per_second: Double
        let raw_seconds: Double
        let raw_steps_per_second: Double
        let overhead: Double
        let episodes: Int
    }

    struct MemoryReport: Encodable {
        let world: String
        let instances: Int
        let baseline_rss_mib: Double
        let rss_mib: Double
        let per_instance_kib: Double
        /// The daemon's estimate (WorldCost) for comparison: what its memory budgets count.
        let estimated_per_instance_kib: Double
    }

    func run() throws {
        let d = try catalog.definition(world)
        let task = try taskOptions.task(for: d)
        let program: WorldProgram
        do { program = try WorldProgram(definition: d, task: task) } catch { throw CLIError(error.description) }
        if let memory { return try measureMemory(program, count: memory) }

        let b: WorldBatch
        do { b = try WorldBatch(program: program, count: batch, threads: threads, seed: seed) } catch { throw CLIError(error.description) }
        let iterations = max(1, steps / batch)
        var policy = BaselinePolicy(.random, specs: b.specs, seed: seed)
        let bank = (0..<64).map { _ in (0..<batch).flatMap { _ in policy.act() } }

        // Warm up (caches, page faults, worker threads), then time the full step, recording
        // which instances reset at which iteration.
        for i in 0..<min(iterations / 20 + 1, 2000) { load(b, bank[i % 64]); b.step() }
        b.reset(seed: seed)
        var resets: [[Int]] = Array(repeating: [], count: iterations)
        var episodes = 0
        let t0 = ContinuousClock.now
        for i in 0..<iterations {
            load(b, bank[i % 64])
            b.step()
            for k in 0..<batch where b.terminated[k] != 0 || b.truncated[k] != 0 {
                resets[i].append(k)
                episodes += 1
            }
        }
        let full = t0.secondsAgo

        // The same actions and resets, physics only.
        b.reset(seed: seed)
        let t1 = ContinuousClock.now
        for i in 0..<iterations {
            load(b, bank[i % 64])
            b.stepPhysicsOnly()
            for k in resets[i] { b.reset(instance: k, seed: b.world(k).episodeSeed &+ 1) }
        }
        let raw = t1.secondsAgo

        let total = iterations * batch
        let report = Report(world: d.name, batch: batch, threads: b.threads, steps: total, seconds: full,
                            steps_per_second: Double(total) / full, raw_seconds: raw,
                            raw_steps_per_second: Double(total) / raw, overhead: full / raw, episodes: episodes)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(report), as: UTF8.self))
        } else {
            print("""
                world \(d.name), batch \(batch), threads \(b.threads), \(total) steps, \(episodes) episodes
                full step:  \(fmt(report.steps_per_second, 0)) steps/s
                raw Box2D:  \(fmt(report.raw_steps_per_second, 0)) steps/s
                full / raw cost: \(fmt(report.overhead, 3))
                """)
        }
    }

    private func load(_ b: WorldBatch, _ actions: [Float]) {
        actions.withUnsafeBufferPointer { b.actions.baseAddress!.update(from: $0.baseAddress!, count: actions.count) }
    }

    private func measureMemory(_ program: WorldProgram, count: Int) throws {
        let before = residentMiB()
        var worlds: [World] = []
        var policy = BaselinePolicy(.random, specs: program.specs, seed: seed)
        for i in 0..<count {
            let w: World
            do { w = try World(program: program) } catch { throw CLIError(error.description) }
            w.reset(seed: seed &+ UInt64(i))
            // Live instances mid-episode: contacts, islands and solver stacks have been used.
            for _ in 0..<50 {
                let r = w.step(policy.act())
                if r.terminated || r.truncated { w.reset() }
            }
            worlds.append(w)
        }
        let after = residentMiB()
        let report = MemoryReport(world: program.name, instances: worlds.count, baseline_rss_mib: before,
                                  rss_mib: after, per_instance_kib: (after - before) * 1024 / Double(count),
                                  estimated_per_instance_kib: Double(program.cost.bytesPerInstance) / 1024)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(report), as: UTF8.self))
        } else {
            print("\(count) live \(program.name) instances: resident \(fmt(after, 1)) MiB (process before: \(fmt(before, 1)) MiB, \(fmt(report.per_instance_kib, 1)) KiB per instance; estimated \(fmt(report.estimated_per_instance_kib, 1)) KiB)")
        }
        withExtendedLifetime(worlds) {}
    }

    /// VmRSS from /proc/self/status.
    private func residentMiB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kb / 1024
    }
}
