import Foundation

/// The one random number generator of metasim: xoshiro256** seeded through SplitMix64.
///
/// Every random draw in a world (task parameters, episode perturbations, terrain, tracks) comes
/// from a `SeededGenerator` whose seed is derived from explicit seeds, so a world is fully
/// determined by (file, task seed, episode seed). The algorithm is fixed and platform independent:
/// changing it changes every world, so it is versioned with the world format.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator for `seed` in the independent stream `stream` (e.g. "task", "episode").
    public init(seed: UInt64, stream: UInt64 = 0) {
        var sm = SplitMix64(state: seed ^ (stream &* 0x9E37_79B9_7F4A_7C15))
        s0 = sm.next(); s1 = sm.next(); s2 = sm.next(); s3 = sm.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in [low, high) (exactly `low` when the interval is empty).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * unit()
    }

    /// Uniform integer in the closed range [low, high], without modulo bias.
    public mutating func integer(_ low: Int, _ high: Int) -> Int {
        precondition(low <= high)
        let span = UInt64(bitPattern: Int64(high) &- Int64(low)) &+ 1
        if span == 0 { return Int(bitPattern: UInt(next())) }
        return low + Int(next(upperBound: span))
    }

    /// Standard normal draw (Box-Muller; uses two uniforms, no cached spare so that the sequence
    /// of draws stays a pure function of the call sequence).
    public mutating func normal() -> Double {
        var u1 = unit()
        if u1 <= 0 { u1 = 0x1.0p-53 }
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): seeds xoshiro and mixes seeds.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Mixes several values into one seed (order matters).
    public static func mix(_ values: UInt64...) -> UInt64 {
        var h = SplitMix64(state: 0x6A09_E667_F3BC_C908)
        var acc: UInt64 = 0
        for v in values {
            h.state ^= v
            acc = h.next() ^ (acc &* 0x100_0000_01B3)
        }
        return acc
    }
}

/// Named streams, so that adding draws of one kind never shifts the draws of another.
public enum RandomStream {
    public static let task: UInt64 = 1
    public static let episode: UInt64 = 2
    public static let physicsNoise: UInt64 = 3
    public static let policy: UInt64 = 4
}
