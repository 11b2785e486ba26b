import Foundation
import MetaSimCore

/// What is wrong with a recurrent policy state given to `RecurrentActor.restore`.
public enum RecurrentStateError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The state has `got` values; this actor's is `expected` (rows × values per row).
    case wrongSize(expected: Int, got: Int)
    /// The state was saved from another architecture (`RecurrentActor.architectureTag`).
    case otherArchitecture(expected: String, got: String)
    /// A value that is not finite.
    case notFinite(row: Int, field: String)
    /// A flag that is not 0 or 1, or a discrete previous action that is not an index of the policy's.
    case outOfRange(row: Int, field: String, value: Double)

    public var description: String {
        switch self {
        case .wrongSize(let expected, let got):
            "the state has \(got) values; this session's policy state has \(expected)"
        case .otherArchitecture(let expected, let got):
            "the state is of architecture '\(got)'; this session's policy is '\(expected)'"
        case .notFinite(let row, let field):
            "row \(row), \(field): not finite"
        case .outOfRange(let row, let field, let value):
            "row \(row), \(field): \(value) is out of range"
        }
    }
}

/// A recurrent policy acting with memory, one row per instance (a session's instances): each
/// row's network state (a GRU's hidden state, or a context policy's pooled transitions,
/// `ContextNetwork`) and what its next step input reads besides the observation — its previous
/// action, the reward that followed it and whether that step ended an episode — exactly as
/// `TrialSampler` builds them in training (`RecurrentMath.stepInput`: the normalized
/// observation, the previous action in the policy's units, the clipped reward, the episode-end
/// flag; all three 0 at a row's first step).
///
/// The caller tells it what happened between two `act`s: `noteStep` (the reward and whether the
/// episode ended) and `noteReset` (an episode restarted by hand: the episode-end flag, the state
/// kept). `resetState` starts every row afresh (a new task). Without a note, the next step reads
/// reward 0 and no episode end.
///
/// The state is kept in Double, as training keeps it; `save` gives it whole (float64 values) so
/// that `restore` continues bit for bit.
public struct RecurrentActor: Sendable {
    public let math: RecurrentMath
    public let rows: Int
    /// rows × stateCount (`MemoryNetwork.stateCount`).
    public private(set) var hidden: [Double]
    /// rows × actionWidth: the last action sampled, in the policy's units (an index when discrete).
    private var previousAction: [Double]
    private var previousReward: [Double]
    private var episodeEnd: [Bool]
    /// False until a row has acted since its state was reset (its trial's first step).
    private var hasPrevious: [Bool]
    private var input: [Double]
    private var observation: [Double]

    public init(math: RecurrentMath, rows: Int) {
        precondition(rows > 0, "an actor needs a row")
        self.math = math
        self.rows = rows
        let width = math.architecture.actionWidth
        hidden = [Double](repeating: 0, count: rows * math.network.stateCount)
        previousAction = [Double](repeating: 0, count: rows * width)
        previousReward = [Double](repeating: 0, count: rows)
        episodeEnd = [Bool](repeating: false, count: rows)
        hasPrevious = [Bool](repeating: false, count: rows)
        input = [Double](repeating: 0, count: rows * math.network.inputCount)
        observation = [Double](repeating: 0, count: math.architecture.observationCount)
    }

    /// Every row back to a trial's start: zero state, no previous action, reward or episode end.
    public mutating func resetState() {
        for i in hidden.indices { hidden[i] = 0 }
        for i in previousAction.indices { previousAction[i] = 0 }
        for i in 0..<rows { previousReward[i] = 0; episodeEnd[i] = false; hasPrevious[i] = false }
    }

    /// The outcome of the step that followed row `row`'s last action.
    public mutating func noteStep(row: Int, reward: Double, ended: Bool) {
        previousReward[row] = reward
        episodeEnd[row] = ended
    }

    /// Row `row`'s episode restarted without the step ending it (a reset by hand): its next
    /// input has the episode-end flag (as training's trials have after an episode cut at the
    /// step cap), its state is kept. A row that has not acted yet is at its trial's start: nothing changes.
    public mutating func noteReset(row: Int) {
        if hasPrevious[row] { episodeEnd[row] = true }
    }

