/// The first line of a file of a malformed corpus (worlds in MetaSimCoreTests/Malformed, batch
/// specs in MetaSimBatchTests/MalformedBatches) states the one diagnostic the file must produce:
///
///     # expect: LINE:COLUMN KEY.PATH | message fragment
///
/// (KEY.PATH is empty for problems found by the YAML parser).
public struct MalformedExpectation: CustomStringConvertible, Sendable {
    public var line: Int
    public var column: Int
    public var keyPath: String
    public var fragment: String
    public var description: String { "\(line):\(column) \(keyPath) | \(fragment)" }

    /// The expectation on the first line of `text`; nil when that line is not one.
    public init?(firstLineOf text: String) {
        guard let first = text.split(separator: "\n", omittingEmptySubsequences: false).first,
              first.hasPrefix("# expect: ") else { return nil }
        let spec = first.dropFirst("# expect: ".count)
        guard let bar = spec.range(of: " | ") else { return nil }
        let head = spec[..<bar.lowerBound].split(separator: " ", maxSplits: 1)
        let fragment = String(spec[bar.upperBound...])
        guard let position = head.first else { return nil }
        let parts = position.split(separator: ":")
        guard parts.count == 2, let line = Int(parts[0]), let column = Int(parts[1]) else { return nil }
        self.line = line
        self.column = column
        self.keyPath = head.count > 1 ? String(head[1]) : ""
        self.fragment = fragment
    }
}
