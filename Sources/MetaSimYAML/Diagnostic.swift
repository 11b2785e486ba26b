/// One problem in a YAML file read by a schema (a world, a batch spec, the daemon's
/// configuration), printed compiler style:
/// `worlds/robots/cartpole.yaml:12:7: error: bodies.pole.shapes[0].density: must be positive`.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    /// Dotted key path of the offending value (`joints.hip.limits[1]`), empty for file-level problems.
    public let keyPath: String
    public let message: String

    public init(file: String, line: Int, column: Int, keyPath: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
    }

    public init(file: String, mark: YAMLMark, keyPath: String, message: String) {
        self.init(file: file, line: mark.line, column: mark.column, keyPath: keyPath, message: message)
    }

    /// A YAML error (syntax, duplicate key...) as a file-level diagnostic at its position
    /// (0:0 when it has none).
    public init(_ error: YAMLError) {
        self.init(file: error.file, mark: error.mark ?? YAMLMark(line: 0, column: 0), keyPath: "", message: error.message)
    }

    public var description: String {
        let location = line > 0 ? "\(file):\(line):\(column)" : file
        return keyPath.isEmpty ? "\(location): error: \(message)" : "\(location): error: \(keyPath): \(message)"
    }
}

/// A place in a YAML file: where a value was written, for problems found after the schema walk
/// (a sampled size that is negative, a policy that does not fit its world).
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
