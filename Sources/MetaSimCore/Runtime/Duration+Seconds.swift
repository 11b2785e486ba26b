extension Duration {
    /// This duration in seconds: the package's one conversion from `Duration` to a number.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }

    /// This duration in whole milliseconds (toward zero).
    public var inMilliseconds: Int64 { components.seconds &* 1000 &+ components.attoseconds / 1_000_000_000_000_000 }
}

extension ContinuousClock.Instant {
    /// Seconds from this instant to now.
    public var secondsAgo: Double { (ContinuousClock.now - self).inSeconds }
}
