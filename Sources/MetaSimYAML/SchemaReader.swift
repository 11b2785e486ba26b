/// The strict schema walk over a YAML node tree: typed reads that record a diagnostic (with the
/// file, line, column and dotted key path) for every problem and go on, so that one run reports
/// every mistake in a file. Unknown keys are errors, with a suggestion when one is close.
///
/// Generic: world files (`WorldDecoder` in MetaSimCore, which adds numbers, expressions and
/// distributions), batch specs and the daemon's configuration file all read through it. Load the
/// file with `SchemaDocument`.
package final class SchemaReader {
    package let file: String
    package private(set) var diagnostics: [Diagnostic] = []
    /// Where every value read sits in the file, by key path: cross-reference checks that run
    /// after the walk point at the exact value (`joints.hip.bodies[1]`), not at its entry.
    package private(set) var marks: [String: YAMLMark] = [:]
    /// The file of a value in `marks` that was written in another file than `file` (a world
    /// variant's base: `YAMLNode.file`), by key path.
    package private(set) var markFiles: [String: String] = [:]

    package init(file: String) {
        self.file = file
    }

    /// The file `node` was written in.
    package func file(of node: YAMLNode) -> String {
        node.file ?? file
    }

    package func error(_ node: YAMLNode, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: file(of: node), mark: node.mark, keyPath: path, message: message))
    }

    /// A problem at `mark`, a place inside `node` (a column within an expression).
    package func error(_ node: YAMLNode, at mark: YAMLMark, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: file(of: node), mark: mark, keyPath: path, message: message))
    }

    package func error(at mark: YAMLMark, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: mark, keyPath: path, message: message))
    }

    package func origin(_ node: YAMLNode, _ path: String) -> Origin {
        Origin(file: file(of: node), mark: node.mark, keyPath: path)
    }

    private func mark(_ path: String, _ node: YAMLNode) {
        marks[path] = node.mark
        if let other = node.file, other != file { markFiles[path] = other }
    }

    // MARK: Containers

    /// A mapping's pairs with unknown keys reported; nil (and an error) if not a mapping.
    package func mapping(_ node: YAMLNode, _ path: String, allowed: [String]) -> Fields? {
        guard let pairs = node.mapping else {
            error(node, path, "expected a mapping, found a \(node.kindName)")
            return nil
        }
        var fields = Fields(node: node, path: path)
        for pair in pairs {
            guard let key = pair.key.scalar else {
                error(pair.key, path, "keys must be plain names")
                continue
            }
            if !allowed.contains(key) {
                var message = "unknown key '\(key)'"
                if let near = closest(key, in: allowed) { message += " (did you mean '\(near)'?)" }
                else { message += " (expected one of: \(allowed.joined(separator: ", ")))" }
                error(pair.key, join(path, key), message)
                continue
            }
            fields.values[key] = pair.value
            mark(join(path, key), pair.value)
        }
        return fields
    }

    package func sequence(_ node: YAMLNode, _ path: String) -> [YAMLNode]? {
        guard let items = node.sequence else {
            error(node, path, "expected a list, found a \(node.kindName)")
            return nil
        }
        for (i, item) in items.enumerated() { mark("\(path)[\(i)]", item) }
        return items
    }

    /// A mapping from user-chosen names to entries, in order (`bodies:`, `joints:`).
    package func namedEntries(_ node: YAMLNode, _ path: String) -> [(name: String, node: YAMLNode, path: String)] {
        guard let pairs = node.mapping else {
            error(node, path, "expected a mapping of names to entries, found a \(node.kindName)")
            return []
        }
        var out: [(String, YAMLNode, String)] = []
        for pair in pairs {
            guard let key = pair.key.scalar, isIdentifier(key) else {
                error(pair.key, path, "'\(pair.key.scalar ?? "?")' is not a valid name (letters, digits and _, not starting with a digit)")
                continue
            }
            out.append((key, pair.value, join(path, key)))
            mark(join(path, key), pair.value)
        }
        return out
    }

    /// Entries of a list of mappings that each carry `name:` (`observations:`, `reward:`).
    package func listEntries(_ node: YAMLNode, _ path: String) -> [(node: YAMLNode, path: String)] {
        guard let items = sequence(node, path) else { return [] }
        return items.enumerated().map { (i, item) in (item, "\(path)[\(i)]") }
    }

    // MARK: Scalars

    package func string(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = node.scalar else {
            error(node, path, "expected a string, found a \(node.kindName)")
            return nil
        }
        return s
    }

    package func name(_ node: YAMLNode, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        guard isIdentifier(s) else {
            error(node, path, "'\(s)' is not a valid name (letters, digits and _, not starting with a digit)")
            return nil
        }
        return s
    }

    package func bool(_ node: YAMLNode, _ path: String) -> Bool? {
        if case .scalar(let s, .plain) = node.kind {
            switch s {
            case "true", "True", "TRUE", "yes", "on": return true
            case "false", "False", "FALSE", "no", "off": return false
            default: break
            }
        }
        error(node, path, "expected true or false, found '\(node.scalar ?? node.kindName)'")
        return nil
    }

    /// A literal number (no expressions): decimal, hex (0x..), octal (0o..); NaN and infinities rejected.
    package func literal(_ node: YAMLNode, _ path: String) -> Double? {
        guard case .scalar(let s, let style) = node.kind, style == .plain else {
            error(node, path, "expected a number, found \(node.scalar.map { "'\($0)'" } ?? "a \(node.kindName)")")
            return nil
        }
        if let v = parseNumber(s) {
            guard v.isFinite else {
                error(node, path, "'\(s)' is not a finite number")
                return nil
            }
            return v
        }
        if [".nan", ".NaN", ".NAN", "nan", "NaN", ".inf", "-.inf", "+.inf", ".Inf", "-.Inf", "inf", "-inf"].contains(s) {
            error(node, path, "'\(s)' is not a finite number")
        } else {
            error(node, path, "expected a number, found '\(s)'")
        }
        return nil
    }

    package func integer(_ node: YAMLNode, _ path: String, min lower: Int? = nil, max upper: Int? = nil) -> Int? {
        guard let v = literal(node, path) else { return nil }
        guard v == v.rounded(), abs(v) < 1e15 else {
            error(node, path, "expected a whole number, found \(formatNumber(v))")
            return nil
        }
        let i = Int(v)
        if let lower, i < lower { error(node, path, "must be at least \(lower), found \(i)"); return nil }
        if let upper, i > upper { error(node, path, "must be at most \(upper), found \(i)"); return nil }
        return i
    }

    package func choice(_ node: YAMLNode, _ path: String, _ options: [String]) -> String? {
        guard let s = string(node, path) else { return nil }
        guard options.contains(s) else {
            var message = "'\(s)' is not one of: \(options.joined(separator: ", "))"
            if let near = closest(s, in: options) { message += " (did you mean '\(near)'?)" }
            error(node, path, message)
            return nil
        }
        return s
    }
}