    /// One step of every row: `observation(row, k)` gives observation k of a row (the float32 the
    /// world gave, as a Double); each action component goes to `emit(row, k, value)` in the
    /// policy's units (`PolicyArchitecture.worldAction` makes it a world action). Rows in order,
    /// sampled actions from `rng` (row by row, component by component).
    public mutating func act(_ params: [Double], deterministic: Bool, rng: inout SeededGenerator,
                             observation obs: (Int, Int) -> Double, emit: (Int, Int, Double) -> Void) {
        let arch = math.architecture, net = math.network
        let n = arch.observationCount, width = arch.actionWidth, inputCount = net.inputCount
        for r in 0..<rows {
            for k in 0..<n { observation[k] = obs(r, k) }
            math.stepInput(observation: observation[0..<n],
                           previousAction: hasPrevious[r] ? previousAction[(r * width)..<((r + 1) * width)] : nil,
                           previousReward: previousReward[r], episodeEnd: episodeEnd[r], into: &input, at: r * inputCount)
        }
        let (out, _) = net.step(params, input: input, state: &hidden, batch: rows)
        for r in 0..<rows {
            math.sampleAction(params, outputs: out, row: r, deterministic: deterministic, rng: &rng) { k, v in
                previousAction[r * width + k] = v
                emit(r, k, v)
            }
            hasPrevious[r] = true
            previousReward[r] = 0
            episodeEnd[r] = false
        }
    }

    // MARK: The state as values

    /// Values per row: the network's state (`MemoryNetwork.stateCount`), the previous action, the previous reward, the episode-end
    /// flag (0/1) and whether the row has acted since its state was reset (0/1).
    public var valuesPerRow: Int { math.network.stateCount + math.architecture.actionWidth + 3 }
    public var stateCount: Int { rows * valuesPerRow }

    /// What a saved state must come from: the cell, its size, its inputs and the policy's
    /// observation and action layout (not its parameters: a state moves between policies of one
    /// architecture).
    public var architectureTag: String { Self.architectureTag(math.architecture) }

    public static func architectureTag(_ a: PolicyArchitecture) -> String {
        let r = a.recurrent
        let kind = a.kind == .gaussian ? "gaussian" : "categorical"
        return "\(r?.cell ?? "none")-h\(r?.hiddenSize ?? 0)\(r?.latentSize.map { "-z\($0)" } ?? "")-o\(a.observationCount)-a\(a.actionCount)-\(kind)-in:"
            + (r?.inputs ?? []).joined(separator: ",")
    }

    /// The whole state, row by row (`valuesPerRow` values each).
    public func save() -> [Double] {
        let h = math.network.stateCount, w = math.architecture.actionWidth
        var out: [Double] = []
        out.reserveCapacity(stateCount)
        for r in 0..<rows {
            out += hidden[(r * h)..<((r + 1) * h)]
            out += previousAction[(r * w)..<((r + 1) * w)]
            out.append(previousReward[r])
            out.append(episodeEnd[r] ? 1 : 0)
            out.append(hasPrevious[r] ? 1 : 0)
        }
        return out
    }

    /// Replaces the state with a saved one, after checking all of it: a state refused leaves
    /// this one untouched.
    public mutating func restore(_ values: [Double], architecture tag: String) throws(RecurrentStateError) {
        guard tag == architectureTag else { throw .otherArchitecture(expected: architectureTag, got: tag) }
        guard values.count == stateCount else { throw .wrongSize(expected: stateCount, got: values.count) }
        let h = math.network.stateCount, w = math.architecture.actionWidth, per = valuesPerRow
        let discrete = math.architecture.kind == .categorical ? math.architecture.actionCount : nil
        for r in 0..<rows {
            let base = r * per
            for j in 0..<per where !values[base + j].isFinite {
                let field = j < h ? math.network.stateField(j) : j < h + w ? "previous_action[\(j - h)]" : ["previous_reward", "episode_end", "has_previous"][j - h - w]
                throw .notFinite(row: r, field: field)
            }
            for (j, name) in [(h + w + 1, "episode_end"), (h + w + 2, "has_previous")] where values[base + j] != 0 && values[base + j] != 1 {
                throw .outOfRange(row: r, field: name, value: values[base + j])
            }
            if let (field, value) = math.network.stateProblem(values[base..<(base + h)]) { throw .outOfRange(row: r, field: field, value: value) }
            if let discrete, values[base + h + w + 2] == 1 {
                let a = values[base + h]
                guard a == a.rounded(), a >= 0, a < Double(discrete) else { throw .outOfRange(row: r, field: "previous_action[0]", value: a) }
            }
        }
        for r in 0..<rows {
            let base = r * per
            for j in 0..<h { hidden[r * h + j] = values[base + j] }
            for k in 0..<w { previousAction[r * w + k] = values[base + h + k] }
            previousReward[r] = values[base + h + w]
            episodeEnd[r] = values[base + h + w + 1] == 1
            hasPrevious[r] = values[base + h + w + 2] == 1
        }
    }
}
