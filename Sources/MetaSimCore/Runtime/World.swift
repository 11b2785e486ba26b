import CMetaSimPhysics
import Foundation

/// One simulated instance of a world: a Box2D world built from a `WorldProgram` (one task of a
/// family), reset with episode seeds and stepped with actions.
///
/// Not thread-safe: one thread at a time (a `WorldBatch` gives each thread its own instances).
/// The step path allocates nothing: buffers are allocated once, in `init`.
public final class World {
    public let program: WorldProgram
    public let specs: WorldSpecs
    let compiled: CompiledWorld

    let handle: OpaquePointer
    let commandCount: Int
    private(set) var commands: UnsafeMutableBufferPointer<Float>
    private(set) var state: UnsafeMutableBufferPointer<Float>
    private(set) var signals: UnsafeMutableBufferPointer<Double>
    private(set) var observationBuffer: UnsafeMutableBufferPointer<Float>
    private var potentials: UnsafeMutableBufferPointer<Double>
    var layout = msp_state_layout()

    /// The seed of the current episode.
    public internal(set) var episodeSeed: UInt64 = 0
    /// Steps taken in the current episode.
    public private(set) var episodeLength = 0
    /// Sum of rewards in the current episode.
    public private(set) var episodeReturn = 0.0
    /// Set when the episode has ended; `step` must not be called again before `reset`.
    public private(set) var episodeEnd: EpisodeEnd?

    // Per-episode state.
    var windIndex: [Int] = []
    var track: Track?
    var trackHint = -1
    var trackArc = 0.0
    var goal = SIMD2<Double>(0, 0)
    var goalAngle = 0.0
    var terrainScratch: [Float] = []
    var poses: [SIMD3<Double>] = []
    var bodyIndex: [Int32] = []
    var episodeReady = false

    /// When set, every reset records the episode's static geometry for rendering.
    public var recordsGeometry = false
    /// Looked at before a reset's build and between its settle steps (`reset_steps`): once
    /// cancelled, `resetChecked` throws `WorldError.cancelled` and the instance needs a reset.
    public var cancellation: Cancellation?
    public internal(set) var geometry = EpisodeGeometry()

    public convenience init(definition: WorldDefinition, task: WorldTask) throws(WorldError) {
        try self.init(program: WorldProgram(definition: definition, task: task))
    }

    public convenience init(program: WorldProgram) throws(WorldError) {
        try self.init(program: program, compiled: CompiledWorld(program: program))
    }

    init(program: WorldProgram, compiled: CompiledWorld) throws(WorldError) {
        self.program = program
        self.compiled = compiled
        self.specs = program.specs
        guard let h = msp_world_create() else { fatalError("out of memory creating a Box2D world") }
        handle = h
        let spec = compiled.resolved
        commandCount = compiled.actionCount + 3 * spec.disturbances.count
        commands = .allocate(capacity: max(commandCount, 1))
        commands.initialize(repeating: 0)
        signals = .allocate(capacity: compiled.names.count)
        signals.initialize(repeating: 0)
        for (i, v) in program.task.values.enumerated() { signals[i] = v }
        signals[compiled.dtSlot] = (spec.simulation.timestep.literalValue ?? 0) * Double(spec.simulation.substeps)
        observationBuffer = .allocate(capacity: max(compiled.observationCount, 1))
        observationBuffer.initialize(repeating: 0)
        potentials = .allocate(capacity: max(compiled.potentialCount, 1))
        potentials.initialize(repeating: 0)
        state = .allocate(capacity: 1)
        state.initialize(repeating: 0)
        // Build once so the state layout is known and physics errors surface now, not mid-run.
        try build(seed: 0)
    }

    deinit {
        msp_world_destroy(handle)
        commands.deallocate()
        state.deallocate()
        signals.deallocate()
        observationBuffer.deallocate()
        potentials.deallocate()
    }

    /// The latest observation (valid until the next reset or step).
    public var observation: [Float] { Array(observationBuffer.prefix(compiled.observationCount)) }

    /// The value of a named quantity after the latest step (`lander.x`, `action.main_engine`,
    /// `leg_left`), or nil if the world has no such name.
    public func value(of name: String) -> Double? {
        compiled.slot[name].map { signals[$0] }
    }

    /// The task seed and parameters this instance simulates.
    public var task: WorldTask { program.task }

    // MARK: Reset

    /// Starts an episode determined by (file, task, `seed`). Returns the first observation.
    @discardableResult
    public func reset(seed: UInt64) -> [Float] {
        resetInPlace(seed: seed)
        return observation
    }

    /// Starts the next episode: the episode seed advances by one.
    @discardableResult
    public func reset() -> [Float] {
        reset(seed: episodeSeed &+ 1)
    }

