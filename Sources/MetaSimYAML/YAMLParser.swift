import CYAML

/// Parses one YAML stream with libyaml's event API and composes it into a ``YAMLNode`` tree.
///
/// The parser owns a copy of the input bytes and the libyaml parser state; both live as long
/// as the object and are released in `deinit`. Marks reported by libyaml are 0-based and are
/// converted to the 1-based ``YAMLMark``.
///
/// ```swift
/// let root = try YAMLParser(yaml: text, file: "world.yaml").singleDocument()
/// ```
///
/// A `YAMLParser` is not thread-safe; use it from one task at a time. The produced nodes are
/// plain `Sendable` values.
public final class YAMLParser {
    /// The file name used in errors.
    public let file: String

    /// The libyaml parser state (heap-allocated so its address is stable).
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    /// Our copy of the input; libyaml reads from it for the parser's whole lifetime.
    private let input: UnsafeMutableBufferPointer<UInt8>
    /// The number of valid bytes in `input` (the buffer is never empty, to have an address).
    private let inputCount: Int
    /// Whether `yaml_parser_initialize` succeeded (and `yaml_parser_delete` is needed).
    private let initialized: Bool
    /// The outcome of the first ``singleDocument()`` call; the stream can be read only once.
    private var outcome: Result<YAMLNode?, YAMLError>?

    /// Creates a parser for the YAML text `yaml`. `file` is only used in error messages.
    public convenience init(yaml: String, file: String) {
        self.init(bytes: Array(yaml.utf8), file: file)
    }

    /// Creates a parser for raw bytes. The encoding is detected by libyaml: UTF-8, or UTF-16
    /// with a byte order mark. Invalid input is reported as a ``YAMLError/syntax(file:mark:message:)``
    /// error with its position. `file` is only used in error messages.
    public init(bytes: [UInt8], file: String) {
        self.file = file
        inputCount = bytes.count
        input = .allocate(capacity: max(bytes.count, 1))
        input.initialize(repeating: 0)
        _ = input.update(fromContentsOf: bytes)
        parser = .allocate(capacity: 1)
        parser.initialize(to: yaml_parser_t())
        initialized = yaml_parser_initialize(parser) != 0
        if initialized {
            yaml_parser_set_input_string(parser, input.baseAddress, inputCount)
        }
    }

    deinit {
        if initialized {
            yaml_parser_delete(parser)
        }
        parser.deinitialize(count: 1)
        parser.deallocate()
        input.deallocate()
    }

    /// Parses the stream, which must contain at most one document.
    ///
    /// - Returns: The document's root node, or `nil` if the stream holds no document (empty
    ///   input, or only comments). A document that is just `---` yields an empty plain scalar.
    /// - Throws: ``YAMLError``; ``YAMLError/multipleDocuments(file:mark:)`` if a second
    ///   document starts. Calling the method again returns (or throws) the same result.
    public func singleDocument() throws(YAMLError) -> YAMLNode? {
        if let outcome {
            return try outcome.get()
        }
        let result: Result<YAMLNode?, YAMLError>
        do throws(YAMLError) {
            result = .success(try parseStream())
        } catch {
            result = .failure(error)
        }
        outcome = result
        return try result.get()
    }

    // MARK: - Stream structure

    private func parseStream() throws(YAMLError) -> YAMLNode? {
        guard initialized else {
            throw .syntax(file: file, mark: YAMLMark(line: 1, column: 1),
                          message: "cannot initialize the YAML parser (out of memory)")
        }
        var root: YAMLNode?
        var sawDocument = false
        while true {
            switch try nextEvent() {
            case .streamStart, .documentEnd:
                continue
            case .streamEnd:
                return root
            case .documentStart(let mark):
                if sawDocument {
                    throw .multipleDocuments(file: file, mark: mark)
                }
                sawDocument = true
                root = try parseDocumentContent()
            case let other:
                // libyaml guarantees nodes only occur inside documents.
                preconditionFailure("unexpected YAML event outside a document: \(other)")
            }
        }
    }

    /// Reads the events of one document up to (and including) its end and composes the tree.
    private func parseDocumentContent() throws(YAMLError) -> YAMLNode? {
        var composer = YAMLComposer(file: file)
        while true {
            let event = try nextEvent()
            if case .documentEnd = event {
                return composer.root
            }
            try composer.handle(event)
        }
    }

    // MARK: - libyaml access

    /// Fetches the next event from libyaml, converted to Swift values. The libyaml event is
    /// always deleted before returning.
    private func nextEvent() throws(YAMLError) -> YAMLEvent {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) != 0 else {
            throw currentError()
        }
        defer { yaml_event_delete(&event) }

