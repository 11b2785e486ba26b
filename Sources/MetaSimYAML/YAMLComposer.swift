/// Composes the node events of one document into a ``YAMLNode`` tree.
///
/// Uses an explicit stack rather than recursion, so deeply nested input cannot overflow the
/// call stack. Enforces the parser's rules: scalar and unique mapping keys, known aliases,
/// valid merge keys, a nesting limit and a cap on the number of nodes after alias expansion.
struct YAMLComposer {
    /// Maximum number of nodes in a document, counting every node an alias copies. Protects
    /// against "billion laughs" alias bombs.
    static let maxExpandedNodes = 1_000_000
    /// Maximum nesting depth of collections.
    static let maxDepth = 1_000

    /// An open sequence or mapping.
    private struct OpenCollection {
        var isMapping: Bool
        var properties: YAMLEvent.Properties
        /// `expandedNodes` before this collection started, to compute its size.
        var countAtStart: Int
        /// Sequence items, or alternating keys and values for a mapping.
        var items: [YAMLNode] = []
        /// First mark of each explicit (non-merge) key, for duplicate detection.
        var keyMarks: [String: YAMLMark] = [:]
        /// Mark of the merge key `<<`, if one was seen.
        var mergeKeyMark: YAMLMark?
        /// Whether the mapping has at least one merge key, so finishing it needs merging.
        var hasMerge: Bool { mergeKeyMark != nil }
    }

    let file: String
    /// The completed root node, once the document's top-level node has ended.
    private(set) var root: YAMLNode?
    private var stack: [OpenCollection] = []
    /// Anchored nodes with their size in nodes (including alias copies inside them).
    private var anchors: [String: (node: YAMLNode, size: Int)] = [:]
    /// Nodes created so far, counting alias copies with their full size.
    private var expandedNodes = 0

    init(file: String) {
        self.file = file
    }

    /// Processes one node event (anything between document start and end).
    mutating func handle(_ event: YAMLEvent) throws(YAMLError) {
        switch event {
        case .scalar(let value, let style, let properties):
            try count(1, at: properties.mark)
            let node = YAMLNode(kind: .scalar(value, style), mark: properties.mark, tag: properties.tag)
            try complete(node, anchor: properties.anchor, size: 1)

        case .alias(let name, let mark):
            guard let anchored = anchors[name] else {
                throw .unknownAlias(file: file, mark: mark, name: name)
            }
            try count(anchored.size, at: mark)
            try complete(anchored.node.moved(to: mark), anchor: nil, size: anchored.size)

        case .sequenceStart(let properties), .mappingStart(let properties):
            guard stack.count < Self.maxDepth else {
                throw .syntax(file: file, mark: properties.mark,
                              message: "collections are nested more than \(Self.maxDepth) levels deep")
            }
            let isMapping = if case .mappingStart = event { true } else { false }
            stack.append(OpenCollection(isMapping: isMapping, properties: properties, countAtStart: expandedNodes))
            try count(1, at: properties.mark)

        case .sequenceEnd, .mappingEnd:
            let collection = stack.removeLast()
            let kind: YAMLNode.Kind
            if collection.isMapping {
                kind = .mapping(try pairs(of: collection))
            } else {
                kind = .sequence(collection.items)
            }
            let properties = collection.properties
            let node = YAMLNode(kind: kind, mark: properties.mark, tag: properties.tag)
            try complete(node, anchor: properties.anchor, size: expandedNodes - collection.countAtStart)

        case .streamStart, .streamEnd, .documentStart, .documentEnd:
            preconditionFailure("YAMLComposer only handles node events")
        }
    }

    // MARK: - Private

    /// Adds `nodes` to the expansion count, failing once the cap is exceeded.
    private mutating func count(_ nodes: Int, at mark: YAMLMark) throws(YAMLError) {
        expandedNodes += nodes
        if expandedNodes > Self.maxExpandedNodes {
            throw .syntax(file: file, mark: mark, message:
                "document expands to more than \(Self.maxExpandedNodes) nodes through aliases "
                + "(possible alias bomb); refusing to expand it")
        }
    }

