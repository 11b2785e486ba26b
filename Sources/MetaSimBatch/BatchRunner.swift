import Foundation
import MetaSimCore
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs the units of a batch (or of one shard) on `jobs` threads into an output folder, crash
/// safe: every finished unit is appended to the journal durably; the result files are written
/// whole at the end. Rerunning with `resume` skips the units the journal holds.
public struct BatchRunner: Sendable {
    /// What the progress callback sees.
    public struct Progress: Sendable {
        /// Units of this shard, done in earlier runs (resumed) and in this one.
        public var totalUnits: Int
        public var resumedUnits: Int
        public var doneUnits: Int
        public var totalEpisodes: Int
        public var doneEpisodes: Int
        /// Episodes run by this process, and the seconds it has been running them.
        public var episodesThisRun: Int
        public var seconds: Double
        public var finished: Bool

        public var episodesPerSecond: Double { seconds > 0 ? Double(episodesThisRun) / seconds : 0 }
        /// Estimated seconds left, nil before any episode finished.
        public var eta: Double? {
            episodesThisRun > 0 ? Double(totalEpisodes - doneEpisodes) / episodesPerSecond : nil
        }
    }

    public let plan: BatchPlan
    public let folder: String
    public let shard: Shard
    public let jobs: Int
    /// The checkpoint files of the plan's units, loaded and checked against their worlds (none
    /// when the plan holds only baseline policies).
    public let checkpoints: CheckpointPolicies

    /// Loads and checks every checkpoint the plan names (all shards' units, so every shard fails
    /// or runs alike and they share the fingerprint) before anything runs or is written: the
    /// problems are thrown together, each at its policy's place in the spec (`SPEC:LINE:COLUMN`).
    public init(plan: BatchPlan, folder: String, shard: Shard = .all, jobs: Int) throws(BatchError) {
        self.plan = plan
        self.folder = folder
        self.shard = shard
        self.jobs = max(1, jobs)
        checkpoints = try CheckpointPolicies(plan: plan)
    }

    /// The fingerprint the output folder records: the plan's, with the checkpoint files' mixed in.
    public var fingerprint: UInt64 {
        checkpoints.fingerprint.map { SplitMix64.mix(plan.fingerprint, $0) } ?? plan.fingerprint
    }

    /// Runs (or, with `resume`, finishes) the shard and writes its outputs. Returns the results of
    /// every unit of the shard, in canonical order. `progress` is called on the calling thread
    /// every `interval` seconds and once at the end.
    @discardableResult
    public func run(resume: Bool, interval: Double = 1, progress: (Progress) -> Void = { _ in }) throws(BatchError) -> [UnitResult] {
        let units = plan.units(in: shard)
        try prepareFolder(resume: resume)
        let journalPath = BatchOutput.path(folder, BatchOutput.journalFile)
        let contents = try BatchJournal.load(path: journalPath)
        var done: [Int: UnitResult] = [:]
        for r in contents.results {
            guard r.unit < plan.units.count, shard.contains(r.unit), plan.units[r.unit].key == r.key else {
                throw BatchError.directory(path: journalPath, message: "unit \(r.unit) ('\(r.key)') is not a unit of this batch shard")
            }
            done[r.unit] = r
        }
        let journal = try BatchJournal(path: journalPath, validBytes: contents.validBytes)
        // Longest units first (by horizon × episodes), so no long unit starts last and leaves the
        // other jobs idle; the order cannot change any result.
        let todo = units.filter { done[$0.index] == nil }
            .enumerated().sorted { a, b in
                let (ca, cb) = (estimatedCost(a.element), estimatedCost(b.element))
                return ca != cb ? ca > cb : a.offset < b.offset
            }.map(\.element)
        let state = RunState(todo: todo)
        let totalEpisodes = BatchPlan.episodes(of: units)
        let resumedEpisodes = BatchPlan.episodes(of: units.filter { done[$0.index] != nil })

        let start = ContinuousClock.now
        func report(finished: Bool) {
            let (n, episodes) = state.counts()
            let d = ContinuousClock.now - start
            progress(Progress(totalUnits: units.count, resumedUnits: done.count, doneUnits: done.count + n,
                              totalEpisodes: totalEpisodes, doneEpisodes: resumedEpisodes + episodes,
                              episodesThisRun: episodes,
                              seconds: d.inSeconds,
                              finished: finished))
        }

        // Workers only compute; this thread appends what they finish to the journal (one fsync
        // per group of units) and reports progress.
        let workers = min(jobs, todo.count)
        if workers > 0 {
            let plan = self.plan, checkpoints = self.checkpoints
            for _ in 0..<workers {
                let thread = Thread {
                    while let unit = state.next() {
                        do throws(BatchError) {
                            state.finish(try Self.run(unit, plan: plan, checkpoints: checkpoints))
                        } catch {
                            state.fail(error)
                        }
                    }
                    state.exit()
                }
                thread.stackSize = 8 << 20
                thread.start()
            }
            var last = ContinuousClock.now
            while true {
                let running = state.running(workers)
                let finished = state.takeFinished()
                if !finished.isEmpty {
                    do { try journal.append(finished) } catch {
                        state.fail(error)
                        while state.running(workers) { usleep(10_000) }
                        throw error
                    }
                    state.commit(finished)
                }
                if !running { break }
                if finished.isEmpty { usleep(10_000) }
                if ContinuousClock.now - last >= .seconds(interval) {
                    report(finished: false)
                    last = ContinuousClock.now
                }
            }
        }
        if let error = state.error { throw error }
        report(finished: true)
        for r in state.results { done[r.unit] = r }
        let results = units.map { done[$0.index]! }
        try BatchOutput.write(results, folder: folder)
        return results
    }

