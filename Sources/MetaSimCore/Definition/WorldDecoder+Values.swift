import MetaSimYAML

/// The world-specific reads of the schema walk: numbers that may be expressions of the task
/// parameters declared so far, or distributions; points and vectors of them; step expressions;
/// collision bits. Structure (mappings, lists, names, literals) is `SchemaReader`'s.
extension WorldDecoder {
    func bits(_ node: YAMLNode, _ path: String) -> UInt16? {
        guard let i = reader.integer(node, path, min: 0, max: 0xFFFF) else { return nil }
        return UInt16(i)
    }

    /// A numeric field: literal, expression over parameters (a string), or, if `random` is
    /// allowed, a distribution mapping drawn every episode.
    func scalar(_ node: YAMLNode, _ path: String, _ constraint: ValueConstraint = .any, random: Bool = true) -> Scalar? {
        let origin = reader.origin(node, path)
        switch node.kind {
        case .scalar(let s, let style):
            if style == .plain, let v = parseNumber(s) {
                guard v.isFinite else { reader.error(node, path, "'\(s)' is not a finite number"); return nil }
                guard check(v, constraint, node, path) else { return nil }
                return Scalar(.value(v), origin: origin, constraint: constraint)
            }
            if style == .plain, ["true", "false", "yes", "no", "on", "off", "True", "False", ""].contains(s) || node.isNull {
                reader.error(node, path, "expected a number or an expression, found '\(s)'")
                return nil
            }
            if style == .plain, [".nan", ".NaN", ".NAN", ".inf", "-.inf", "+.inf", ".Inf", "-.Inf", ".INF", "-.INF"].contains(s) {
                reader.error(node, path, "'\(s)' is not a finite number")
                return nil
            }
            return expressionScalar(s, style: style, node: node, path: path, constraint: constraint)
        case .mapping:
            guard random else {
                reader.error(node, path, "a distribution is not allowed here (the value must be fixed for a task)")
                return nil
            }
            guard let d = distribution(node, path) else { return nil }
            if let support = d.checkedSupport, !supportOK(support, constraint) {
                reader.error(node, path, "the distribution's values must be \(constraint.requirement(for: d.checkedSupport ?? 0...0))")
                return nil
            }
            return Scalar(.random(d), origin: origin, constraint: constraint)
        case .sequence:
            reader.error(node, path, "expected a number, found a list")
            return nil
        }
    }

