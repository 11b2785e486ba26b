import MetaSimProtocol

/// Why a client call failed. `server` is an error response (the connection stays usable unless
/// `reply.fatal`); the others mean the connection is gone or unusable.
public enum ClientError: Error, CustomStringConvertible, Sendable {
    case connect(path: String, message: String)
    case io(String)
    /// The server closed the connection.
    case closed
    /// A frame the client cannot read (a bug on one side).
    case protocolViolation(String)
    /// The server answered the request with an error.
    case server(kind: UInt16, id: UInt32, reply: ErrorReply)

    public var description: String {
        switch self {
        case .connect(let path, let message): return "\(path): cannot connect: \(message)"
        case .io(let message): return "connection error: \(message)"
        case .closed: return "the server closed the connection"
        case .protocolViolation(let message): return "protocol violation: \(message)"
        case .server(let kind, let id, let reply):
            let name = MessageKind(rawValue: kind)?.name ?? "kind \(kind)"
            var text = "\(name) (request \(id)): \(reply.code.rawValue): \(reply.message)"
            if let d = reply.diagnostics, d.count > 1 { text += "\n" + d.joined(separator: "\n") }
            return text
        }
    }

    /// The server's error code, if this is an error response.
    public var code: ErrorCode? {
        if case .server(_, _, let reply) = self { return reply.code }
        return nil
    }
}
