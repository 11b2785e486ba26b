import Foundation
import MetaSimCore

/// What a recurrent policy's checkpoint records of its network (`PolicyArchitecture.recurrent`):
/// the cell, its size and the inputs it reads at each step, in order. A checkpoint whose record
/// this metasim does not build exactly is refused at load, naming the field.
public struct RecurrentCell: Sendable, Equatable, Codable {
    /// The only cell: "gru" (`GRUNetwork`).
    public var cell: String
    public var hiddenSize: Int
    /// The step inputs, in order (`RecurrentCell.stepInputs`).
    public var inputs: [String]

    public static let gru = "gru"

    /// What a GRU policy reads at each step: the normalized observation, the previous action (its
    /// sample in the policy's units, clipped to ±`RecurrentCell.actionClip`; one-hot for discrete
    /// actions), the previous reward (clipped to ±`RecurrentCell.rewardClip`) and 1 when the
    /// previous step ended an episode of the trial (0 otherwise). All three are 0 at a trial's
    /// first step, where the state is reset.
    public static let stepInputs = ["observation", "previous_action", "previous_reward", "episode_end"]

    public static let actionClip = 5.0
    public static let rewardClip = 10.0

    public init(hiddenSize: Int) {
        cell = Self.gru
        self.hiddenSize = hiddenSize
        inputs = Self.stepInputs
    }
}

extension PolicyArchitecture {
    /// A recurrent architecture: a GRU of `hiddenSize` units on `base`'s observations and actions.
    public static func recurrent(_ base: PolicyArchitecture, hiddenSize: Int) -> PolicyArchitecture {
        var a = base
        a.hidden = []
        a.recurrent = RecurrentCell(hiddenSize: hiddenSize)
        return a
    }

    /// The GRU's inputs per step: observations, the previous action (one per action dimension or
    /// discrete action), the previous reward and the episode-end flag.
    public var recurrentInputCount: Int { observationCount + actionCount + 2 }

    /// The GRU and its heads (nil: a feed-forward policy).
    public var recurrentNetwork: GRUNetwork? {
        recurrent.map { GRUNetwork(inputCount: recurrentInputCount, hiddenCount: $0.hiddenSize, outputCount: actionCount) }
    }

    /// What makes a recorded recurrent architecture unusable, naming the field (nil: nothing).
    var recurrentProblem: String? {
        guard let r = recurrent else { return nil }
        guard r.cell == RecurrentCell.gru else { return "recurrent.cell '\(r.cell)' is not a cell this metasim builds ('\(RecurrentCell.gru)')" }
        guard (1...Checkpoint.Limits.maxWidth).contains(r.hiddenSize) else {
            return "recurrent.hiddenSize \(r.hiddenSize) is not in 1...\(Checkpoint.Limits.maxWidth)"
        }
        guard r.inputs == RecurrentCell.stepInputs else {
            return "recurrent.inputs \(r.inputs) are not the inputs this metasim feeds a GRU (\(RecurrentCell.stepInputs))"
        }
        guard hidden.isEmpty else { return "hidden \(hidden) must be empty for a recurrent policy (its size is recurrent.hiddenSize)" }
        guard contextCount == 0, (taskInputs ?? []).isEmpty else {
            return "a recurrent policy has no contextParameters or taskInputs"
        }
        return nil
    }
}
