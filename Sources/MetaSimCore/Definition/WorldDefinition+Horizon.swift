extension WorldDefinition {
    /// The largest episode length a world file or an override may set.
    public static let maxHorizon = 100_000_000

    /// The same world with episodes truncated after `horizon` steps (nil: unchanged). Used by
    /// `metasim train --horizon` and by sessions opened with a `horizon` (protocol 1.1).
    public func withHorizon(_ horizon: Int?) -> WorldDefinition {
        guard let horizon else { return self }
        var d = self
        d.episode.horizon = horizon
        return d
    }
}