    func resetInPlace(seed: UInt64) {
        do { try resetChecked(seed: seed) } catch {
            fatalError("world '\(program.name)' failed to build for episode seed \(seed): \(error)")
        }
    }

    /// Starts an episode like `reset(seed:)`, but reports a world that fails to build for this
    /// seed instead of stopping the process. The structure was built once in `init`; only
    /// sampled values change, so a failure means a distribution produced a degenerate shape for
    /// this episode. After a failure the instance must be reset again before it is stepped.
    public func resetChecked(seed: UInt64) throws(WorldError) {
        episodeEnd = .terminated("build_failed")
        episodeSeed = seed
        try checkCancellation()
        try build(seed: seed)
        let reset = compiled.resetAction
        for _ in 0..<compiled.resolved.episode.resetSteps {
            // One atomic load per settle step (a settle step is a whole Box2D step, substeps and all).
            try checkCancellation()
            reset.withUnsafeBufferPointer { _ = stepInternal($0, counting: false) }
        }
        episodeLength = 0
        episodeReturn = 0
        episodeEnd = nil
        signals[compiled.tSlot] = 0
    }

    @inline(__always)
    private func checkCancellation() throws(WorldError) {
        if let cancellation, cancellation.isCancelled {
            throw WorldError.cancelled("world '\(program.name)': reset cancelled")
        }
    }

    // MARK: Step

    /// One step with a continuous action (one value per action entry) or, for discrete worlds, a
    /// one-element array holding the action index. Writes the observation into `observation`.
    public func step(_ action: [Float]) -> StepResult {
        action.withUnsafeBufferPointer { step($0) }
    }

    /// One step from a buffer: `actionCount` floats, or one float holding a discrete index.
    public func step(_ action: UnsafeBufferPointer<Float>) -> StepResult {
        precondition(episodeEnd == nil, "step() after the episode ended: call reset() first")
        return stepInternal(action, counting: true)
    }

    /// Copies the latest observation into `out` (observationCount floats).
    public func copyObservation(to out: UnsafeMutablePointer<Float>) {
        out.update(from: observationBuffer.baseAddress!, count: compiled.observationCount)
    }

    public var observationCount: Int { compiled.observationCount }
    public var actionCount: Int { compiled.discrete == nil ? compiled.actionCount : 1 }

    private func stepInternal(_ action: UnsafeBufferPointer<Float>, counting: Bool) -> StepResult {
        applyAction(action)
        applyDisturbances()
        msp_world_step(handle, commands.baseAddress, state.baseAddress)
        if counting { signals[compiled.tSlot] += 1 }
        updateSignals()
        computeObservations()
        var reward = computeReward()
        var end: EpisodeEnd?
        for t in compiled.terminations where check(t.condition) {
            if let r = t.reward { reward = t.replace ? r : reward + r }
            end = t.truncate ? .truncated(t.name) : .terminated(t.name)
        }
        if counting {
            episodeLength += 1
            episodeReturn += reward
            let horizon = compiled.resolved.episode.horizon
            if end == nil, horizon > 0, episodeLength >= horizon { end = .truncated("horizon") }
            episodeEnd = end
        }
        var terminated = false, truncated = false
        switch end {
        case .terminated?: terminated = true
        case .truncated?: truncated = true
        case nil: break
        }
        return StepResult(reward: reward, terminated: terminated, truncated: truncated, end: end)
    }

    /// Clips the action to its bounds (NaN counts as 0), stores it in the signals, and in the
    /// commands times its actuator's gain (worlds without a gain skip the multiplication).
    @inline(__always)
    private func applyAction(_ action: UnsafeBufferPointer<Float>) {
        let c = compiled
        if let table = c.discrete {
            let v = action.isEmpty ? 0 : action[0]
            let index = v.isFinite ? Int(min(max(v, -1), Float(table.count))) : 0
            precondition(index >= 0 && index < table.count, "discrete action \(index) is out of range 0..<\(table.count)")
            let row = table[index]
            for i in 0..<c.actionCount {
                commands[i] = row[i]
                signals[c.actionBase + i] = Double(row[i])
            }
            if let gain = c.actionGain { for i in 0..<c.actionCount { commands[i] *= gain[i] } }
            return
        }
        precondition(action.count >= c.actionCount, "expected \(c.actionCount) action values, got \(action.count)")
        for i in 0..<c.actionCount {
            var a = action[i]
            if a.isNaN { a = 0 }
            a = min(max(a, c.actionLow[i]), c.actionHigh[i])
            commands[i] = a
            signals[c.actionBase + i] = Double(a)
        }
        if let gain = c.actionGain { for i in 0..<c.actionCount { commands[i] *= gain[i] } }
    }

