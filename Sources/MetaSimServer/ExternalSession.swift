import MetaLearning
import MetaSimCore
import MetaSimProtocol

/// A session on a world the client runs itself (a real robot, another simulator). The family
/// names which policies fit; the daemon acts for the client's observations, records the
/// transitions the client sends back, and adapts from the complete episodes it recorded (a
/// recurrent policy adapts online instead: the transitions move its state, `PolicyBinding`).
/// Used only by the owner connection's thread.
final class ExternalSession {
    let id: UInt32
    let worldName: String
    let definition: WorldDefinition
    let specs: WorldSpecs
    let count: Int
    var binding: PolicyBinding?

    /// One instance's episode so far: observations, the policy's samples (its own units) and rewards.
    struct Trace {
        var observations: [Double] = []
        var samples: [Double] = []
        var rewards: [Double] = []
        var length: Int { rewards.count }
    }
    private var running: [Trace]
    private(set) var complete: [(trace: Trace, terminated: Bool)] = []
    private(set) var transitions = 0

    init(id: UInt32, worldName: String, definition: WorldDefinition, specs: WorldSpecs, count: Int) {
        self.id = id
        self.worldName = worldName
        self.definition = definition
        self.specs = specs
        self.count = count
        running = Array(repeating: Trace(), count: count)
    }

    var observationCount: Int { specs.observation.count }
    /// Values one instance's action takes in a record or an act reply (1 for a discrete index).
    var actionWidth: Int { specs.discreteActions == nil ? specs.action.count : 1 }

    var reply: SessionReply {
        SessionReply(session: id, world: worldName, batch: count, threads: 1, autoReset: false,
                     observation: specs.observation.wire, action: specs.action.wire, discreteActions: specs.discreteActions,
                     task: TaskInfo(seed: nil, params: [:]), seed: 0, external: true)
    }

    var recordReply: RecordReply {
        let mean = complete.isEmpty ? nil : complete.map { $0.trace.rewards.reduce(0, +) }.reduce(0, +) / Double(complete.count)
        return RecordReply(session: id, episodes: complete.count, meanReturn: mean, transitions: transitions)
    }

    /// Record data: rewards f64[count], observations f32[count × O], actions (f32[count × A], or
    /// i32[count] for a discrete world), terminated u8[count], truncated u8[count].
    func recordSize(count n: Int) -> Int { 8 * n + 4 * n * observationCount + 4 * n * actionWidth + 2 * n }

    /// Appends one transition per instance. Checks everything before keeping anything. With a
    /// recurrent policy, tells its state the rewards and episode ends instead (nothing is kept).
    func record(_ data: UnsafeRawBufferPointer, limit: Int) throws(RequestFailure) {
        let n = count, o = observationCount, w = actionWidth
        guard data.count == recordSize(count: n) else {
            throw RequestFailure(.badShape, "record data is \(data.count) bytes; \(n) instances need \(recordSize(count: n)) (rewards f64, observations \(o) f32, actions \(specs.discreteActions == nil ? "\(w) f32" : "1 i32"), terminated u8, truncated u8 each)")
        }
        guard transitions + n <= limit else {
            throw RequestFailure(limit: .maxRecordedTransitions, "the session holds \(transitions) transitions; adapt (or close) before recording more (limit \(limit))")
        }
        let obsAt = 8 * n, actAt = obsAt + 4 * n * o, termAt = actAt + 4 * n * w, truncAt = termAt + n
        var samples = [Double](repeating: 0, count: n * w)
        for i in 0..<n {
            let r = data.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)
            guard r.isFinite else { throw RequestFailure(.badAction, "instance \(i): reward \(r) is not finite") }
            for k in 0..<o {
                let v = data.loadUnaligned(fromByteOffset: obsAt + 4 * (i * o + k), as: Float.self)
                guard v.isFinite else {
                    throw RequestFailure(.badAction, "instance \(i), observation '\(specs.observation.entries[k])': \(v) is not finite")
                }
            }
            if let choices = specs.discreteActions {
                let a = data.loadUnaligned(fromByteOffset: actAt + 4 * i, as: Int32.self)
                guard a >= 0, Int(a) < choices else { throw RequestFailure(.badAction, "instance \(i): discrete action \(a) is not in 0..<\(choices)") }
                samples[i] = Double(a)
            } else {
                for k in 0..<w {
                    let a = Double(data.loadUnaligned(fromByteOffset: actAt + 4 * (i * w + k), as: Float.self))
                    guard a.isFinite else { throw RequestFailure(.badAction, "instance \(i), action '\(specs.action.entries[k])': \(a) is not finite") }
                    samples[i * w + k] = sample(a, component: k)
                }
            }
        }
        if binding?.recurrent != nil {
            // A recurrent policy adapts by acting with its state, not from recorded episodes: the
            // transitions only feed its next step input (reward, episode end); nothing is kept.
            binding!.noteStep(rewards: { data.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) },
                              ended: { data.load(fromByteOffset: termAt + $0, as: UInt8.self) | data.load(fromByteOffset: truncAt + $0, as: UInt8.self) != 0 })
            return
        }
        for i in 0..<n {
            for k in 0..<o { running[i].observations.append(Double(data.loadUnaligned(fromByteOffset: obsAt + 4 * (i * o + k), as: Float.self))) }
            running[i].samples.append(contentsOf: samples[(i * w)..<((i + 1) * w)])
            running[i].rewards.append(data.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
            let terminated = data.load(fromByteOffset: termAt + i, as: UInt8.self) != 0
            let truncated = data.load(fromByteOffset: truncAt + i, as: UInt8.self) != 0
            if terminated || truncated {
                complete.append((running[i], terminated))
                running[i] = Trace()
            }
        }
        transitions += n
    }

    /// The policy's own unit for a world action it produced (`act` replies offset + scale · u).
    private func sample(_ a: Double, component k: Int) -> Double {
        guard let arch = binding?.architecture, !arch.actionScale.isEmpty, arch.actionScale[k] != 0 else { return a }
        return (a - arch.actionOffset[k]) / arch.actionScale[k]
    }

    /// The complete episodes recorded since the last adapt, as one batch (kept until
    /// `forgetEpisodes(count:)`, so an adaptation that fails or is cancelled loses nothing).
    func recordedEpisodes() -> Episodes? {
        guard !complete.isEmpty else { return nil }
        let horizon = complete.map { $0.trace.length }.max()!
        let o = observationCount, w = actionWidth
        var e = Episodes(count: complete.count, horizon: horizon, observationCount: o, actionWidth: w)
        for (j, c) in complete.enumerated() {
            let t = c.trace
            for s in 0..<t.length {
                let row = j * horizon + s
                for k in 0..<o { e.observations[row * o + k] = t.observations[s * o + k] }
                for k in 0..<w { e.actions[row * w + k] = t.samples[s * w + k] }
                e.rewards[row] = t.rewards[s]
            }
            e.lengths[j] = t.length
            e.terminated[j] = c.terminated
        }
        return e
    }

    /// Forgets the first `count` complete episodes (those an adaptation learned from; the
    /// unfinished ones stay).
    func forgetEpisodes(count: Int) {
        let used = complete.prefix(count)
        transitions -= used.reduce(0) { $0 + $1.trace.length }
        complete.removeFirst(used.count)
    }

    /// Forgets everything recorded (a new policy was taken: its experience would not fit).
    func clearRecording() {
        running = Array(repeating: Trace(), count: count)
        complete.removeAll()
        transitions = 0
    }
}