    private func expressionScalar(_ s: String, style: YAMLScalarStyle, node: YAMLNode, path: String, constraint: ValueConstraint) -> Scalar? {
        let expression: Expression
        do { expression = try Expression(parsing: s) } catch {
            let quote = (style == .singleQuoted || style == .doubleQuoted) ? 1 : 0
            reader.error(node, at: YAMLMark(line: node.mark.line, column: node.mark.column + quote + error.offset), path,
                         "bad expression '\(s)': \(error.message)")
            return nil
        }
        for v in expression.variables where !parameterNames.contains(v) {
            reader.error(node, path, "'\(v)' in '\(s)' is not a parameter declared above (parameters: \(parameterNames.sorted().joined(separator: ", ")))")
            return nil
        }
        if expression.isConstant {
            guard let v = try? expression.evaluate({ _ in nil }), v.isFinite else {
                reader.error(node, path, "'\(s)' is not a finite number")
                return nil
            }
            guard check(v, constraint, node, path) else { return nil }
            return Scalar(.value(v), origin: reader.origin(node, path), constraint: constraint)
        }
        return Scalar(.expression(expression), origin: reader.origin(node, path), constraint: constraint)
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
                reader.error(pair.key, join(path, key), message)
                return nil
            }
        }
        let present = pairs.compactMap { $0.key.scalar }.filter { kinds.contains($0) }
        guard present.count == 1, let kind = present.first, let value = node[kind] else {
            reader.error(node, path, present.isEmpty
                  ? "expected a distribution: one of \(kinds.joined(separator: ", "))"
                  : "a distribution has exactly one of \(kinds.joined(separator: ", "))")
            return nil
        }
        let p = join(path, kind)
        switch kind {
        case "uniform", "integer":
            guard let bounds = pair(value, p, random: false) else { return nil }
            if let a = bounds[0].literalValue, let b = bounds[1].literalValue, a > b {
                reader.error(value, p, "low (\(formatNumber(a))) is greater than high (\(formatNumber(b)))")
                return nil
            }
            if kind == "integer", let big = bounds.compactMap(\.literalValue).first(where: { abs($0) > WorldLimits.maxIntegerBound }) {
                reader.error(value, p, "the bounds of an integer distribution must be within ±2^53, found \(formatNumber(big))")
                return nil
            }
            return kind == "uniform" ? .uniform(low: bounds[0], high: bounds[1]) : .integer(low: bounds[0], high: bounds[1])
        case "normal":
            guard let f = reader.mapping(value, p, allowed: ["mean", "std", "min", "max"]) else { return nil }
            guard let mean = f.require("mean", reader).flatMap({ scalar($0, join(p, "mean"), random: false) }),
                  let std = f.require("std", reader).flatMap({ scalar($0, join(p, "std"), .nonNegative, random: false) })
            else { return nil }
            let lo = f["min"].flatMap { scalar($0, join(p, "min"), random: false) } ?? .literal(-.infinity)
            let hi = f["max"].flatMap { scalar($0, join(p, "max"), random: false) } ?? .literal(.infinity)
            return .normal(mean: mean, std: std, low: lo, high: hi)
        case "choice":
            if let f = value.mapping, !f.isEmpty {
                guard let m = reader.mapping(value, p, allowed: ["values", "weights"]),
                      let valuesNode = m.require("values", reader), let items = reader.sequence(valuesNode, join(p, "values"))
                else { return nil }
                let values = items.enumerated().compactMap { scalar($1, "\(p).values[\($0)]", random: false) }
                guard values.count == items.count, !values.isEmpty else {
                    if items.isEmpty { reader.error(valuesNode, join(p, "values"), "needs at least one value") }
                    return nil
                }
                var weights: [Double]?
                if let w = m["weights"], let ws = reader.sequence(w, join(p, "weights")) {
                    let parsed = ws.enumerated().compactMap { reader.literal($1, "\(p).weights[\($0)]") }
                    guard parsed.count == values.count else {
                        reader.error(w, join(p, "weights"), "needs one weight per value (\(values.count))")
                        return nil
                    }
                    guard parsed.allSatisfy({ $0 >= 0 }), parsed.reduce(0, +) > 0 else {
                        reader.error(w, join(p, "weights"), "weights must be non-negative with a positive sum")
                        return nil
                    }
                    weights = parsed
                }
                return .choice(values: values, weights: weights)
            }
            guard let items = reader.sequence(value, p) else { return nil }
            guard !items.isEmpty else { reader.error(value, p, "needs at least one value"); return nil }
            let values = items.enumerated().compactMap { scalar($1, "\(p)[\($0)]", random: false) }
            return values.count == items.count ? .choice(values: values, weights: nil) : nil
        default: // constant
            guard let s = scalar(value, p, random: false) else { return nil }
            return .choice(values: [s], weights: nil)
        }
    }

    /// `[a, b]`: two scalars.
    func pair(_ node: YAMLNode, _ path: String, _ constraint: ValueConstraint = .any, random: Bool = true) -> [Scalar]? {
        vector(node, path, count: 2, constraint, random: random)
    }

    func vector(_ node: YAMLNode, _ path: String, count: Int, _ constraint: ValueConstraint = .any, random: Bool = true) -> [Scalar]? {
        guard let items = node.sequence else {
            reader.error(node, path, "expected a list of \(count) numbers, found a \(node.kindName)")
            return nil
        }
        guard items.count == count else {
            reader.error(node, path, "expected \(count) numbers, found \(items.count)")
            return nil
        }
        let values = items.enumerated().compactMap { scalar($1, "\(path)[\($0)]", constraint, random: random) }
        return values.count == count ? values : nil
    }

    /// A list of points `[[x, y], ...]`.
    func points(_ node: YAMLNode, _ path: String, min: Int, max: Int = .max) -> [[Scalar]]? {
        guard let items = reader.sequence(node, path) else { return nil }
        guard items.count >= min, items.count <= max else {
            reader.error(node, path, max == .max ? "needs at least \(min) points, found \(items.count)"
                                          : "needs \(min == max ? "\(min)" : "\(min) to \(max)") points, found \(items.count)")
            return nil
        }
        let pts = items.enumerated().compactMap { pair($1, "\(path)[\($0)]") }
        return pts.count == items.count ? pts : nil
    }


    /// An expression evaluated every step (reward, termination, observation). Its variables are
    /// checked later, against the world's names.
    func stepExpression(_ node: YAMLNode, _ path: String) -> Expression? {
        guard case .scalar(let s, let style) = node.kind else {
            reader.error(node, path, "expected an expression (a string), found a \(node.kindName)")
            return nil
        }
        do { return try Expression(parsing: s) } catch {
            let quote = (style == .singleQuoted || style == .doubleQuoted) ? 1 : 0
            reader.error(node, at: YAMLMark(line: node.mark.line, column: node.mark.column + quote + error.offset), path,
                         "bad expression '\(s)': \(error.message)")
            return nil
        }
    }

    // MARK: Helpers

    private func check(_ v: Double, _ c: ValueConstraint, _ node: YAMLNode, _ path: String) -> Bool {
        guard supportOK(v...v, c) else {
            reader.error(node, path, "must be \(c.requirement(for: v...v)), found \(formatNumber(v))")
            return false
        }
        return true
    }

    private func supportOK(_ r: ClosedRange<Double>, _ c: ValueConstraint) -> Bool {
        c.admits(r)
    }
}