    private func applyDisturbances() {
        let c = compiled
        guard !c.disturbances.isEmpty else { return }
        let base = c.actionCount
        let s = UnsafePointer(signals.baseAddress!)
        for (k, d) in c.disturbances.enumerated() {
            let o = base + 3 * k
            switch d {
            case .wind(let power, let turbulence, let pause):
                if let pause, c.expressions[pause].evaluate(s) != 0 {
                    commands[o] = 0; commands[o + 1] = 0; commands[o + 2] = 0
                    continue
                }
                // Gymnasium LunarLander: tanh(sin(0.02 k) + sin(0.01 pi k)) * power, k advancing
                // only while the wind blows.
                let w = Double(windIndex[2 * k]), q = Double(windIndex[2 * k + 1])
                commands[o] = Float(tanh(sin(0.02 * w) + sin(Double.pi * 0.01 * w)) * power)
                commands[o + 1] = 0
                commands[o + 2] = Float(tanh(sin(0.02 * q) + sin(Double.pi * 0.01 * q)) * turbulence)
                windIndex[2 * k] += 1
                windIndex[2 * k + 1] += 1
            case .force(let fx, let fy, let torque, let when):
                if let when, c.expressions[when].evaluate(s) == 0 {
                    commands[o] = 0; commands[o + 1] = 0; commands[o + 2] = 0
                    continue
                }
                commands[o] = Float(c.expressions[fx].evaluate(s))
                commands[o + 1] = Float(c.expressions[fy].evaluate(s))
                commands[o + 2] = torque.map { Float(c.expressions[$0].evaluate(s)) } ?? 0
            }
        }
    }

    /// Copies the physics state into the named signals (bodies, joints, contacts, efforts) and
    /// updates goal and track quantities.
    func updateSignals() {
        let c = compiled
        let bodies = Int(layout.bodies), joints = Int(layout.joints)
        let contacts = Int(layout.contacts), efforts = Int(layout.actuators)
        for b in 0..<c.dynamicBodies.count {
            let s = c.bodyBase + 8 * b, p = bodies + 7 * b
            for f in 0..<7 { signals[s + f] = Double(state[p + f]) }
            signals[s + 7] = Double(state[contacts + b])
        }
        for (ji, slots) in c.jointSlots.enumerated() {
            if let slots {
                signals[slots.value] = Double(state[joints + 2 * ji])
                signals[slots.speed] = Double(state[joints + 2 * ji + 1])
            }
        }
        for a in 0..<c.resolved.actions.actuators.count {
            signals[c.effortBase + a] = Double(state[efforts + a])
        }
        if let g = c.goalBase {
            signals[g] = goal.x
            signals[g + 1] = goal.y
        }
        if let base = c.trackBase, let tb = c.trackBody, let track {
            let s = c.bodyBase + 8 * tb
            let p = SIMD2(signals[s], signals[s + 1])
            let proj = track.project(p, hint: trackHint)
            var delta = proj.arc - trackArc
            if track.closed {
                let length = track.length
                if delta > length / 2 { delta -= length } else if delta < -length / 2 { delta += length }
            }
            trackArc = proj.arc
            trackHint = proj.index
            let angle = signals[s + 2]
            let forward = SIMD2(-sin(angle), cos(angle))
            signals[base + 4] += delta                                 // track.distance
            signals[base] = signals[base + 4] / max(track.length, 1e-9) // track.progress (laps)
            signals[base + 1] = proj.lateral
            signals[base + 2] = remainder(atan2(forward.y, forward.x) - proj.tangentAngle, 2 * Double.pi)
            signals[base + 3] = signals[s + 3] * forward.x + signals[s + 4] * forward.y
        }
    }

