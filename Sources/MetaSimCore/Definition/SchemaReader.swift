import MetaSimYAML

/// The strict schema walk over a YAML node tree: typed reads that record a diagnostic (with the
/// file, line, column and dotted key path) for every problem and go on, so that one run reports
/// every mistake in a file. Unknown keys are errors, with a suggestion when one is close.
package final class SchemaReader {
    let file: String
    package private(set) var diagnostics: [Diagnostic] = []
    /// Names an expression in a numeric field may use (task parameters declared so far).
    var parameterNames: Set<String> = []
    /// Where every value read sits in the file, by key path: cross-reference checks that run
    /// after the walk point at the exact value (`joints.hip.bodies[1]`), not at its entry.
    private(set) var marks: [String: YAMLMark] = [:]

    package init(file: String) {
        self.file = file
    }

    package func error(_ node: YAMLNode, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: node.mark, keyPath: path, message: message))
    }

    func error(at mark: YAMLMark, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: mark, keyPath: path, message: message))
    }

    package func origin(_ node: YAMLNode, _ path: String) -> Origin {
        Origin(file: file, mark: node.mark, keyPath: path)
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
            fields.keyMarks[key] = pair.key.mark
            marks[join(path, key)] = pair.value.mark
            fields.order.append(key)
        }
        return fields
    }

    package func sequence(_ node: YAMLNode, _ path: String) -> [YAMLNode]? {
        guard let items = node.sequence else {
            error(node, path, "expected a list, found a \(node.kindName)")
            return nil
        }
        for (i, item) in items.enumerated() { marks["\(path)[\(i)]"] = item.mark }
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
            marks[join(path, key)] = pair.value.mark
        }
        return out
    }

    /// Entries of a list of mappings that each carry `name:` (`observations:`, `reward:`).
    func listEntries(_ node: YAMLNode, _ path: String) -> [(node: YAMLNode, path: String)] {
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

    func name(_ node: YAMLNode, _ path: String) -> String? {
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

    func bits(_ node: YAMLNode, _ path: String) -> UInt16? {
        guard let i = integer(node, path, min: 0, max: 0xFFFF) else { return nil }
        return UInt16(i)
    }

    typealias Constraint = ValueConstraint

    /// A numeric field: literal, expression over parameters (a string), or, if `random` is
    /// allowed, a distribution mapping drawn every episode.
    func scalar(_ node: YAMLNode, _ path: String, _ constraint: Constraint = .any, random: Bool = true) -> Scalar? {
        let origin = origin(node, path)
        switch node.kind {
        case .scalar(let s, let style):
            if style == .plain, let v = parseNumber(s) {
                guard v.isFinite else { error(node, path, "'\(s)' is not a finite number"); return nil }
                guard check(v, constraint, node, path) else { return nil }
                return Scalar(.value(v), origin: origin, constraint: constraint)
            }
            if style == .plain, ["true", "false", "yes", "no", "on", "off", "True", "False", ""].contains(s) || node.isNull {
                error(node, path, "expected a number or an expression, found '\(s)'")
                return nil
            }
            if style == .plain, [".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.inf", ".Inf", "-.Inf", ".INF", "-.INF"].contains(s) {
                error(node, path, "'\(s)' is not a finite number")
                return nil
            }
            return expressionScalar(s, style: style, node: node, path: path, constraint: constraint)
        case .mapping:
            guard random else {
                error(node, path, "a distribution is not allowed here (the value must be fixed for a task)")
                return nil
            }
            guard let d = distribution(node, path) else { return nil }
            if let support = d.checkedSupport, !supportOK(support, constraint) {
                error(node, path, "the distribution's values must be \(constraint.requirement(for: d.checkedSupport ?? 0...0))")
                return nil
            }
            return Scalar(.random(d), origin: origin, constraint: constraint)
        case .sequence:
            error(node, path, "expected a number, found a list")
            return nil
        }
    }

    private func expressionScalar(_ s: String, style: YAMLScalarStyle, node: YAMLNode, path: String, constraint: Constraint) -> Scalar? {
        let expression: Expression
        do { expression = try Expression(parsing: s) } catch {
            let quote = (style == .singleQuoted || style == .doubleQuoted) ? 1 : 0
            self.error(at: YAMLMark(line: node.mark.line, column: node.mark.column + quote + error.offset), path,
                       "bad expression '\(s)': \(error.message)")
            return nil
        }
        for v in expression.variables where !parameterNames.contains(v) {
            error(node, path, "'\(v)' in '\(s)' is not a parameter declared above (parameters: \(parameterNames.sorted().joined(separator: ", ")))")
            return nil
        }
        if expression.isConstant {
            guard let v = try? expression.evaluate({ _ in nil }), v.isFinite else {
                error(node, path, "'\(s)' is not a finite number")
                return nil
            }
            guard check(v, constraint, node, path) else { return nil }
            return Scalar(.value(v), origin: origin(node, path), constraint: constraint)
        }
        return Scalar(.expression(expression), origin: origin(node, path), constraint: constraint)
    }

    func distribution(_ node: YAMLNode, _ path: String, extras: [String] = []) -> Distribution? {
        guard let pairs = node.mapping else { return nil }
        let kinds = ["uniform", "normal", "choice", "integer", "constant"]
        for pair in pairs {
            guard let key = pair.key.scalar, kinds.contains(key) || extras.contains(key) else {
                let key = pair.key.scalar ?? "?"
                var message = "unknown key '\(key)' in a distribution"
                if let near = closest(key, in: kinds + extras) { message += " (did you mean '\(near)'?)" }
                else { message += " (expected one of: \((kinds + extras).joined(separator: ", ")))" }
                error(pair.key, join(path, key), message)
                return nil
            }
        }
        let present = pairs.compactMap { $0.key.scalar }.filter { kinds.contains($0) }
        guard present.count == 1, let kind = present.first, let value = node[kind] else {
            error(node, path, present.isEmpty
                  ? "expected a distribution: one of \(kinds.joined(separator: ", "))"
                  : "a distribution has exactly one of \(kinds.joined(separator: ", "))")
            return nil
        }
        let p = join(path, kind)
        switch kind {
        case "uniform", "integer":
            guard let bounds = pair(value, p, random: false) else { return nil }
            if let a = bounds[0].literalValue, let b = bounds[1].literalValue, a > b {
                error(value, p, "low (\(formatNumber(a))) is greater than high (\(formatNumber(b)))")
                return nil
            }
            if kind == "integer", let big = bounds.compactMap(\.literalValue).first(where: { abs($0) > WorldLimits.maxIntegerBound }) {
                error(value, p, "the bounds of an integer distribution must be within ±2^53, found \(formatNumber(big))")
                return nil
            }
            return kind == "uniform" ? .uniform(low: bounds[0], high: bounds[1]) : .integer(low: bounds[0], high: bounds[1])
        case "normal":
            guard let f = mapping(value, p, allowed: ["mean", "std", "min", "max"]) else { return nil }
            guard let mean = f.require("mean", self).flatMap({ scalar($0, join(p, "mean"), random: false) }),
                  let std = f.require("std", self).flatMap({ scalar($0, join(p, "std"), .nonNegative, random: false) })
            else { return nil }
            let lo = f["min"].flatMap { scalar($0, join(p, "min"), random: false) } ?? .literal(-.infinity)
            let hi = f["max"].flatMap { scalar($0, join(p, "max"), random: false) } ?? .literal(.infinity)
            return .normal(mean: mean, std: std, low: lo, high: hi)
        case "choice":
            if let f = value.mapping, !f.isEmpty {
                guard let m = mapping(value, p, allowed: ["values", "weights"]),
                      let valuesNode = m.require("values", self), let items = sequence(valuesNode, join(p, "values"))
                else { return nil }
                let values = items.enumerated().compactMap { scalar($1, "\(p).values[\($0)]", random: false) }
                guard values.count == items.count, !values.isEmpty else {
                    if items.isEmpty { error(valuesNode, join(p, "values"), "needs at least one value") }
                    return nil
                }
                var weights: [Double]?
                if let w = m["weights"], let ws = sequence(w, join(p, "weights")) {
                    let parsed = ws.enumerated().compactMap { literal($1, "\(p).weights[\($0)]") }
                    guard parsed.count == values.count else {
                        error(w, join(p, "weights"), "needs one weight per value (\(values.count))")
                        return nil
                    }
                    guard parsed.allSatisfy({ $0 >= 0 }), parsed.reduce(0, +) > 0 else {
                        error(w, join(p, "weights"), "weights must be non-negative with a positive sum")
                        return nil
                    }
                    weights = parsed
                }
                return .choice(values: values, weights: weights)
            }
            guard let items = sequence(value, p) else { return nil }
            guard !items.isEmpty else { error(value, p, "needs at least one value"); return nil }
            let values = items.enumerated().compactMap { scalar($1, "\(p)[\($0)]", random: false) }
            return values.count == items.count ? .choice(values: values, weights: nil) : nil
        default: // constant
            guard let s = scalar(value, p, random: false) else { return nil }
            return .choice(values: [s], weights: nil)
        }
    }

    /// `[a, b]`: two scalars.
    func pair(_ node: YAMLNode, _ path: String, _ constraint: Constraint = .any, random: Bool = true) -> [Scalar]? {
        vector(node, path, count: 2, constraint, random: random)
    }

    func vector(_ node: YAMLNode, _ path: String, count: Int, _ constraint: Constraint = .any, random: Bool = true) -> [Scalar]? {
        guard let items = node.sequence else {
            error(node, path, "expected a list of \(count) numbers, found a \(node.kindName)")
            return nil
        }
        guard items.count == count else {
            error(node, path, "expected \(count) numbers, found \(items.count)")
            return nil
        }
        let values = items.enumerated().compactMap { scalar($1, "\(path)[\($0)]", constraint, random: random) }
        return values.count == count ? values : nil
    }

    /// A list of points `[[x, y], ...]`.
    func points(_ node: YAMLNode, _ path: String, min: Int, max: Int = .max) -> [[Scalar]]? {
        guard let items = sequence(node, path) else { return nil }
        guard items.count >= min, items.count <= max else {
            error(node, path, max == .max ? "needs at least \(min) points, found \(items.count)"
                                          : "needs \(min == max ? "\(min)" : "\(min) to \(max)") points, found \(items.count)")
            return nil
        }
        let pts = items.enumerated().compactMap { pair($1, "\(path)[\($0)]") }
        return pts.count == items.count ? pts : nil
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

    /// An expression evaluated every step (reward, termination, observation). Its variables are
    /// checked later, against the world's names.
    func stepExpression(_ node: YAMLNode, _ path: String) -> Expression? {
        guard case .scalar(let s, let style) = node.kind else {
            error(node, path, "expected an expression (a string), found a \(node.kindName)")
            return nil
        }
        do { return try Expression(parsing: s) } catch {
            let quote = (style == .singleQuoted || style == .doubleQuoted) ? 1 : 0
            self.error(at: YAMLMark(line: node.mark.line, column: node.mark.column + quote + error.offset), path,
                       "bad expression '\(s)': \(error.message)")
            return nil
        }
    }

    // MARK: Helpers

    private func check(_ v: Double, _ c: Constraint, _ node: YAMLNode, _ path: String) -> Bool {
        guard supportOK(v...v, c) else {
            error(node, path, "must be \(c.requirement(for: v...v)), found \(formatNumber(v))")
            return false
        }
        return true
    }

    private func supportOK(_ r: ClosedRange<Double>, _ c: Constraint) -> Bool {
        c.admits(r)
    }

    func constraintText(_ c: Constraint) -> String { c.text }
}

/// The known keys of one mapping, with their value nodes.
package struct Fields {
    let node: YAMLNode
    let path: String
    var values: [String: YAMLNode] = [:]
    var keyMarks: [String: YAMLMark] = [:]
    var order: [String] = []

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

func join(_ path: String, _ key: String) -> String {
    path.isEmpty ? key : "\(path).\(key)"
}

func isIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else { return false }
    return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
}

/// Parses YAML-style numbers: 12, -3.5, 1e-3, 0x10, 0o17, 1_000.
func parseNumber(_ text: String) -> Double? {
    var s = text.replacingOccurrences(of: "_", with: "")
    var sign = 1.0
    if s.hasPrefix("-") { sign = -1; s.removeFirst() } else if s.hasPrefix("+") { s.removeFirst() }
    if s.hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return sign * Double(v) }
    if s.hasPrefix("0o"), let v = UInt64(s.dropFirst(2), radix: 8) { return sign * Double(v) }
    guard let first = s.first, first.isNumber || first == "." else { return nil }
    guard s.allSatisfy({ $0.isNumber || $0 == "." || $0 == "e" || $0 == "E" || $0 == "-" || $0 == "+" }),
          let v = Double(s) else { return nil }
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
