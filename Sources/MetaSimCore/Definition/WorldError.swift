import MetaSimYAML

/// A problem in a world file, with its file, line, column and key path (`MetaSimYAML.Diagnostic`).
public typealias Diagnostic = MetaSimYAML.Diagnostic
/// A place in a world file (`MetaSimYAML.Origin`).
public typealias Origin = MetaSimYAML.Origin

/// Why a world could not be loaded or instantiated. Nothing is half-loaded: any error means no world.
public enum WorldError: Error, Sendable, CustomStringConvertible {
    /// The file has one or more problems (syntax, schema, values, references).
    case invalid([Diagnostic])
    /// No catalog world or file by that name.
    case notFound(name: String, searched: [String])
    /// Box2D refused a shape or joint that passed validation (e.g. a polygon degenerate for
    /// the sampled task parameters).
    case physics(Diagnostic)
    /// A task parameter given on the command line or through the API that the family lacks, or
    /// a value that is not finite.
    case badParameter(name: String, message: String)
    /// The work was cancelled (`Cancellation`) before it finished: a batch being built, a reset's
    /// settle steps. An instance whose reset was cancelled needs another reset.
    case cancelled(String)
    /// The world would need more memory than allowed (see `WorldCost` and `WorldLimits`).
    case limitExceeded(String)

    public var description: String {
        switch self {
        case .invalid(let diagnostics):
            return diagnostics.map(\.description).joined(separator: "\n")
        case .notFound(let name, let searched):
            return "error: no world named '\(name)' (looked in: \(searched.joined(separator: ", ")))"
        case .physics(let diagnostic):
            return diagnostic.description
        case .badParameter(let name, let message):
            return "error: parameter '\(name)': \(message)"
        case .cancelled(let what):
            return "error: cancelled: \(what)"
        case .limitExceeded(let message):
            return "error: \(message)"
        }
    }

    /// The diagnostics this error carries (one for the single-problem cases).
    public var diagnostics: [Diagnostic] {
        switch self {
        case .invalid(let d): return d
        case .physics(let d): return [d]
        case .notFound, .badParameter, .cancelled, .limitExceeded: return []
        }
    }
}
