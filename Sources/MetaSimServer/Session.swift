import MetaSimCore
import MetaSimProtocol
import Synchronization

/// An open session: a batch of N instances of one world of a family, owned by one connection.
///
/// Stepped, reset and closed only by its owner connection's thread. Other connections reach it
/// only through `observers` (under its lock) and subscription requests the owner answers.
final class Session: @unchecked Sendable {
    let id: UInt32
    /// The owner connection (to wake it for subscription requests).
    unowned let owner: Connection
    /// Counts observers for the server's status.
    let observerCount: ObserverCounter
    let worldName: String
    let definition: WorldDefinition
    let threads: Int
    let autoReset: Bool
    let discreteActions: Int?
    private(set) var batch: WorldBatch
    private(set) var task: WorldTask
    private(set) var seed: UInt64
    /// Set when an instance failed to build for an episode seed: steps refuse until a reset.
    var failure: String?
    /// The session's policy (protocol 1.1: taken and adapted by adapt, used by act and run_episodes).
    var binding: PolicyBinding? {
        didSet {
            let name = binding?.entry.name, steps = binding?.adaptedSteps ?? 0
            activity.withLock { $0.policy = name; $0.adaptedSteps = steps }
        }
    }
    /// Its world's step counters (shared by the sessions of that world), and its own steps.
    let worldStats: WorldStats
    let instanceSteps = Atomic<UInt64>(0)
    /// What the web view shows of it, written by the owner's (and an adaptation's) thread.
    let activity: Mutex<SessionActivity>
    /// Observers and subscription requests waiting for the owner (see Session+Observers).
    let links = Mutex<ObserverLinks>(ObserverLinks())
    /// Per-instance scratch: which instances ended this step.
    var endedScratch: [Int32]
    let stepEventMeta: [UInt8]
    /// The batch size (fixed for the session's life; readable from any thread).
    let batchCount: Int

    /// Estimated bytes this session holds in the daemon's memory account (released on close).
    var reservedBytes = 0
    /// The `render` request's scenes and surface (Session+Render.swift), made by the first render.
    var frames: SessionFrames?

    init(id: UInt32, owner: Connection, observerCount: ObserverCounter, worldName: String, definition: WorldDefinition,
         program: WorldProgram, count: Int, threads: Int, seed: UInt64, autoReset: Bool) throws(WorldError) {
        self.id = id
        self.owner = owner
        self.observerCount = observerCount
        self.worldName = worldName
        self.definition = definition
        self.threads = threads
        self.autoReset = autoReset
        self.task = program.task
        self.seed = seed
        batch = try WorldBatch(program: program, count: count, threads: threads, seed: seed, autoReset: autoReset,
                               cancellation: owner.work)
        discreteActions = batch.specs.discreteActions
        batchCount = count
        endedScratch = Array(repeating: 0, count: count)
        stepEventMeta = MetaCoding.encode(ObserverEvent(event: "step", session: id))
        worldStats = owner.core.stats.world(worldName)
        activity = Mutex(SessionActivity(program: program, seed: seed))
    }

    /// A new task on the same file and batch size: a fresh batch (the old one is released).
    func setTask(_ program: WorldProgram, seed: UInt64) throws(WorldError) {
        batch = try WorldBatch(program: program, count: batch.count, threads: threads, seed: seed, autoReset: autoReset,
                               cancellation: owner.work)
        self.task = program.task
        self.seed = seed
        failure = nil
        frames = nil
        // A recurrent policy's memory is of the old task.
        if binding?.recurrent != nil { binding!.resetState() }
        activity.withLock { $0.program = program; $0.seed = seed }
    }

    var reply: SessionReply {
        var params: [String: Double] = [:]
        for (n, v) in zip(task.names, task.values) { params[n] = v }
        return SessionReply(session: id, world: worldName, batch: batch.count, threads: batch.threads, autoReset: autoReset,
                            observation: batch.specs.observation.wire, action: batch.specs.action.wire,
                            discreteActions: discreteActions, task: TaskInfo(seed: task.seed, params: params), seed: seed,
                            horizon: definition.episode.horizon, rewardThreshold: definition.episode.rewardThreshold)
    }

    /// All observations, packed (count × observation_size float32).
    func withObservationBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(batch.observations))
    }

    /// Resets instances. `instances` nil means all; `seeds` one per listed instance; else `seed`
    /// as a batch seed; else each instance's next episode.
    func reset(instances: [Int]?, seeds: [UInt64]?, seed batchSeed: UInt64?) throws(RequestFailure) {
        let list = instances ?? Array(0..<batch.count)
        for i in list where i < 0 || i >= batch.count {
            throw RequestFailure(.badRequest, "instances: \(i) is not in 0..<\(batch.count)")
        }
        try Budget.checkReset(batch.program, instances: list.count, owner.core.configuration)
        if Set(list).count != list.count { throw RequestFailure(.badRequest, "instances: an instance is listed twice") }
        if let seeds, seeds.count != list.count {
            throw RequestFailure(.badRequest, "seeds: \(seeds.count) seeds for \(list.count) instances")
        }
        if seeds != nil, batchSeed != nil { throw RequestFailure(.badRequest, "give either 'seeds' or 'seed', not both") }
        if let batchSeed, instances == nil { seed = batchSeed }
        var failures: [String] = []
        for (k, i) in list.enumerated() {
            let s: UInt64
            if let seeds { s = seeds[k] }
            else if let batchSeed { s = WorldBatch.episodeSeed(batchSeed: batchSeed, instance: i) }
            else { s = batch.world(i).episodeSeed &+ 1 }
            do { try batch.resetChecked(instance: i, seed: s) } catch {
                if case .cancelled = error {
                    // The instances before it are reset, it and those after it are not.
                    failure = "instance \(i): its reset was cut short; reset it"
                    throw RequestFailure(.cancelled, "reset cut short at instance \(i) of \(list.count): the session needs a reset")
                }
                failures.append("instance \(i): \(error.description)")
            }
        }
        // A recurrent policy sees the restarts as episode ends (its state is kept).
        if binding?.recurrent != nil { binding!.noteReset(instances: list) }
        if (0..<batch.count).contains(where: { batch.failed[$0] != 0 }) {
            failure = failures.first ?? "an instance failed to build; reset it"
        } else {
            failure = nil
        }
        if !failures.isEmpty {
            throw RequestFailure(.worldFailed, failures.joined(separator: "; "))
        }
    }
}
