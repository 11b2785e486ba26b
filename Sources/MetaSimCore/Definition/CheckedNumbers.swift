import Foundation
import MetaSimYAML

/// The range a numeric world field must lie in. Checked when the file is read (literals and
/// literal distribution bounds) and again when a task is set (expressions over parameters,
/// distributions with parameter bounds, parameter overrides), so that a value given through
/// `--param` or the protocol's `params` gets the same validation as one written in the file.
public enum ValueConstraint: Sendable, Equatable {
    case any
    case positive
    case nonNegative
    case unit
    /// A count or size: positive and at most `max` (converted to an integer when the world is built).
    case count(max: Double)
    /// An index or length: zero or positive and at most `max`.
    case index(max: Double)

    func admits(_ r: ClosedRange<Double>) -> Bool {
        guard r.lowerBound >= -WorldLimits.maxMagnitude, r.upperBound <= WorldLimits.maxMagnitude else { return false }
        switch self {
        case .any: return true
        case .positive: return r.lowerBound > 0
        case .nonNegative: return r.lowerBound >= 0
        case .unit: return r.lowerBound >= 0 && r.upperBound <= 1
        case .count(let max): return r.lowerBound > 0 && r.upperBound <= max
        case .index(let max): return r.lowerBound >= 0 && r.upperBound <= max
        }
    }

    /// What a value in `r` breaks: the magnitude limit, or the field's own range.
    func requirement(for r: ClosedRange<Double>) -> String {
        r.lowerBound >= -WorldLimits.maxMagnitude && r.upperBound <= WorldLimits.maxMagnitude ? text : "within ±1e9"
    }

    var text: String {
        switch self {
        case .any: return "within ±1e9"
        case .positive: return "positive"
        case .nonNegative: return "zero or positive"
        case .unit: return "between 0 and 1"
        case .count(let max): return "positive and at most \(formatNumber(max))"
        case .index(let max): return "between 0 and \(formatNumber(max))"
        }
    }
}

/// Hard limits of the world format on counts a world value turns into: whatever the memory
/// budget, a world beyond them is refused as invalid (documented in docs/worlds.md).
public enum WorldLimits {
    /// Largest magnitude of any number in a world (a value, a parameter, a distribution bound):
    /// Box2D computes in 32-bit floats, where products of larger values (areas, inertias)
    /// overflow to infinity and its solvers stop converging.
    public static let maxMagnitude = 1e9
    /// Points of one terrain profile (and chunks of a smoothed-chunks terrain).
    public static let maxTerrainPoints = 1_000_000
    /// Centre-line points of a track (after spacing), and its checkpoints.
    public static let maxTrackPoints = 1_000_000
    /// Bounds of an `integer` distribution: within ±2^53, where doubles are exact.
    public static let maxIntegerBound = 9_007_199_254_740_992.0
    /// Estimated bytes of one instance (`WorldCost`): a world beyond it is refused when its
    /// task is set, before anything is built.
    public static let maxInstanceBytes = 1 << 30
    /// Estimated bytes of one `WorldBatch` outside the daemon (which has its own budgets):
    /// the machine's physical memory.
    public static let maxBatchBytes = Int(clamping: ProcessInfo.processInfo.physicalMemory)
}

extension Int {
    /// A checked conversion that never traps: NaN is 0, values beyond the `Int` range are
    /// clamped, others are truncated toward zero (as `Int(_:)` does). Used where a world value
    /// becomes a count after validation, as a second line of defence.
    init(saturating v: Double) {
        if v.isNaN { self = 0; return }
        if v >= 9.2e18 { self = Int.max; return }
        if v <= -9.2e18 { self = Int.min; return }
        self = Int(v)
    }
}
