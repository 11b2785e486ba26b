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

    public init(_ kind: Kind, origin: Origin) {
        self.kind = kind
        self.origin = origin
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

/// A place in a world file.
public struct Origin: Sendable, Equatable {
    public let file: String
    public let mark: YAMLMark
    public let keyPath: String

    public init(file: String, mark: YAMLMark, keyPath: String) {
        self.file = file
        self.mark = mark
        self.keyPath = keyPath
    }

    public static let none = Origin(file: "<built-in>", mark: YAMLMark(line: 0, column: 0), keyPath: "")

    public func diagnostic(_ message: String) -> Diagnostic {
        Diagnostic(file: file, mark: mark, keyPath: keyPath, message: message)
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
                throw WorldError.invalid([origin.diagnostic("'\(expression.source)' is not finite (\(value)) for this task")])
            }
            return Scalar(.value(value), origin: origin)
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
            return Scalar(.random(d), origin: origin)
        }
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
            let a = Int(lo.sample(&rng).rounded()), b = Int(hi.sample(&rng).rounded())
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

/// Shortest round-tripping text of a number, without a trailing ".0" for integers.
public func formatNumber(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}