    func computeObservations() {
        let c = compiled
        let lidars = Int(layout.lidars)
        let obsContacts = Int(layout.contacts) + c.dynamicBodies.count
        let s = UnsafePointer(signals.baseAddress!)
        for i in 0..<c.sources.count {
            let raw: Double
            switch c.sources[i] {
            case .signal(let k): raw = signals[k]
            case .cos(let k): raw = cos(signals[k])
            case .sin(let k): raw = sin(signals[k])
            case .bodyVelocity(let b, let component):
                let base = c.bodyBase + 8 * b
                let a = signals[base + 2], vx = signals[base + 3], vy = signals[base + 4]
                raw = component == 0 ? vx * cos(a) + vy * sin(a) : -vx * sin(a) + vy * cos(a)
            case .lidarRay(let k): raw = Double(state[lidars + k])
            case .contactSensor(let k): raw = Double(state[obsContacts + k])
            case .goalVector(let b, let component, let bodyFrame):
                let base = c.bodyBase + 8 * b
                let dx = goal.x - signals[base], dy = goal.y - signals[base + 1]
                if bodyFrame {
                    let a = signals[base + 2]
                    raw = component == 0 ? dx * cos(a) + dy * sin(a) : -dx * sin(a) + dy * cos(a)
                } else {
                    raw = component == 0 ? dx : dy
                }
            case .goalDistance(let b):
                let base = c.bodyBase + 8 * b
                raw = ((goal.x - signals[base]) * (goal.x - signals[base]) + (goal.y - signals[base + 1]) * (goal.y - signals[base + 1])).squareRoot()
            case .curvatureAhead(let distance):
                raw = track?.curvatureAhead(from: max(trackHint, 0), distance: distance) ?? 0
            case .expression(let e): raw = c.expressions[e].evaluate(s)
            }
            var v = c.scale[i] * (raw - c.offset[i])
            if c.clip[i] { v = min(max(v, c.low[i]), c.high[i]) }
            signals[c.observationBase + i] = v
            observationBuffer[i] = Float(v)
        }
    }

    func computeReward() -> Double {
        let c = compiled
        let s = UnsafePointer(signals.baseAddress!)
        var total = 0.0
        for (op, weight, _) in c.rewardOps {
            let value: Double
            switch op {
            case .expression(let e): value = c.expressions[e].evaluate(s)
            case .potential(let e, let prev):
                let phi = c.expressions[e].evaluate(s)
                value = phi - potentials[prev]
                potentials[prev] = phi
            case .progress(let k, let prev):
                value = signals[k] - potentials[prev]
                potentials[prev] = signals[k]
            case .distance(let x, let y, let tx, let ty, let toGoal):
                let gx = toGoal ? goal.x : tx, gy = toGoal ? goal.y : ty
                value = ((signals[x] - gx) * (signals[x] - gx) + (signals[y] - gy) * (signals[y] - gy)).squareRoot()
            case .alive: value = 1
            case .actionCost(let norm):
                var sum = 0.0
                for i in 0..<c.actionCount {
                    let a = signals[c.actionBase + i]
                    sum += norm == 2 ? a * a : norm == 1 ? abs(a) : min(abs(a), 1)
                }
                value = sum
            case .speedTracking(let k, let target): value = abs(signals[k] - target)
            case .contact(let k): value = signals[k]
            }
            total += weight * value
        }
        return total
    }

    /// Resets the potentials to the current state (so the first step's shaping is a difference
    /// from the reset state, as Gymnasium's prev_shaping after the reset step).
    func primePotentials() {
        let c = compiled
        let s = UnsafePointer(signals.baseAddress!)
        for (op, _, _) in c.rewardOps {
            switch op {
            case .potential(let e, let prev): potentials[prev] = c.expressions[e].evaluate(s)
            case .progress(let k, let prev): potentials[prev] = signals[k]
            default: break
            }
        }
    }

    private func check(_ condition: CompiledWorld.Condition) -> Bool {
        let c = compiled
        switch condition {
        case .flag(let k, let when): return signals[k] == when
        case .outOfBounds(let x, let y, let xr, let yr):
            if let xr, !xr.contains(signals[x]) { return true }
            if let yr, !yr.contains(signals[y]) { return true }
            return false
        case .goal(let b, let radius, let tolerance):
            let base = c.bodyBase + 8 * b
            let dx = goal.x - signals[base], dy = goal.y - signals[base + 1]
            guard dx * dx + dy * dy <= radius * radius else { return false }
            guard let tolerance else { return true }
            return abs(remainder(signals[base + 2] - goalAngle, 2 * Double.pi)) <= tolerance
        case .offTrack(let extra):
            guard let base = c.trackBase, let track else { return false }
            return abs(signals[base + 1]) > track.width / 2 + extra
        case .expression(let e):
            return c.expressions[e].evaluate(UnsafePointer(signals.baseAddress!)) != 0
        }
    }

    // MARK: Benchmark support

    /// The physical limit of this world: applies the (clipped) action and advances Box2D, with
    /// no sensing, reward, termination or observation. For `metasim bench` only.
    public func stepPhysicsOnly(_ action: UnsafeBufferPointer<Float>) {
        applyAction(action)
        msp_world_step_raw(handle, commands.baseAddress)
    }

    /// Approximate bytes held by this instance's Box2D world and buffers.
    public var footprint: Int {
        Int(msp_world_footprint(handle)) + 4 * (commands.count + state.count + observationBuffer.count) + 8 * (signals.count + potentials.count)
    }

    func reallocateState(_ size: Int) {
        guard state.count != size else { return }
        state.deallocate()
        state = .allocate(capacity: max(size, 1))
        state.initialize(repeating: 0)
    }
}
