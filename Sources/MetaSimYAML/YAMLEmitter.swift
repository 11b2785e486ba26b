/// Writes a ``YAMLNode`` tree back as YAML text (block style; short collections below the top
/// level, except mappings in lists, on one line in flow style), so that reading the text again gives the same scalars with the same
/// plain-or-quoted distinction (what a schema reader looks at). Comments, anchors and the
/// original layout are not kept. Used by `metasim validate --print` to show a merged world.
extension YAMLNode {
    /// The node as a YAML document. A root mapping's keys come in `rootKeyOrder` (keys it does
    /// not list keep their order, after the listed ones); nested mappings keep theirs.
    public func yamlText(rootKeyOrder: [String] = []) -> String {
        var root = self
        if !rootKeyOrder.isEmpty, case .mapping(let pairs) = kind {
            let rank = { (key: String) in rootKeyOrder.firstIndex(of: key) ?? rootKeyOrder.count }
            let ordered = pairs.enumerated().sorted {
                (rank($0.element.key.scalar ?? ""), $0.offset) < (rank($1.element.key.scalar ?? ""), $1.offset)
            }.map(\.element)
            root = YAMLNode(kind: .mapping(ordered), mark: mark, tag: tag, file: file)
        }
        var out = ""
        switch root.kind {
        case .mapping(let pairs) where !pairs.isEmpty:
            YAMLEmitter.mapping(pairs, indent: 0, into: &out)
        case .sequence(let items) where !items.isEmpty:
            YAMLEmitter.sequence(items, indent: 0, into: &out)
        default:
            out = (YAMLEmitter.flow(root) ?? YAMLEmitter.quoted(root.scalar ?? "")) + "\n"
        }
        return out
    }
}

enum YAMLEmitter {
    /// Longest line a collection is written on in flow style.
    static let flowWidth = 96

    static func mapping(_ pairs: [YAMLPair], indent: Int, into out: inout String, firstLinePrefixed: Bool = false) {
        let pad = String(repeating: " ", count: indent)
        for (i, pair) in pairs.enumerated() {
            if !(firstLinePrefixed && i == 0) { out += pad }
            out += key(pair.key) + ":"
            value(pair.value, indent: indent, into: &out)
        }
    }

    static func sequence(_ items: [YAMLNode], indent: Int, into out: inout String) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            out += pad + "-"
            // A mapping in a list (a named entry) is always written in block style.
            if item.mapping == nil, let line = flow(item), indent + 2 + line.count <= flowWidth {
                out += " " + line + "\n"
                continue
            }
            switch item.kind {
            case .mapping(let pairs):
                out += " "
                mapping(pairs, indent: indent + 2, into: &out, firstLinePrefixed: true)
            case .sequence(let nested):
                out += "\n"
                sequence(nested, indent: indent + 2, into: &out)
            case .scalar:
                out += " " + scalar(item, inFlow: false) + "\n"
            }
        }
    }

    /// A mapping value after its `key:`.
    static func value(_ node: YAMLNode, indent: Int, into out: inout String) {
        if node.scalar != nil {
            out += " " + scalar(node, inFlow: false) + "\n"
            return
        }
        if node.sequence?.isEmpty == true || node.mapping?.isEmpty == true {
            out += " " + tagPrefix(node) + (node.sequence != nil ? "[]" : "{}") + "\n"
            return
        }
        // Top-level sections are written in block style; short collections below them in flow style.
        if indent > 0, let line = flow(node), indent + 2 + line.count <= flowWidth {
            out += " " + line + "\n"
            return
        }
        switch node.kind {
        case .mapping(let pairs):
            out += "\n"
            mapping(pairs, indent: indent + 2, into: &out)
        case .sequence(let items):
            out += "\n"
            sequence(items, indent: indent + 2, into: &out)
        case .scalar:
            out += " " + scalar(node, inFlow: false) + "\n"
        }
    }

    /// The node on one line in flow style, or nil when a scalar in it cannot be written there.
    static func flow(_ node: YAMLNode) -> String? {
        switch node.kind {
        case .scalar(let text, let style):
            // A plain scalar that flow style would have to quote stays plain, in block style.
            if style == .plain, !node.isNull, !isSafePlain(text, inFlow: true) { return nil }
            return scalar(node, inFlow: true)
        case .sequence(let items):
            var parts: [String] = []
            for item in items {
                guard let part = flow(item) else { return nil }
                parts.append(part)
            }
            let text = tagPrefix(node) + "[" + parts.joined(separator: ", ") + "]"
            return text.count <= flowWidth ? text : nil
        case .mapping(let pairs):
            var parts: [String] = []
            for pair in pairs {
                guard let v = flow(pair.value) else { return nil }
                parts.append(key(pair.key) + ": " + v)
            }
            let text = tagPrefix(node) + "{" + parts.joined(separator: ", ") + "}"
            return text.count <= flowWidth ? text : nil
        }
    }

    static func key(_ node: YAMLNode) -> String {
        scalar(node, inFlow: true)
    }

    /// A scalar as written: plain when it was plain and reads back the same here, else
    /// double-quoted.
    static func scalar(_ node: YAMLNode, inFlow: Bool) -> String {
        let text = node.scalar ?? ""
        if node.style == .plain {
            if node.isNull { return tagPrefix(node) + "~" }
            if isSafePlain(text, inFlow: inFlow) { return tagPrefix(node) + text }
        }
        return tagPrefix(node) + quoted(text)
    }

    static func tagPrefix(_ node: YAMLNode) -> String {
        guard let tag = node.tag else { return "" }
        let core = "tag:yaml.org,2002:"
        return tag.hasPrefix(core) ? "!!\(tag.dropFirst(core.count)) " : "!<\(tag)> "
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Whether `text` written plain reads back as the same plain scalar (conservative).
    static func isSafePlain(_ text: String, inFlow: Bool) -> Bool {
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return false }
        if first == " " || last == " " || last == ":" { return false }
        if text.contains(": ") || text.contains(" #") || text.contains("\n") || text.contains("\t") || text.contains("\r") {
            return false
        }
        if "?:,[]{}#&*!|>'\"%@`".unicodeScalars.contains(first) { return false }
        if first == "-" {
            let rest = text.unicodeScalars.dropFirst()
            guard let second = rest.first, second != " " else { return false }
            if text.hasPrefix("---") { return false }
        }
        if inFlow, text.unicodeScalars.contains(where: { ",[]{}:".unicodeScalars.contains($0) }) { return false }
        return true
    }
}
