/// An error found while reading or composing a YAML document.
///
/// ``description`` is formatted like a compiler diagnostic,
/// `FILE:LINE:COLUMN: error: MESSAGE` (or `FILE: error: MESSAGE` when there is no position),
/// so editors and terminals can link to the offending spot.
public enum YAMLError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The text is not well-formed YAML (reported by libyaml), or the document is not
    /// acceptable to this parser (non-scalar mapping key, nesting or alias expansion too large).
    case syntax(file: String, mark: YAMLMark, message: String)
    /// A mapping contains the same key twice. `mark` is the repeated key, `firstMark` the
    /// first occurrence.
    case duplicateKey(file: String, mark: YAMLMark, key: String, firstMark: YAMLMark)
    /// An alias `*name` refers to no anchor `&name` defined before it.
    case unknownAlias(file: String, mark: YAMLMark, name: String)
    /// The file could not be read.
    case io(file: String, message: String)
    /// The stream holds more than one document; `mark` is the start of the second one.
    case multipleDocuments(file: String, mark: YAMLMark)
    /// The value of a merge key `<<` is not a mapping or a sequence of mappings.
    case invalidMergeKey(file: String, mark: YAMLMark, message: String)

    /// The file (or pseudo file name such as `"<string>"`) the error is about.
    public var file: String {
        switch self {
        case .syntax(let file, _, _), .duplicateKey(let file, _, _, _), .unknownAlias(let file, _, _),
             .io(let file, _), .multipleDocuments(let file, _), .invalidMergeKey(let file, _, _):
            file
        }
    }

    /// Where in the file the error is, if it has a position.
    public var mark: YAMLMark? {
        switch self {
        case .syntax(_, let mark, _), .duplicateKey(_, let mark, _, _), .unknownAlias(_, let mark, _),
             .multipleDocuments(_, let mark), .invalidMergeKey(_, let mark, _):
            mark
        case .io:
            nil
        }
    }

    /// The message without the location prefix.
    public var message: String {
        switch self {
        case .syntax(_, _, let message):
            message
        case .duplicateKey(let file, _, let key, let firstMark):
            "duplicate key \"\(key)\" in mapping (first defined at \(file):\(firstMark))"
        case .unknownAlias(_, _, let name):
            "unknown alias \"*\(name)\" (no anchor \"&\(name)\" is defined before it)"
        case .io(_, let message):
            message
        case .multipleDocuments:
            "expected a single YAML document, but the stream contains another document here"
        case .invalidMergeKey(_, _, let message):
            "invalid merge key: \(message)"
        }
    }

    public var description: String {
        if let mark {
            "\(file):\(mark): error: \(message)"
        } else {
            "\(file): error: \(message)"
        }
    }
}