    /// `.NAME.tmp-PID-…`: an `AtomicFile` write in progress, or of a killed process.
    static func isTemporary(_ name: String) -> Bool {
        AtomicFile.isTemporary(name)
    }

    /// Steps a unit may take: its episodes (and its policy's adaptation episodes) times the
    /// world's horizon (unbounded counts as 10,000).
    private func estimatedCost(_ u: BatchUnit) -> Int {
        let horizon = plan.definitions[u.worldIndex].episode.horizon
        return (u.episodes + u.policy.adaptationEpisodes) * (horizon > 0 ? horizon : 10_000)
    }

    /// Creates the folder and its manifest, or checks that it holds this batch and shard.
    private func prepareFolder(resume: Bool) throws(BatchError) {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw BatchError.io(path: folder, message: "cannot create the folder")
        }
        let manifest = BatchManifest(plan: plan, shard: shard, fingerprint: fingerprint)
        if let existing = try BatchManifest.load(folder: folder) {
            guard resume else {
                throw BatchError.directory(path: folder, message: "already holds a batch: use --resume to finish it, or another folder")
            }
            guard existing.fingerprint == manifest.fingerprint, existing.units == manifest.units else {
                throw BatchError.directory(path: folder, message: "holds a different batch (fingerprint \(existing.fingerprint); this spec, its worlds, checkpoints, episodes and seed give \(manifest.fingerprint)): refusing to resume")
            }
            guard existing.shard == shard else {
                throw BatchError.directory(path: folder, message: "holds shard \(existing.shard), not \(shard): refusing to resume")
            }
            // Temporary files of killed writers (their process is gone) are removed.
            for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where AtomicFile.isStaleTemporary(name) {
                try? fm.removeItem(atPath: BatchOutput.path(folder, name))
            }
            return
        }
        // A kill while the manifest or the spec copy was written leaves a temporary file (and
        // perhaps the spec copy): the folder still counts as empty.
        let entries = ((try? fm.contentsOfDirectory(atPath: folder)) ?? []).filter { !Self.isTemporary($0) }
        guard entries.isEmpty || entries == [BatchOutput.specFile] else {
            throw BatchError.directory(path: folder, message: "is not empty and holds no batch: give an empty or new folder")
        }
        if let text = try? String(contentsOfFile: plan.spec.file, encoding: .utf8) {
            let p = BatchOutput.path(folder, BatchOutput.specFile)
            do { try AtomicFile.write(text, to: p) } catch { throw BatchError.io(path: p, message: error.message) }
        }
        try manifest.write(folder: folder)
    }

    /// Runs one unit: a fresh world of its task; episode k from episode seed `firstSeed + k`, the
    /// policy reset with the same seed (so `metasim render --seed` replays any episode of a
    /// baseline). Checkpoint policies come from `checkpoints`, adapted to the task first if asked.
    public static func run(_ unit: BatchUnit, plan: BatchPlan, checkpoints: CheckpointPolicies) throws(BatchError) -> UnitResult {
        let definition = plan.definitions[unit.worldIndex]
        let world: World
        do { world = try World(definition: definition, task: unit.task) } catch {
            throw BatchError.invalid(error.diagnostics.isEmpty
                ? [Diagnostic(file: plan.spec.file, line: 0, column: 0, keyPath: "", message: "unit '\(unit.key)': \(error)")]
                : error.diagnostics)
        }
        var runner = EpisodeRunner(world: world)
        func episodes(_ policy: inout some EpisodePolicy) -> [UnitResult.Episode] {
            (0..<unit.episodes).map { k in
                let seed = unit.episodeSeed(k)
                let o = runner.run(seed: seed, resetting: &policy)
                return UnitResult.Episode(episode: k, seed: seed, episodeReturn: o.episodeReturn, length: o.length, end: o.end)
            }
        }
        let results: [UnitResult.Episode]
        var adaptReturns: [Double]?
        switch unit.policy {
        case .baseline(let kind):
            var policy = BaselinePolicy(kind, specs: world.specs, seed: unit.firstSeed)
            results = episodes(&policy)
        case .checkpoint:
            let made = try checkpoints.policy(for: unit, plan: plan, world: world)
            var policy = made.policy
            adaptReturns = made.adaptationReturns
            results = episodes(&policy)
        }
        var params: [String: Double] = [:]
        for p in definition.familyParameters { params[p.name] = unit.task[p.name] }
        for (name, value) in zip(unit.overrides, unit.overrideValues) { params[name] = value }
        return UnitResult(unit: unit.index, key: unit.key, world: unit.world, taskSeed: unit.task.seed, params: params,
                          policy: unit.policy.description, adaptSteps: unit.policy.adaptationSteps,
                          adaptReturns: adaptReturns, episodes: results)
    }
}