    /// Registers a finished node's anchor and attaches the node to its parent (or makes it the root).
    private mutating func complete(_ node: YAMLNode, anchor: String?, size: Int) throws(YAMLError) {
        if let anchor {
            anchors[anchor] = (node, size)
        }
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        if stack[top].isMapping && stack[top].items.count.isMultiple(of: 2) {
            // A static function: calling a method of `self` here would copy `self` (and with it
            // the stack) for the call, so the key dictionary would be copied for every key,
            // making a mapping of n keys cost O(n^2).
            let file = self.file
            try Self.checkKey(node, in: &stack[top], file: file)
        }
        stack[top].items.append(node)
    }

    /// Validates a mapping key: it must be a scalar and must not repeat an earlier key.
    private static func checkKey(_ key: YAMLNode, in mapping: inout OpenCollection, file: String) throws(YAMLError) {
        guard let text = key.scalar else {
            throw .syntax(file: file, mark: key.mark,
                          message: "mapping keys must be scalars, found a \(key.kindName)")
        }
        if Self.isMergeKey(key) {
            if let first = mapping.mergeKeyMark {
                throw .duplicateKey(file: file, mark: key.mark, key: text, firstMark: first)
            }
            mapping.mergeKeyMark = key.mark
        } else if let first = mapping.keyMarks[text] {
            throw .duplicateKey(file: file, mark: key.mark, key: text, firstMark: first)
        } else {
            mapping.keyMarks[text] = key.mark
        }
    }

    /// A plain, untagged `<<` (or one tagged `!!merge`) is a merge key; a quoted `"<<"` is not.
    private static func isMergeKey(_ key: YAMLNode) -> Bool {
        guard case .scalar("<<", let style) = key.kind else { return false }
        return key.tag == YAMLNode.mergeTag || (style == .plain && key.tag == nil)
    }

    /// The pairs of a finished mapping, with merge keys applied.
    ///
    /// Merged pairs are inserted where the `<<` key stood. The mapping's own keys win over
    /// merged ones wherever they appear; with `<<: [*a, *b]`, keys of `a` win over those of `b`.
    private func pairs(of mapping: OpenCollection) throws(YAMLError) -> [YAMLPair] {
        let items = mapping.items
        var result: [YAMLPair] = []
        result.reserveCapacity(items.count / 2)
        var merged: Set<String> = []
        for index in stride(from: 0, to: items.count, by: 2) {
            let key = items[index]
            let value = items[index + 1]
            guard mapping.hasMerge, Self.isMergeKey(key) else {
                result.append(YAMLPair(key: key, value: value))
                continue
            }
            for source in try mergeSources(value) {
                for pair in source {
                    // Keys of merged mappings are scalars: they passed `checkKey` when composed.
                    let name = pair.key.scalar ?? ""
                    if mapping.keyMarks[name] == nil && merged.insert(name).inserted {
                        result.append(pair)
                    }
                }
            }
        }
        return result
    }

    /// The mappings a merge key's value refers to, in priority order.
    private func mergeSources(_ value: YAMLNode) throws(YAMLError) -> [[YAMLPair]] {
        switch value.kind {
        case .mapping(let pairs):
            return [pairs]
        case .sequence(let items):
            var sources: [[YAMLPair]] = []
            for item in items {
                guard let pairs = item.mapping else {
                    throw .invalidMergeKey(file: file, mark: item.mark, message:
                        "every item of a merge sequence must be a mapping, found a \(item.kindName)")
                }
                sources.append(pairs)
            }
            return sources
        case .scalar:
            throw .invalidMergeKey(file: file, mark: value.mark, message:
                "the value of '<<' must be a mapping or a sequence of mappings, found a scalar")
        }
    }
}
