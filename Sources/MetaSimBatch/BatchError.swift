import MetaSimCore

/// Why a batch could not be planned, run, resumed or merged.
public enum BatchError: Error, Sendable, CustomStringConvertible {
    /// The spec has problems (syntax, schema, or worlds and parameters it names): all of them.
    case invalid([Diagnostic])
    /// A unit's policy cannot be made: its checkpoint does not fit the task's instance, or its
    /// adaptation failed.
    case policyUnavailable(Diagnostic)
    /// The output folder cannot be used: it holds another batch, or a different spec on `--resume`.
    case directory(path: String, message: String)
    /// Reading or writing a file failed.
    case io(path: String, message: String)
    /// Shard outputs that do not join into one batch.
    case merge(String)
    /// A bad `--shard` or shard environment.
    case shard(String)

    public var description: String {
        switch self {
        case .invalid(let diagnostics): return diagnostics.map(\.description).joined(separator: "\n")
        case .policyUnavailable(let d): return d.description
        case .directory(let path, let message): return "\(path): error: \(message)"
        case .io(let path, let message): return "\(path): error: \(message)"
        case .merge(let message): return "error: merge: \(message)"
        case .shard(let message): return "error: shard: \(message)"
        }
    }
}
