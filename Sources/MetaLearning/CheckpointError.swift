/// Why a checkpoint could not be written, read, or used.
public enum CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be read or written.
    case io(path: String, message: String)
    /// The file ends before the data its header announces (an interrupted copy or download).
    case truncated(path: String, message: String)
    /// Not a safetensors file metasim can read, or not a metasim policy.
    case malformed(path: String, message: String)
    /// A valid policy for another world, observation or action layout.
    case mismatch(path: String, message: String)

    public var description: String {
        switch self {
        case .io(let p, let m): return "\(p): error: \(m)"
        case .truncated(let p, let m): return "\(p): error: truncated checkpoint: \(m)"
        case .malformed(let p, let m): return "\(p): error: not a metasim policy checkpoint: \(m)"
        case .mismatch(let p, let m): return "\(p): error: checkpoint does not fit this world: \(m)"
        }
    }
}
