import MetaSimYAML

/// A number in a world file: a literal, an expression over task parameters, or a distribution
/// drawn afresh every episode (an initial-pose perturbation, a terrain height).
///
/// Scalars are resolved in two stages: when a task is set, expressions are evaluated with the
/// task's parameter values (`resolved(in:)`), leaving literals and distributions with literal
/// bounds; at every reset the remaining distributions are drawn (`sample(_:)`).
public struct Scalar: Sendable {
    public indirect enum Kind: Sendable {
        case value(Double)
        case expression(Expression)
        case random(Distribution)
    }

    public let kind: Kind
    /// Where the scalar was written, for errors found later (e.g. a sampled size that is negative).
    public let origin: Origin
    /// The range the field accepts, checked again when expressions and distributions are
    /// resolved for a task (see `ValueConstraint`).
    public internal(set) var constraint: ValueConstraint = .any

    public init(_ kind: Kind, origin: Origin) {
        self.kind = kind
        self.origin = origin
    }

    init(_ kind: Kind, origin: Origin, constraint: ValueConstraint) {
        self.kind = kind
        self.origin = origin
        self.constraint = constraint
    }

    public static func literal(_ value: Double) -> Scalar {
        Scalar(.value(value), origin: .none)
    }

    /// The literal value, if the scalar is one.
    public var literalValue: Double? {
        if case .value(let v) = kind { return v }
        return nil
    }

    public var isRandom: Bool {
        if case .random = kind { return true }
        return false
    }
}

/// A distribution of a task parameter or of an episode-random field.
public enum Distribution: Sendable {
    /// Uniform on [low, high].
    case uniform(low: Scalar, high: Scalar)
    /// Uniform integer on [low, high].
    case integer(low: Scalar, high: Scalar)
    /// Normal, clipped to [low, high] (clipping, not truncation: the mass beyond goes to the bounds).
    case normal(mean: Scalar, std: Scalar, low: Scalar, high: Scalar)
    /// One of the values, with optional weights (normalised).
    case choice(values: [Scalar], weights: [Double]?)
}

extension Scalar {
    /// Evaluates expressions with the given parameters; distributions keep their kind but get
    /// literal bounds. Throws a diagnostic at the scalar's origin when an expression fails.
    public func resolved(_ lookup: (String) -> Double?) throws(WorldError) -> Scalar {
        switch kind {
        case .value:
            return self
        case .expression(let expression):
            let value: Double
            do { value = try expression.evaluate(lookup) } catch {
                throw WorldError.invalid([origin.diagnostic(error.message)])
            }
            guard value.isFinite else {
                throw WorldError.invalid([origin.diagnostic("'\(expression.source)' is not finite (\(value)) for this task\(Self.uses(expression, lookup))")])
            }
            guard constraint.admits(value...value) else {
                throw WorldError.invalid([origin.diagnostic(
                    "must be \(constraint.requirement(for: value...value)), found \(formatNumber(value)) ('\(expression.source)'\(Self.uses(expression, lookup, lead: "; ")))")])
            }
            return Scalar(.value(value), origin: origin, constraint: constraint)
        case .random(let distribution):
            let d: Distribution
            switch distribution {
            case .uniform(let lo, let hi):
                d = .uniform(low: try lo.resolved(lookup), high: try hi.resolved(lookup))
            case .integer(let lo, let hi):
                d = .integer(low: try lo.resolved(lookup), high: try hi.resolved(lookup))
            case .normal(let m, let s, let lo, let hi):
                d = .normal(mean: try m.resolved(lookup), std: try s.resolved(lookup),
                            low: try lo.resolved(lookup), high: try hi.resolved(lookup))
            case .choice(let values, let weights):
                var out: [Scalar] = []
                for v in values { out.append(try v.resolved(lookup)) }
                d = .choice(values: out, weights: weights)
            }
            if case .integer(let lo, let hi) = d {
                for bound in [lo, hi] {
                    if let v = bound.literalValue, abs(v) > WorldLimits.maxIntegerBound {
                        throw WorldError.invalid([origin.diagnostic(
                            "the bounds of an integer distribution must be within ±2^53, found \(formatNumber(v))")])
                    }
                }
            }
            if let support = d.checkedSupport, !constraint.admits(support) {
                throw WorldError.invalid([origin.diagnostic(
                    "the distribution's values must be \(constraint.requirement(for: support)), found \(d.summary) for this task")])
            }
            return Scalar(.random(d), origin: origin, constraint: constraint)
        }
    }

