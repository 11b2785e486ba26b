import Synchronization

/// N instances of one task stepped together across T threads into preallocated buffers, with
/// auto-reset. Each thread steps its own contiguous share of the instances, then helps with
/// what is left of the others' (so a thread the scheduler delays does not hold up the step).
/// Instance i's episodes depend only on (task, seed, i): results are bit-identical for any
/// thread count and whichever thread steps it.
///
/// Usage: write actions into `actions` (N × actionCount floats; a discrete action is its index
/// as a float), call `step()`, read `observations`, `rewards`, `terminated`, `truncated`. With
/// auto-reset an instance whose episode ended is reset in the same step: `observations` holds
/// the first observation of its new episode; `finalObservations` holds the last observation of
/// every instance whose episode ended this step (with or without auto-reset).
public final class WorldBatch: @unchecked Sendable {
    public let count: Int
    public let threads: Int
    public let program: WorldProgram
    public let specs: WorldSpecs
    public var autoReset: Bool

    public let observationCount: Int
    public let actionCount: Int
    public let actions: UnsafeMutableBufferPointer<Float>
    public let observations: UnsafeMutableBufferPointer<Float>
    public let finalObservations: UnsafeMutableBufferPointer<Float>
    public let rewards: UnsafeMutableBufferPointer<Double>
    public let terminated: UnsafeMutableBufferPointer<UInt8>
    public let truncated: UnsafeMutableBufferPointer<UInt8>
    /// For instances whose episode ended this step: its return and length.
    public let finishedReturns: UnsafeMutableBufferPointer<Double>
    public let finishedLengths: UnsafeMutableBufferPointer<Int32>
    /// 1 for an instance whose world failed to build for its next episode's seed (only possible
    /// with distributions that can produce degenerate shapes); see `failure(of:)`.
    public let failed: UnsafeMutableBufferPointer<UInt8>

    let worlds: [World]
    /// Written only by the thread that steps the instance, read after the step.
    private let buildErrors: UnsafeMutableBufferPointer<WorldError?>
    private var pool: WorkerPool!
    private var physicsOnly = false
    /// Per share: how many of its instances have been claimed this step (one cache line each).
    private let claimed: UnsafeMutablePointer<Atomic<Int>>
    private static let claimStride = 8

    /// `seed` determines every instance's first episode seed (instance i: mix(seed, i)); later
    /// episodes advance each instance's seed by one. `cancellation` is looked at between the
    /// instances built and during every reset's settle steps, the batch's life long (auto-resets
    /// in `step` too): once cancelled, building throws `WorldError.cancelled`, and an instance
    /// whose auto-reset it stops is marked `failed`.
    public init(program: WorldProgram, count: Int, threads: Int = 1, seed: UInt64 = 0, autoReset: Bool = true,
                cancellation: Cancellation? = nil) throws(WorldError) {
        precondition(count > 0, "a batch needs at least one instance")
        let bytes = program.cost.bytes(instances: count)
        guard bytes <= WorldLimits.maxBatchBytes else {
            throw WorldError.limitExceeded(
                "\(count) instances of world '\(program.name)' would need about \(WorldCost.mib(Double(bytes))) "
                + "(\(WorldCost.mib(Double(program.cost.bytesPerInstance))) each), more than this machine's memory")
        }
        self.count = count
        self.threads = max(1, min(threads, count))
        self.program = program
        self.autoReset = autoReset
        let compiled = try CompiledWorld(program: program)
        var worlds: [World] = []
        worlds.reserveCapacity(count)
        for built in 0..<count {
            if let cancellation, cancellation.isCancelled {
                throw WorldError.cancelled("world '\(program.name)': building a batch of \(count) cancelled after \(built) instances")
            }
            let world = try World(program: program, compiled: compiled)
            world.cancellation = cancellation
            worlds.append(world)
        }
        self.worlds = worlds
        specs = worlds[0].specs
        observationCount = worlds[0].observationCount
        actionCount = worlds[0].actionCount
        actions = .allocate(capacity: count * actionCount); actions.initialize(repeating: 0)
        observations = .allocate(capacity: count * observationCount); observations.initialize(repeating: 0)
        finalObservations = .allocate(capacity: count * observationCount); finalObservations.initialize(repeating: 0)
        rewards = .allocate(capacity: count); rewards.initialize(repeating: 0)
        terminated = .allocate(capacity: count); terminated.initialize(repeating: 0)
        truncated = .allocate(capacity: count); truncated.initialize(repeating: 0)
        finishedReturns = .allocate(capacity: count); finishedReturns.initialize(repeating: 0)
        finishedLengths = .allocate(capacity: count); finishedLengths.initialize(repeating: 0)
        failed = .allocate(capacity: count); failed.initialize(repeating: 0)
        buildErrors = .allocate(capacity: count); buildErrors.initialize(repeating: nil)
        claimed = .allocate(capacity: self.threads * Self.claimStride)
        for k in 0..<self.threads * Self.claimStride { (claimed + k).initialize(to: Atomic(0)) }
        pool = WorkerPool(threads: self.threads) { [unowned self] k in self.runShard(k) }
        // As `reset(seed:)`, but a world that fails to build (or a cancellation) is thrown.
        for i in 0..<count { try resetChecked(instance: i, seed: Self.episodeSeed(batchSeed: seed, instance: i)) }
    }

