/// A policy that drives single-world episodes (`EpisodeRunner`): reset with each episode's seed,
/// then asked for one action per step from the latest observation. One instance per thread.
///
/// Determinism: whatever an episode's actions draw (sampling noise) must come from the seed
/// given to `reset` alone, so an episode depends on its seed, not on the episodes before it.
public protocol EpisodePolicy {
    /// Starts an episode with this episode seed.
    mutating func reset(seed: UInt64)
    /// Writes the action for `observation` (the world's `observationCount` floats) into `action`
    /// (its `actionCount` floats; a discrete world takes the index as one float).
    mutating func act(observation: UnsafeBufferPointer<Float>, into action: UnsafeMutablePointer<Float>)
    /// The outcome of the step that followed the last action: its reward and whether it ended
    /// the episode. A policy with memory reads it; the others ignore it (the default).
    mutating func observe(reward: Double, ended: Bool)
}

extension EpisodePolicy {
    public mutating func observe(reward: Double, ended: Bool) {}
}

extension BaselinePolicy: EpisodePolicy {
    /// Reseeds the policy's random stream with the episode seed (as a new policy would be).
    public mutating func reset(seed: UInt64) {
        self = BaselinePolicy(kind, specs: specs, seed: seed)
    }

    /// Baselines ignore the observation.
    public mutating func act(observation: UnsafeBufferPointer<Float>, into action: UnsafeMutablePointer<Float>) {
        act(into: action)
    }
}