    /// ` (CHUNKS = 1e+30, W = 20)`: the parameter values an expression used, for errors.
    static func uses(_ e: Expression, _ lookup: (String) -> Double?, lead: String = " (") -> String {
        let parts = e.variables.sorted().compactMap { n in lookup(n).map { "\(n) = \(formatNumber($0))" } }
        guard !parts.isEmpty else { return "" }
        return lead + parts.joined(separator: ", ") + (lead == " (" ? ")" : "")
    }

    /// Draws the scalar (literal: returned as is). Only valid after `resolved(_:)`.
    public func sample(_ rng: inout SeededGenerator) -> Double {
        switch kind {
        case .value(let v):
            return v
        case .expression:
            preconditionFailure("Scalar.sample before resolution: \(origin.keyPath)")
        case .random(let distribution):
            return distribution.sample(&rng)
        }
    }

    /// The value for the nominal task: literals as is, distributions at their centre
    /// (mean, midpoint, or first choice).
    public func nominal(_ lookup: (String) -> Double?) throws(WorldError) -> Double {
        let r = try resolved(lookup)
        switch r.kind {
        case .value(let v): return v
        case .expression: preconditionFailure("resolved scalar holds an expression")
        case .random(let d): return d.center
        }
    }
}

extension Distribution {
    func sample(_ rng: inout SeededGenerator) -> Double {
        switch self {
        case .uniform(let lo, let hi):
            return rng.uniform(lo.sample(&rng), hi.sample(&rng))
        case .integer(let lo, let hi):
            // Bounds are checked to be within ±2^53 when resolved; the conversion cannot trap anyway.
            let a = Int(saturating: lo.sample(&rng).rounded()), b = Int(saturating: hi.sample(&rng).rounded())
            return Double(rng.integer(min(a, b), max(a, b)))
        case .normal(let m, let s, let lo, let hi):
            let mean = m.sample(&rng), std = s.sample(&rng), low = lo.sample(&rng), high = hi.sample(&rng)
            return min(max(mean + std * rng.normal(), low), high)
        case .choice(let values, let weights):
            guard let weights else {
                return values[rng.integer(0, values.count - 1)].sample(&rng)
            }
            let total = weights.reduce(0, +)
            var u = rng.unit() * total
            for (i, w) in weights.enumerated() {
                if u < w { return values[i].sample(&rng) }
                u -= w
            }
            return values[values.count - 1].sample(&rng)
        }
    }

    /// Centre of the distribution for nominal tasks (bounds must be resolved).
    var center: Double {
        switch self {
        case .uniform(let lo, let hi), .integer(let lo, let hi):
            return ((lo.literalValue ?? 0) + (hi.literalValue ?? 0)) / 2
        case .normal(let m, _, let lo, let hi):
            return min(max(m.literalValue ?? 0, lo.literalValue ?? -.infinity), hi.literalValue ?? .infinity)
        case .choice(let values, _):
            return values.first?.literalValue ?? 0
        }
    }

    /// Literal bounds of the distribution's support, when known.
    public var support: ClosedRange<Double>? {
        switch self {
        case .uniform(let lo, let hi), .integer(let lo, let hi), .normal(_, _, let lo, let hi):
            guard let a = lo.literalValue, let b = hi.literalValue else { return nil }
            return min(a, b)...max(a, b)
        case .choice(let values, _):
            let v = values.compactMap(\.literalValue)
            guard v.count == values.count, let a = v.min(), let b = v.max() else { return nil }
            return a...b
        }
    }

    /// The support to check against a field's constraint: a normal distribution without
    /// `min`/`max` (infinite clip bounds) has none; its mean and std are checked themselves.
    var checkedSupport: ClosedRange<Double>? {
        if case .normal(_, _, let lo, let hi) = self,
           !(lo.literalValue?.isFinite ?? true) || !(hi.literalValue?.isFinite ?? true) { return nil }
        return support
    }

    /// A short text for catalogs: `uniform(-12, -4)`.
    public var summary: String {
        func s(_ x: Scalar) -> String {
            switch x.kind {
            case .value(let v): return formatNumber(v)
            case .expression(let e): return e.source
            case .random: return "random"
            }
        }
        switch self {
        case .uniform(let lo, let hi): return "uniform(\(s(lo)), \(s(hi)))"
        case .integer(let lo, let hi): return "integer(\(s(lo)), \(s(hi)))"
        case .normal(let m, let sd, let lo, let hi): return "normal(\(s(m)), \(s(sd)), clip \(s(lo))..\(s(hi)))"
        case .choice(let values, _): return "choice(\(values.map(s).joined(separator: ", ")))"
        }
    }
}