    deinit {
        pool.shutdown()
        actions.deallocate(); observations.deallocate(); finalObservations.deallocate()
        rewards.deallocate(); terminated.deallocate(); truncated.deallocate()
        finishedReturns.deallocate(); finishedLengths.deallocate(); failed.deallocate()
        _ = buildErrors.deinitialize(); buildErrors.deallocate()
        claimed.deinitialize(count: threads * Self.claimStride); claimed.deallocate()
    }

    /// The first episode seed of instance `i` for a batch seed.
    public static func episodeSeed(batchSeed: UInt64, instance i: Int) -> UInt64 {
        SplitMix64.mix(batchSeed, UInt64(i))
    }

    /// Resets every instance (instance i to `episodeSeed(batchSeed: seed, instance: i)`).
    public func reset(seed: UInt64) {
        for i in 0..<count { reset(instance: i, seed: Self.episodeSeed(batchSeed: seed, instance: i)) }
    }

    /// Resets one instance to an explicit episode seed.
    public func reset(instance i: Int, seed: UInt64) {
        worlds[i].resetInPlace(seed: seed)
        worlds[i].copyObservation(to: observations.baseAddress! + i * observationCount)
        terminated[i] = 0; truncated[i] = 0; rewards[i] = 0
    }

    /// Resets one instance to an explicit episode seed, reporting a world that fails to build
    /// for that seed (the instance must then be reset again before the batch steps).
    public func resetChecked(instance i: Int, seed: UInt64) throws(WorldError) {
        terminated[i] = 0; truncated[i] = 0; rewards[i] = 0
        do {
            try worlds[i].resetChecked(seed: seed)
        } catch {
            failed[i] = 1
            buildErrors[i] = error
            throw error
        }
        failed[i] = 0
        buildErrors[i] = nil
        worlds[i].copyObservation(to: observations.baseAddress! + i * observationCount)
    }

    /// Whether instance `i`'s episode has ended and it was not reset (without auto-reset, or
    /// after a failed build); stepping it is an error the caller must prevent.
    public func needsReset(_ i: Int) -> Bool { worlds[i].episodeEnd != nil }

    /// The build failure that stopped instance `i`, if any.
    public func failure(of i: Int) -> WorldError? { failed[i] != 0 ? buildErrors[i] : nil }

    /// Steps every instance with `actions`.
    public func step() {
        physicsOnly = false
        runShares()
    }

    /// The physical limit: steps every instance's Box2D world with `actions` and nothing else
    /// (no sensing, reward, termination; episodes end only through `reset`). For benchmarks.
    public func stepPhysicsOnly() {
        physicsOnly = true
        runShares()
    }

    /// Access to one instance (for inspection; do not step it directly while the batch is used).
    public func world(_ i: Int) -> World { worlds[i] }

    private func runShares() {
        for k in 0..<threads { claimed[k * Self.claimStride].store(0, ordering: .relaxed) }
        pool.run()  // publishes the stores above to the workers
    }

    /// Thread k steps the instances of share k, then claims any left in the other shares.
    private func runShard(_ k: Int) {
        for j in 0..<threads {
            let share = (k + j) % threads
            let lo = share * count / threads, size = (share + 1) * count / threads - lo
            let cursor = claimed + share * Self.claimStride
            while true {
                let c = cursor.pointee.add(1, ordering: .relaxed).oldValue
                guard c < size else { break }
                stepInstance(lo + c)
            }
        }
    }

    @inline(__always)
    private func stepInstance(_ i: Int) {
        let world = worlds[i]
        let action = UnsafeBufferPointer(start: actions.baseAddress! + i * actionCount, count: actionCount)
        if physicsOnly {
            world.stepPhysicsOnly(action)
            return
        }
        let r = world.step(action)
        rewards[i] = r.reward
        terminated[i] = r.terminated ? 1 : 0
        truncated[i] = r.truncated ? 1 : 0
        let obs = observations.baseAddress! + i * observationCount
        world.copyObservation(to: obs)
        if r.terminated || r.truncated {
            finishedReturns[i] = world.episodeReturn
            finishedLengths[i] = Int32(world.episodeLength)
            (finalObservations.baseAddress! + i * observationCount).update(from: obs, count: observationCount)
            if autoReset {
                do {
                    try world.resetChecked(seed: world.episodeSeed &+ 1)
                    world.copyObservation(to: obs)
                } catch {
                    failed[i] = 1
                    buildErrors[i] = error
                }
            }
        }
    }
}
