/// A position in a YAML source text.
///
/// Both `line` and `column` are 1-based. `column` counts Unicode scalars (characters as
/// libyaml sees them), not bytes.
public struct YAMLMark: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 1-based line number.
    public let line: Int
    /// The 1-based column number, in Unicode scalars.
    public let column: Int

    /// Creates a mark from 1-based `line` and `column` values.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// `"line:column"`, e.g. `"3:14"`.
    public var description: String { "\(line):\(column)" }

    public static func < (lhs: YAMLMark, rhs: YAMLMark) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// The presentation style a scalar was written in.
public enum YAMLScalarStyle: Sendable, Hashable {
    /// Unquoted: `key: value`.
    case plain
    /// Single-quoted: `'value'`.
    case singleQuoted
    /// Double-quoted: `"value"`.
    case doubleQuoted
    /// Literal block scalar: `|`.
    case literal
    /// Folded block scalar: `>`.
    case folded
}

/// A node of a parsed YAML document.
///
/// The tree is already composed: aliases are replaced by copies of the anchored node,
/// merge keys (`<<`) are applied, and every mapping key is a scalar that occurs once.
/// Scalars are not resolved to numbers or booleans; that is left to the consumer, which
/// can use ``style`` and ``tag`` to decide.
///
/// Equality compares everything, including marks and tags.
public struct YAMLNode: Sendable, Equatable {
    /// The structure of a node.
    public enum Kind: Sendable, Equatable {
        /// A scalar with its text (after unescaping/folding) and presentation style.
        case scalar(String, YAMLScalarStyle)
        /// A sequence of nodes, in document order.
        case sequence([YAMLNode])
        /// A mapping, in document order. Keys are scalars and unique.
        case mapping([YAMLPair])
    }

    /// The node's content.
    public let kind: Kind
    /// The start of the node in the source. For a node produced by an alias (`*name`) this is
    /// the position of the alias, not of the anchored node.
    public let mark: YAMLMark
    /// The node's explicit tag (e.g. `"!include"`, or `"tag:yaml.org,2002:str"` for `!!str`),
    /// or `nil` if the node has none.
    public let tag: String?
    /// The file the node was written in, when a tree holds nodes of several files (a world
    /// variant merged over its base); `nil`: the file of the document being read.
    public let file: String?

    /// Creates a node.
    public init(kind: Kind, mark: YAMLMark, tag: String? = nil, file: String? = nil) {
        self.kind = kind
        self.mark = mark
        self.tag = tag
        self.file = file
    }

    /// The same node placed at another mark (used for alias expansion).
    func moved(to mark: YAMLMark) -> YAMLNode {
        YAMLNode(kind: kind, mark: mark, tag: tag, file: file)
    }

    /// The tree with `file` set on every node that has none (nodes that already name a file keep it).
    public func stamped(file: String) -> YAMLNode {
        if self.file != nil { return self }
        let stampedKind: Kind
        switch kind {
        case .scalar: stampedKind = kind
        case .sequence(let items): stampedKind = .sequence(items.map { $0.stamped(file: file) })
        case .mapping(let pairs):
            stampedKind = .mapping(pairs.map { YAMLPair(key: $0.key.stamped(file: file), value: $0.value.stamped(file: file)) })
        }
        return YAMLNode(kind: stampedKind, mark: mark, tag: tag, file: file)
    }

    // MARK: Convenience accessors

    /// The text of a scalar node, `nil` for collections.
    public var scalar: String? {
        if case .scalar(let value, _) = kind { return value }
        return nil
    }

    /// The presentation style of a scalar node, `nil` for collections.
    public var style: YAMLScalarStyle? {
        if case .scalar(_, let style) = kind { return style }
        return nil
    }

    /// Whether the node is a YAML null: a *plain* scalar that is empty, `~`, `null`, `Null`
    /// or `NULL`, and carries no tag other than `!!null`. Quoted `"null"` and `!!str null`
    /// are strings, not nulls.
    public var isNull: Bool {
        guard case .scalar(let value, .plain) = kind else { return false }
        guard tag == nil || tag == YAMLNode.nullTag else { return false }
        switch value {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }

    /// The items of a sequence node, `nil` for other kinds.
    public var sequence: [YAMLNode]? {
        if case .sequence(let items) = kind { return items }
        return nil
    }

    /// The pairs of a mapping node, `nil` for other kinds.
    public var mapping: [YAMLPair]? {
        if case .mapping(let pairs) = kind { return pairs }
        return nil
    }

    /// The value for the scalar key `key` in a mapping node; `nil` if the key is absent or
    /// the node is not a mapping.
    public subscript(key: String) -> YAMLNode? {
        mapping?.first { $0.key.scalar == key }?.value
    }

    /// `"scalar"`, `"sequence"` or `"mapping"`, for use in error messages.
    public var kindName: String {
        switch kind {
        case .scalar: "scalar"
        case .sequence: "sequence"
        case .mapping: "mapping"
        }
    }

    /// The resolved form of `!!null`.
    public static let nullTag = "tag:yaml.org,2002:null"
    /// The resolved form of `!!merge`.
    public static let mergeTag = "tag:yaml.org,2002:merge"
}

/// A key/value pair of a mapping node. The key is always a scalar.
public struct YAMLPair: Sendable, Equatable {
    /// The key (a scalar node).
    public let key: YAMLNode
    /// The value.
    public let value: YAMLNode

    /// Creates a pair.
    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}
