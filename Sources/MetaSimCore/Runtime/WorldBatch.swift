/// N instances of one task stepped together across T threads into preallocated buffers, with
/// auto-reset. Instance i is stepped by the thread that owns its contiguous share, and its
/// episodes depend only on (task, seed, i): results are bit-identical for any thread count.
///
/// Usage: write actions into `actions` (N × actionCount floats; a discrete action is its index
/// as a float), call `step()`, read `observations`, `rewards`, `terminated`, `truncated`. With
/// auto-reset an instance whose episode ended is reset in the same step: `observations` holds
/// the first observation of its new episode and `finalObservations` the last of the old one.
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

    let worlds: [World]
    private var pool: WorkerPool!
    private var physicsOnly = false

    /// `seed` determines every instance's first episode seed (instance i: mix(seed, i)); later
    /// episodes advance each instance's seed by one.
    public init(program: WorldProgram, count: Int, threads: Int = 1, seed: UInt64 = 0, autoReset: Bool = true) throws(WorldError) {
        precondition(count > 0, "a batch needs at least one instance")
        self.count = count
        self.threads = max(1, min(threads, count))
        self.program = program
        self.autoReset = autoReset
        let compiled = try CompiledWorld(program: program)
        var worlds: [World] = []
        for _ in 0..<count { worlds.append(try World(program: program, compiled: compiled)) }
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
        pool = WorkerPool(threads: self.threads) { [unowned self] k in self.runShard(k) }
        reset(seed: seed)
    }

    deinit {
        pool.shutdown()
        actions.deallocate(); observations.deallocate(); finalObservations.deallocate()
        rewards.deallocate(); terminated.deallocate(); truncated.deallocate()
        finishedReturns.deallocate(); finishedLengths.deallocate()
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

    /// Steps every instance with `actions`.
    public func step() {
        physicsOnly = false
        pool.run()
    }

    /// The physical limit: steps every instance's Box2D world with `actions` and nothing else
    /// (no sensing, reward, termination; episodes end only through `reset`). For benchmarks.
    public func stepPhysicsOnly() {
        physicsOnly = true
        pool.run()
    }

    /// Access to one instance (for inspection; do not step it directly while the batch is used).
    public func world(_ i: Int) -> World { worlds[i] }

    private func runShard(_ k: Int) {
        let lo = k * count / threads, hi = (k + 1) * count / threads
        for i in lo..<hi { stepInstance(i) }
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
            if autoReset {
                (finalObservations.baseAddress! + i * observationCount).update(from: obs, count: observationCount)
                world.resetInPlace(seed: world.episodeSeed &+ 1)
                world.copyObservation(to: obs)
            }
        }
    }
}
