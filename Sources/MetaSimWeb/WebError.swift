import MetaSimServer

/// Why the web view could not start.
public enum WebError: Error, CustomStringConvertible, Sendable {
    /// The address and port could not be bound (in use, not permitted, no such address).
    case unavailable(address: String, port: Int, reason: String)
    /// The settings are not allowed (a non-loopback address without `allow_remote`).
    case settings(String)

    public var description: String {
        switch self {
        case .unavailable(let address, let port, let reason):
            return "http: cannot listen on \(address):\(port): \(reason)"
        case .settings(let message): return "http: \(message)"
        }
    }
}
