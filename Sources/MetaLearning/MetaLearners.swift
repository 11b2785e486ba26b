import MetaSimCore

/// The registry of meta-learning algorithms: adding one is its own file in Learners/ and one line
/// here. The order is `metasim train --algo`'s list and the order the adaptation runner tries
/// learners in for a policy whose checkpoint's learner does not adapt it.
public enum MetaLearners {
    public static let all: [any MetaLearner] = [
        MAMLLearner(),
        ReptileLearner(),
        MultitaskLearner(),
        OracleLearner(),
        MetaQLearner(),
        RecurrentLearner(),
        ContextLearner(),
    ]

    /// The learner of a checkpoint's `algorithm` (nil: one this metasim does not know).
    public static func learner(named name: String) -> (any MetaLearner)? {
        all.first { $0.algorithms.contains { $0.rawValue == name } }
    }

    /// The learner of an algorithm (every `MetaAlgorithm` value names a registered one).
    public static func learner(for algorithm: MetaAlgorithm) -> any MetaLearner {
        guard let l = learner(named: algorithm.rawValue) else { preconditionFailure("no learner trains '\(algorithm.rawValue)'") }
        return l
    }

    /// The learner that adapts `policy`: its checkpoint's (`algorithm`) when it can, else the
    /// first registered one that can (a fresh baseline, or a checkpoint of an unknown algorithm).
    public static func adaptationLearner(for policy: Policy, algorithm: String? = nil) -> any MetaLearner {
        if let a = algorithm.flatMap(learner(named:)), a.canAdapt(policy) { return a }
        guard let l = all.first(where: { $0.canAdapt(policy) }) else { preconditionFailure("no learner adapts this policy") }
        return l
    }

    /// The algorithms whose learners understand `option`, as "a, b or c".
    public static func algorithms(supporting option: MetaLearnerOptions) -> String {
        let names = all.filter { $0.options.contains(option) }.flatMap(\.algorithms).map(\.rawValue)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names[names.count - 1]
    }
}

/// An algorithm name: one of those the registered learners train (`MetaLearners`). Each learner's
/// file declares its own (`static let maml`, …).
public struct MetaAlgorithm: RawRepresentable, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    /// A registered algorithm (nil: no learner trains `rawValue`).
    public init?(rawValue: String) {
        guard MetaLearners.learner(named: rawValue) != nil else { return nil }
        self.rawValue = rawValue
    }

    /// The name a learner declares.
    init(declaring name: String) { rawValue = name }

    /// Every registered algorithm, in registration order.
    public static var allCases: [MetaAlgorithm] { MetaLearners.all.flatMap(\.algorithms) }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let a = MetaAlgorithm(rawValue: name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown algorithm '\(name)'")
        }
        self = a
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
}