/// The known keys of one mapping, with their value nodes.
package struct Fields {
    let node: YAMLNode
    let path: String
    var values: [String: YAMLNode] = [:]

    package subscript(_ key: String) -> YAMLNode? { values[key] }

    package func has(_ key: String) -> Bool { values[key] != nil }

    package func path(_ key: String) -> String { join(path, key) }

    /// The value of a required key; an error at the mapping if it is missing.
    package func require(_ key: String, _ reader: SchemaReader) -> YAMLNode? {
        if let v = values[key] { return v }
        reader.error(node, path, "missing required key '\(key)'")
        return nil
    }
}

package func join(_ path: String, _ key: String) -> String {
    path.isEmpty ? key : "\(path).\(key)"
}

package func isIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
    return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
}

/// Parses YAML-style numbers: 12, -3.5, 1e-3, 0x10, 0o17, 1_000.
package func parseNumber(_ text: String) -> Double? {
    var s = String(String.UnicodeScalarView(text.unicodeScalars.filter { $0 != "_" }))
    var sign = 1.0
    if s.hasPrefix("-") { sign = -1; s.removeFirst() } else if s.hasPrefix("+") { s.removeFirst() }
    if s.hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return sign * Double(v) }
    if s.hasPrefix("0o"), let v = UInt64(s.dropFirst(2), radix: 8) { return sign * Double(v) }
    guard let first = s.first, first.isNumber || first == "." else { return nil }
    let allowed: Set<Character> = [".", "e", "E", "-", "+"]
    guard s.allSatisfy({ $0.isNumber || allowed.contains($0) }), let v = Double(s) else { return nil }
    return sign * v
}

/// The candidate closest to `s` by edit distance, if close enough to be a likely typo.
package func closest(_ s: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(b.count, 1) where !b.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
    let a = Array(s)
    let scored = candidates.map { ($0, distance(a, Array($0))) }.min { $0.1 < $1.1 }
    guard let best = scored, best.1 <= max(1, s.count / 3) else { return nil }
    return best.0
}

/// Shortest round-tripping text of a number, without a trailing ".0" for integers.
package func formatNumber(_ v: Double) -> String {
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}