/// The shared state of one run's worker threads.
private final class RunState: Sendable {
    private struct Inner {
        var next = 0
        var pending: [UnitResult] = []
        var results: [UnitResult] = []
        var episodes = 0
        var exited = 0
        var error: BatchError?
    }
    private let todo: [BatchUnit]
    private let inner = Mutex(Inner())

    init(todo: [BatchUnit]) { self.todo = todo }

    /// The next unit to run, nil when there is none or a worker failed.
    func next() -> BatchUnit? {
        inner.withLock { s in
            guard s.error == nil, s.next < todo.count else { return nil }
            s.next += 1
            return todo[s.next - 1]
        }
    }

    /// A worker finished a unit (not yet journaled).
    func finish(_ r: UnitResult) {
        inner.withLock { $0.pending.append(r) }
    }

    /// The units finished since the last call.
    func takeFinished() -> [UnitResult] {
        inner.withLock { s in
            defer { s.pending = [] }
            return s.pending
        }
    }

    /// Units now in the journal: done.
    func commit(_ rs: [UnitResult]) {
        inner.withLock { s in
            s.results += rs
            s.episodes += rs.reduce(0) { $0 + $1.episodes.count }
        }
    }

    func fail(_ e: BatchError) { inner.withLock { s in if s.error == nil { s.error = e } } }
    func exit() { inner.withLock { $0.exited += 1 } }
    func running(_ workers: Int) -> Bool { inner.withLock { $0.exited < workers } }
    func counts() -> (units: Int, episodes: Int) { inner.withLock { ($0.results.count, $0.episodes) } }
    var results: [UnitResult] { inner.withLock { $0.results } }
    var error: BatchError? { inner.withLock { $0.error } }
}
