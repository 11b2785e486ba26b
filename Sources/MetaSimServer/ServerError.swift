import MetaSimCore
import MetaSimProtocol

/// Why the server could not start or go on.
public enum ServerError: Error, CustomStringConvertible, Sendable {
    /// The socket path could not be bound (in use by a live server, not a socket, too long...).
    case socket(path: String, message: String)
    /// No world catalog could be loaded.
    case catalog(String)
    /// The configuration file has errors (each `path:line:column: error: key.path: message`).
    case configuration([Diagnostic])
    /// The sockets passed by the service manager (socket activation) cannot be used.
    case activation(String)
    /// The policies folder setting names something that is not a readable folder.
    case policies(path: String, message: String)

    /// One line per problem (for logs that show one event per line).
    public var lines: [String] {
        if case .configuration(let diagnostics) = self { return diagnostics.map(\.description) }
        return [description]
    }

    public var description: String {
        switch self {
        case .socket(let path, let message): return "\(path): error: \(message)"
        case .catalog(let message): return "error: \(message)"
        case .configuration(let diagnostics): return diagnostics.map(\.description).joined(separator: "\n")
        case .activation(let message): return "socket activation: error: \(message)"
        case .policies(let path, let message): return "\(path): error: policies: \(message)"
        }
    }
}

/// A request that failed: sent back as an error response (errors are values, not crashes).
struct RequestFailure: Error, Sendable {
    var code: ErrorCode
    var message: String
    var fatal = false
    var diagnostics: [String]? = nil
    /// The limit that refused the request (counted for monitoring; not sent).
    var limit: Limit? = nil

    init(_ code: ErrorCode, _ message: String, fatal: Bool = false, diagnostics: [String]? = nil) {
        self.code = code
        self.message = message
        self.fatal = fatal
        self.diagnostics = diagnostics
    }

    /// A refusal by `limit` (`limit_exceeded`).
    init(limit: Limit, _ message: String) {
        self.init(.limitExceeded, message)
        self.limit = limit
    }

    /// `limit_exceeded` by `limit` when `exceeded`, else `bad_request` (a value below a range's start).
    init(beyond limit: Limit, exceeded: Bool, _ message: String) {
        self.init(exceeded ? .limitExceeded : .badRequest, message)
        if exceeded { self.limit = limit }
    }

    var reply: ErrorReply { ErrorReply(code: code, message: message, fatal: fatal, diagnostics: diagnostics) }
}
