import Foundation
import MetaSimCore

/// The network of a policy that acts with memory (`PolicyArchitecture.recurrent`): RL²'s GRU or
/// the context encoder and policy (`ContextNetwork`). Both read the same step inputs
/// (`RecurrentCell.stepInputs`), carry a state of `stateCount` values per row that is reset on a
/// new task, and give head outputs and a value per step, so trials (`TrialSampler`), PPO
/// (`RecurrentMath`), acting with state (`RecurrentActor`) and the daemon serve either.
public enum MemoryNetwork: Sendable, Equatable {
    case gru(GRUNetwork)
    case context(ContextNetwork)

    public var inputCount: Int {
        switch self {
        case .gru(let g): g.inputCount
        case .context(let c): c.inputCount
        }
    }

    /// Values of one row's state.
    public var stateCount: Int {
        switch self {
        case .gru(let g): g.hiddenCount
        case .context(let c): c.stateCount
        }
    }

    public var parameterCount: Int {
        switch self {
        case .gru(let g): g.parameterCount
        case .context(let c): c.parameterCount
        }
    }

    public func initialParameters(seed: UInt64) -> [Double] {
        switch self {
        case .gru(let g): g.initialParameters(seed: seed)
        case .context(let c): c.initialParameters(seed: seed)
        }
    }

    /// One step of `batch` rows: `state` (batch × stateCount) becomes the new state.
    public func step(_ params: [Double], input: [Double], state: inout [Double], batch: Int) -> (outputs: [Double], values: [Double]) {
        switch self {
        case .gru(let g): g.step(params, input: input, hidden: &state, batch: batch)
        case .context(let c): c.step(params, input: input, state: &state, batch: batch)
        }
    }

    /// A forward pass over one sequence, kept for `backward`.
    public enum Sequence: Sendable {
        case gru(GRUNetwork.Sequence)
        case context(ContextNetwork.Sequence)

        public var outputs: [Double] {
            switch self {
            case .gru(let s): s.outputs
            case .context(let s): s.outputs
            }
        }

        public var values: [Double] {
            switch self {
            case .gru(let s): s.values
            case .context(let s): s.values
            }
        }
    }

    /// Runs `length` steps from a reset state, resetting it before every step t with `resets[t]`.
    public func forward(_ params: [Double], inputs: [Double], resets: [Bool], length: Int) -> Sequence {
        switch self {
        case .gru(let g): .gru(g.forward(params, inputs: inputs, resets: resets, length: length))
        case .context(let c): .context(c.forward(params, inputs: inputs, resets: resets, length: length))
        }
    }

    /// Adds d(loss)/d(params) to `gradient` for the forward pass `s`. `truncation` is the GRU's
    /// truncated BPTT; a context policy's pooled code has no chain through time to cut.
    public func backward(_ params: [Double], sequence s: Sequence, outputGradient: [Double], valueGradient: [Double],
                         gradient: inout [Double], truncation: Int = 0) {
        switch (self, s) {
        case (.gru(let g), .gru(let seq)):
            g.backward(params, sequence: seq, outputGradient: outputGradient, valueGradient: valueGradient, gradient: &gradient,
                       truncation: truncation)
        case (.context(let c), .context(let seq)):
            c.backward(params, sequence: seq, outputGradient: outputGradient, valueGradient: valueGradient, gradient: &gradient)
        default:
            preconditionFailure("a sequence goes back through the network that ran it")
        }
    }

    /// The name of value j of a row's state (for errors).
    public func stateField(_ j: Int) -> String {
        switch self {
        case .gru: "state[\(j)]"
        case .context(let c): c.stateField(j)
        }
    }

    /// What is wrong with one row's finite state values beyond finiteness (nil: nothing).
    public func stateProblem(_ row: ArraySlice<Double>) -> (field: String, value: Double)? {
        switch self {
        case .gru: nil
        case .context(let c): c.stateProblem(row)
        }
    }
}
