import Foundation
import MetaSimCore

/// What a policy with memory records of its network in its checkpoint
/// (`PolicyArchitecture.recurrent`): the cell, its size and the inputs it reads at each step, in
/// order. A checkpoint whose record this metasim does not build exactly is refused at load,
/// naming the field.
public struct RecurrentCell: Sendable, Equatable, Codable {
    /// "gru" (RL², `GRUNetwork`) or "context" (`ContextNetwork`).
    public var cell: String
    /// The GRU's size; the context encoder's and policy's hidden width.
    public var hiddenSize: Int
    /// The step inputs, in order (`RecurrentCell.stepInputs`).
    public var inputs: [String]
    /// The context cell's latent task vector size (nil for a GRU).
    public var latentSize: Int?
    /// What the previous reward is multiplied by before the network reads it (nil: 1, as in
    /// checkpoints written before the field existed). A world whose rewards are a few hundredths
    /// a step gives the cell an input too small to learn from at Adam's step size; this brings it
    /// to order one (`metasim train --reward-input-scale`). The clip applies after it.
    public var rewardScale: Double?

    public static let gru = "gru"
    public static let context = "context"
    public static let cells = [gru, context]

    /// What a policy with memory reads at each step: the normalized observation, the previous action (its
    /// sample in the policy's units, clipped to ±`RecurrentCell.actionClip`; one-hot for discrete
    /// actions), the previous reward (clipped to ±`RecurrentCell.rewardClip`) and 1 when the
    /// previous step ended an episode of the trial (0 otherwise). All three are 0 at a trial's
    /// first step, where the state is reset.
    public static let stepInputs = ["observation", "previous_action", "previous_reward", "episode_end"]

    public static let actionClip = 5.0
    public static let rewardClip = 10.0
    /// The largest `rewardScale` a checkpoint may record.
    public static let maxRewardScale = 1e6

    /// The factor applied to the previous reward (`rewardScale`, 1 when absent).
    public var rewardInputScale: Double { rewardScale ?? 1 }

    public init(hiddenSize: Int) {
        cell = Self.gru
        self.hiddenSize = hiddenSize
        inputs = Self.stepInputs
    }

    /// A context cell: encoder and policy of width `hiddenSize`, a latent vector of `latentSize`.
    public init(contextHiddenSize hiddenSize: Int, latentSize: Int) {
        cell = Self.context
        self.hiddenSize = hiddenSize
        inputs = Self.stepInputs
        self.latentSize = latentSize
    }
}

extension PolicyArchitecture {
    /// A recurrent architecture: a GRU of `hiddenSize` units on `base`'s observations and actions
    /// (the reward read times `rewardScale`; nil: 1, not recorded).
    public static func recurrent(_ base: PolicyArchitecture, hiddenSize: Int, rewardScale: Double? = nil) -> PolicyArchitecture {
        var a = base
        a.hidden = []
        a.recurrent = RecurrentCell(hiddenSize: hiddenSize)
        a.recurrent?.rewardScale = rewardScale
        return a
    }

    /// A context architecture: `ContextNetwork` of width `hiddenSize` and a latent vector of
    /// `latentSize` on `base`'s observations and actions.
    public static func context(_ base: PolicyArchitecture, hiddenSize: Int, latentSize: Int, rewardScale: Double? = nil) -> PolicyArchitecture {
        var a = base
        a.hidden = []
        a.recurrent = RecurrentCell(contextHiddenSize: hiddenSize, latentSize: latentSize)
        a.recurrent?.rewardScale = rewardScale
        return a
    }

    /// The step inputs' size: observations, the previous action (one per action dimension or
    /// discrete action), the previous reward and the episode-end flag.
    public var recurrentInputCount: Int { observationCount + actionCount + 2 }

    /// The network with memory (nil: a feed-forward policy). Only for an architecture without a
    /// `recurrentProblem` (a loaded checkpoint's has been checked).
    public var recurrentNetwork: MemoryNetwork? {
        guard let r = recurrent else { return nil }
        if r.cell == RecurrentCell.context {
            return .context(ContextNetwork(observationCount: observationCount, inputCount: recurrentInputCount, hiddenCount: r.hiddenSize,
                                           latentCount: r.latentSize ?? 1, outputCount: actionCount))
        }
        return .gru(GRUNetwork(inputCount: recurrentInputCount, hiddenCount: r.hiddenSize, outputCount: actionCount))
    }

    /// What makes a recorded recurrent architecture unusable, naming the field (nil: nothing).
    var recurrentProblem: String? {
        guard let r = recurrent else { return nil }
        guard RecurrentCell.cells.contains(r.cell) else {
            return "recurrent.cell '\(r.cell)' is not a cell this metasim builds (\(RecurrentCell.cells.map { "'\($0)'" }.joined(separator: ", ")))"
        }
        guard (1...Checkpoint.Limits.maxWidth).contains(r.hiddenSize) else {
            return "recurrent.hiddenSize \(r.hiddenSize) is not in 1...\(Checkpoint.Limits.maxWidth)"
        }
        if r.cell == RecurrentCell.context {
            guard let l = r.latentSize else { return "recurrent.latentSize is missing (a context cell needs its latent size)" }
            guard (1...Checkpoint.Limits.maxWidth).contains(l) else {
                return "recurrent.latentSize \(l) is not in 1...\(Checkpoint.Limits.maxWidth)"
            }
        } else if let l = r.latentSize {
            return "recurrent.latentSize \(l) is only for a context cell, not '\(r.cell)'"
        }
        if let s = r.rewardScale, !(s > 0 && s <= RecurrentCell.maxRewardScale) {
            return "recurrent.rewardScale \(s) is not a number in (0, 1e6]"
        }
        guard r.inputs == RecurrentCell.stepInputs else {
            return "recurrent.inputs \(r.inputs) are not the inputs this metasim feeds a '\(r.cell)' cell (\(RecurrentCell.stepInputs))"
        }
        guard hidden.isEmpty else { return "hidden \(hidden) must be empty for a recurrent policy (its size is recurrent.hiddenSize)" }
        guard contextCount == 0, (taskInputs ?? []).isEmpty else {
            return "a recurrent policy has no contextParameters or taskInputs"
        }
        return nil
    }
}
