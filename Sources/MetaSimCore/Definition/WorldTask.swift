import MetaSimYAML

/// One world of a family: a value for every parameter (constants included).
///
/// A task is either sampled from a task seed (`WorldDefinition.sampleTask(seed:)`), or the
/// nominal task (each distribution at its `nominal` value or centre), with optional explicit
/// overrides (`--param gravity=-9`).
public struct WorldTask: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The task seed it was drawn from; nil for the nominal task.
    public let seed: UInt64?
    /// Parameter names and values, in declaration order.
    public let names: [String]
    public let values: [Double]

    public init(seed: UInt64?, names: [String], values: [Double]) {
        self.seed = seed
        self.names = names
        self.values = values
    }

    public subscript(_ name: String) -> Double? {
        names.firstIndex(of: name).map { values[$0] }
    }

    /// A stable 64-bit identity of the task (seeds episode streams).
    public var identity: UInt64 {
        var h = SplitMix64.mix(seed ?? 0xFFFF_FFFF_FFFF_FFFF)
        for v in values { h = SplitMix64.mix(h, v.bitPattern) }
        return h
    }

    public var description: String {
        zip(names, values).map { "\($0)=\(formatNumber($1))" }.joined(separator: " ")
    }
}

extension WorldDefinition {
    /// Draws a task of the family from `seed` (parameters in declaration order), applying
    /// `overrides` (which later parameters see).
    public func sampleTask(seed: UInt64, overrides: [String: Double] = [:]) throws(WorldError) -> WorldTask {
        var rng = SeededGenerator(seed: seed, stream: RandomStream.task)
        return try makeTask(seed: seed, overrides: overrides) { (scalar: Scalar) throws(WorldError) -> Double in
            scalar.sample(&rng)
        }
    }

    /// The nominal task: every parameter at its `nominal:` value, or the centre of its distribution.
    public func nominalTask(overrides: [String: Double] = [:]) throws(WorldError) -> WorldTask {
        try makeTask(seed: nil, overrides: overrides) { (scalar: Scalar) throws(WorldError) -> Double in
            try scalar.nominal { _ in nil }
        }
    }

    private func makeTask(seed: UInt64?, overrides: [String: Double],
                          draw: (Scalar) throws(WorldError) -> Double) throws(WorldError) -> WorldTask {
        let declared = Set(parameters.map(\.name))
        for (name, value) in overrides {
            guard declared.contains(name) else {
                let near = closest(name, in: parameters.map(\.name)).map { " (did you mean '\($0)'?)" } ?? ""
                throw WorldError.badParameter(name: name, message: "world '\(self.name)' has no such parameter\(near)")
            }
            guard value.isFinite, abs(value) <= WorldLimits.maxMagnitude else {
                // The same check as a value written in the file, at the parameter's place in it.
                let origin = parameters.first { $0.name == name }?.value.origin ?? .none
                throw WorldError.invalid([Diagnostic(
                    file: origin.file, mark: origin.mark, keyPath: "parameters.\(name)",
                    message: "the value \(formatNumber(value)) given for '\(name)' is not \(ValueConstraint.any.text)")])
            }
        }
        var names: [String] = []
        var values: [Double] = []
        var index: [String: Int] = [:]
        for p in parameters {
            let lookup: (String) -> Double? = { n in index[n].map { values[$0] } }
            let resolved = try p.value.resolved(lookup)
            var v: Double
            if seed == nil, let nominal = p.nominal {
                v = try nominal.resolved(lookup).literalValue ?? 0
            } else {
                v = try draw(resolved)
            }
            if let o = overrides[p.name] { v = o }
            if index[p.name] == nil { index[p.name] = names.count }
            names.append(p.name)
            values.append(v)
        }
        return WorldTask(seed: seed, names: names, values: values)
    }
}