        let mark = YAMLMark(event.start_mark)
        switch event.type {
        case YAML_STREAM_START_EVENT:
            return .streamStart
        case YAML_STREAM_END_EVENT, YAML_NO_EVENT:
            return .streamEnd
        case YAML_DOCUMENT_START_EVENT:
            return .documentStart(mark)
        case YAML_DOCUMENT_END_EVENT:
            return .documentEnd
        case YAML_ALIAS_EVENT:
            return .alias(name: Self.string(event.data.alias.anchor) ?? "", mark: mark)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length),
                               as: UTF8.self)
            return .scalar(value: value, style: YAMLScalarStyle(scalar.style),
                           properties: YAMLEvent.Properties(tag: Self.string(scalar.tag),
                                                            anchor: Self.string(scalar.anchor),
                                                            mark: mark))
        case YAML_SEQUENCE_START_EVENT:
            let start = event.data.sequence_start
            return .sequenceStart(YAMLEvent.Properties(tag: Self.string(start.tag),
                                                       anchor: Self.string(start.anchor), mark: mark))
        case YAML_SEQUENCE_END_EVENT:
            return .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            let start = event.data.mapping_start
            return .mappingStart(YAMLEvent.Properties(tag: Self.string(start.tag),
                                                      anchor: Self.string(start.anchor), mark: mark))
        case YAML_MAPPING_END_EVENT:
            return .mappingEnd
        default:
            preconditionFailure("unknown libyaml event type \(event.type.rawValue)")
        }
    }

    /// Builds the error for a failed `yaml_parser_parse` from the parser's error fields.
    private func currentError() -> YAMLError {
        let state = parser.pointee
        let problem = Self.string(state.problem) ?? "unknown YAML error"
        switch state.error {
        case YAML_MEMORY_ERROR:
            return .syntax(file: file, mark: YAMLMark(state.mark), message: "out of memory while parsing YAML")
        case YAML_READER_ERROR:
            // Reader errors (bad encoding, control characters) carry a byte offset, not a mark.
            var message = problem
            if state.problem_value != -1 {
                message += " (#x\(String(state.problem_value, radix: 16, uppercase: true)))"
            }
            return .syntax(file: file, mark: readerErrorMark(offset: state.problem_offset), message: message)
        default:
            // Scanner and parser errors: problem at problem_mark, optionally inside a context
            // that started at context_mark.
            var message = problem
            if let context = Self.string(state.context) {
                message += " (\(context) at \(YAMLMark(state.context_mark)))"
            }
            return .syntax(file: file, mark: YAMLMark(state.problem_mark), message: message)
        }
    }

    /// Converts a byte offset into the input to a mark, for reader errors.
    private func readerErrorMark(offset: Int) -> YAMLMark {
        let bytes = UnsafeBufferPointer(rebasing: input[..<inputCount])
        // For UTF-16 input the offset is not in UTF-8 terms; use libyaml's current position.
        if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
            return YAMLMark(parser.pointee.mark)
        }
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var line = 1
        var column = 1
        var index = start
        let end = min(max(offset, start), bytes.count)
        while index < end {
            let byte = bytes[index]
            let next: UInt8? = index + 1 < bytes.count ? bytes[index + 1] : nil
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                column = 1
            case UInt8(ascii: "\r"):
                if next != UInt8(ascii: "\n") {  // a lone CR is a line break too
                    line += 1
                    column = 1
                }
            case _ where byte & 0xC0 == 0x80:
                break  // UTF-8 continuation byte: same character
            default:
                column += 1
            }
            index += 1
        }
        return YAMLMark(line: line, column: column)
    }

    private static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        pointer.map { String(cString: $0) }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: $0) }
    }
}

/// A libyaml event, copied into Swift values.
enum YAMLEvent: Sendable {
    /// Tag, anchor and start mark of a node event.
    struct Properties: Sendable {
        var tag: String?
        var anchor: String?
        var mark: YAMLMark
    }

    case streamStart
    case streamEnd
    case documentStart(YAMLMark)
    case documentEnd
    case alias(name: String, mark: YAMLMark)
    case scalar(value: String, style: YAMLScalarStyle, properties: Properties)
    case sequenceStart(Properties)
    case sequenceEnd
    case mappingStart(Properties)
    case mappingEnd
}

extension YAMLMark {
    /// Converts libyaml's 0-based mark.
    init(_ mark: yaml_mark_t) {
        self.init(line: mark.line + 1, column: mark.column + 1)
    }
}

extension YAMLScalarStyle {
    init(_ style: yaml_scalar_style_t) {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: self = .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: self = .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: self = .literal
        case YAML_FOLDED_SCALAR_STYLE: self = .folded
        default: self = .plain
        }
    }
}
