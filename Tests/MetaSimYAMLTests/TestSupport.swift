import MetaSimYAML
import Testing

/// Parses `text` and requires a document.
func document(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> YAMLNode {
    try #require(try YAML.parse(text, file: "test.yaml"), sourceLocation: sourceLocation)
}

/// Parses `text` and returns the error it throws, or `nil` if it parses.
func parseError(_ text: String, file: String = "test.yaml") -> YAMLError? {
    do {
        _ = try YAML.parse(text, file: file)
        return nil
    } catch {
        return error
    }
}

/// Shorthand for a mark.
func at(_ line: Int, _ column: Int) -> YAMLMark {
    YAMLMark(line: line, column: column)
}

extension YAMLNode {
    /// The keys of a mapping, in order.
    var keys: [String] { (mapping ?? []).map { $0.key.scalar ?? "?" } }
}
