/// A lexical token with the character offset where it starts.
struct ExprToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case number(Double)
        case name(String)
        case plus, minus, star, slash, percent, caret
        case leftParen, rightParen, comma, question, colon
        case less, lessEqual, greater, greaterEqual, equalEqual, bangEqual
        case ampAmp, pipePipe, bang
        case end
    }

    let kind: Kind
    let offset: Int
    /// The source text of the token (empty for `.end`).
    let text: String

    /// How the token is named in error messages.
    var quoted: String { kind == .end ? "end of input" : "'\(text)'" }
}

/// Splits an expression into tokens. Offsets count `Character`s.
enum ExprLexer {
    static func tokenize(_ source: String) throws(ExpressionError) -> [ExprToken] {
        let chars = Array(source)
        var tokens: [ExprToken] = []
        var i = 0

        func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }
        func isNameStart(_ c: Character) -> Bool { c == "_" || (c.isASCII && c.isLetter) }
        func isNamePart(_ c: Character) -> Bool { isNameStart(c) || isDigit(c) }
        func peek(_ k: Int) -> Character? { k < chars.count ? chars[k] : nil }

        while i < chars.count {
            let c = chars[i]
            let start = i
            if c.isWhitespace {
                i += 1
                continue
            }

            if isDigit(c) || (c == "." && peek(i + 1).map(isDigit) == true) {
                // Take the maximal run that could belong to a number (so "2x" and "1.2.3" are one bad token).
                i += 1
                while let n = peek(i) {
                    if isNamePart(n) || n == "." {
                        i += 1
                    } else if (n == "+" || n == "-"), chars[i - 1] == "e" || chars[i - 1] == "E",
                        !chars[start..<(i - 1)].contains(where: isNameStart)
                    {
                        i += 1  // exponent sign: "1e-3"
                    } else {
                        break
                    }
                }
                let text = String(chars[start..<i])
                guard isValidNumber(chars[start..<i]), let value = Double(text) else {
                    throw ExpressionError(message: "invalid number '\(text)'", offset: start)
                }
                tokens.append(ExprToken(kind: .number(value), offset: start, text: text))
                continue
            }

            if isNameStart(c) {
                i += 1
                while let n = peek(i) {
                    if isNamePart(n) {
                        i += 1
                    } else if n == ".", let after = peek(i + 1), isNameStart(after) {
                        i += 2
                    } else if n == "." {
                        throw ExpressionError(
                            message: "expected a name part after '.' in '\(String(chars[start...i]))'", offset: i + 1)
                    } else {
                        break
                    }
                }
                let text = String(chars[start..<i])
                tokens.append(ExprToken(kind: .name(text), offset: start, text: text))
                continue
            }

            let next = peek(i + 1)
            let kind: ExprToken.Kind
            var length = 1
            switch c {
            case "+": kind = .plus
            case "-": kind = .minus
            case "*": kind = .star
            case "/": kind = .slash
            case "%": kind = .percent
            case "^": kind = .caret
            case "(": kind = .leftParen
            case ")": kind = .rightParen
            case ",": kind = .comma
            case "?": kind = .question
            case ":": kind = .colon
            case "<":
                if next == "=" { kind = .lessEqual; length = 2 } else { kind = .less }
            case ">":
                if next == "=" { kind = .greaterEqual; length = 2 } else { kind = .greater }
            case "!":
                if next == "=" { kind = .bangEqual; length = 2 } else { kind = .bang }
            case "=":
                guard next == "=" else {
                    throw ExpressionError(message: "unexpected '='; use '==' to compare", offset: start)
                }
                kind = .equalEqual; length = 2
            case "&":
                guard next == "&" else {
                    throw ExpressionError(message: "unexpected '&'; use '&&' for logical and", offset: start)
                }
                kind = .ampAmp; length = 2
            case "|":
                guard next == "|" else {
                    throw ExpressionError(message: "unexpected '|'; use '||' for logical or", offset: start)
                }
                kind = .pipePipe; length = 2
            default:
                throw ExpressionError(message: "unexpected character '\(c)'", offset: start)
            }
            i += length
            tokens.append(ExprToken(kind: kind, offset: start, text: String(chars[start..<i])))
        }
        tokens.append(ExprToken(kind: .end, offset: chars.count, text: ""))
        return tokens
    }

    /// DIGITS ( "." DIGITS? )? EXPONENT? | "." DIGITS EXPONENT?  with EXPONENT := [eE] [+-]? DIGITS
    static func isValidNumber(_ s: ArraySlice<Character>) -> Bool {
        var i = s.startIndex
        func digits() -> Int {
            let from = i
            while i < s.endIndex, s[i].isASCII, s[i].isNumber { i += 1 }
            return i - from
        }
        var mantissaDigits = digits()
        if i < s.endIndex, s[i] == "." {
            i += 1
            mantissaDigits += digits()
        }
        guard mantissaDigits > 0 else { return false }
        if i < s.endIndex, s[i] == "e" || s[i] == "E" {
            i += 1
            if i < s.endIndex, s[i] == "+" || s[i] == "-" { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == s.endIndex
    }
}

/// Recursive-descent parser producing a folded `ExprNode` tree.
struct ExprParser {
    /// Deeper trees are rejected so that recursion over them can't exhaust a thread's stack.
    static let maximumDepth = 200

    static let namedConstants: [String: Double] = ["pi": Double.pi, "e": 2.718281828459045, "inf": Double.infinity]

    private let tokens: [ExprToken]
    private var index = 0
    private(set) var variableNames: [String] = []
    private(set) var variableOffsets: [Int] = []
    private var variableIndex: [String: Int] = [:]
    /// Current recursion depth of the parse functions (bounded before recursing further).
    private var nesting = 0

    init(source: String) throws(ExpressionError) {
        tokens = try ExprLexer.tokenize(source)
    }

    private var current: ExprToken { tokens[index] }

    private mutating func advance() -> ExprToken {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    /// A parsed subtree with its height, used to bound the depth of the tree.
    private struct Parsed {
        var node: ExprNode
        var depth: Int
    }

    mutating func parseExpression() throws(ExpressionError) -> ExprNode {
        if current.kind == .end {
            throw ExpressionError(message: "empty expression", offset: 0)
        }
        let result = try parseConditional()
        if current.kind != .end {
            if current.kind == .rightParen {
                throw ExpressionError(message: "unmatched ')'", offset: current.offset)
            }
            throw ExpressionError(
                message: "unexpected \(current.quoted) after complete expression", offset: current.offset)
        }
        return result.node
    }

    private func checked(_ node: ExprNode, depth: Int, at offset: Int) throws(ExpressionError) -> Parsed {
        guard depth <= Self.maximumDepth else {
            throw ExpressionError(
                message: "expression is nested too deeply (more than \(Self.maximumDepth) levels)", offset: offset)
        }
        return Parsed(node: node, depth: depth)
    }

    private mutating func enter() throws(ExpressionError) {
        nesting += 1
        guard nesting <= Self.maximumDepth else {
            throw ExpressionError(
                message: "expression is nested too deeply (more than \(Self.maximumDepth) levels)",
                offset: current.offset)
        }
    }

    private mutating func parseConditional() throws(ExpressionError) -> Parsed {
        try enter()
        defer { nesting -= 1 }
        let condition = try parseBinary(level: 0)
        guard current.kind == .question else { return condition }
        let question = advance()
        let then = try parseConditional()
        guard current.kind == .colon else {
            throw ExpressionError(
                message: "expected ':' for '?' at character \(question.offset + 1), found \(current.quoted)",
                offset: current.offset)
        }
        _ = advance()
        let otherwise = try parseConditional()
        return try checked(
            .makeSelect(condition.node, then.node, otherwise.node),
            depth: 1 + Swift.max(condition.depth, then.depth, otherwise.depth), at: question.offset)
    }

    /// Binary operator levels, loosest first. All are left-associative.
    private static let binaryLevels: [[(ExprToken.Kind, ExprBinaryOp)]] = [
        [(.pipePipe, .or)],
        [(.ampAmp, .and)],
        [(.equalEqual, .equal), (.bangEqual, .notEqual)],
        [(.less, .less), (.lessEqual, .lessEqual), (.greater, .greater), (.greaterEqual, .greaterEqual)],
        [(.plus, .add), (.minus, .subtract)],
        [(.star, .multiply), (.slash, .divide), (.percent, .remainder)],
    ]

    private mutating func parseBinary(level: Int) throws(ExpressionError) -> Parsed {
        guard level < Self.binaryLevels.count else { return try parseUnary() }
        var lhs = try parseBinary(level: level + 1)
        while let op = Self.binaryLevels[level].first(where: { $0.0 == current.kind })?.1 {
            let opToken = advance()
            let rhs = try parseBinary(level: level + 1)
            lhs = try checked(
                .makeBinary(op, lhs.node, rhs.node), depth: 1 + Swift.max(lhs.depth, rhs.depth), at: opToken.offset)
        }
        return lhs
    }

    private mutating func parseUnary() throws(ExpressionError) -> Parsed {
        let op: ExprUnaryOp?
        switch current.kind {
        case .minus: op = .negate
        case .bang: op = .not
        case .plus: op = nil
        default: return try parsePower()
        }
        let opToken = advance()
        try enter()
        defer { nesting -= 1 }
        let operand = try parseUnary()
        guard let op else { return try checked(operand.node, depth: operand.depth + 1, at: opToken.offset) }
        return try checked(.makeUnary(op, operand.node), depth: operand.depth + 1, at: opToken.offset)
    }

    private mutating func parsePower() throws(ExpressionError) -> Parsed {
        let base = try parsePrimary()
        guard current.kind == .caret else { return base }
        let caret = advance()
        try enter()
        defer { nesting -= 1 }
        let exponent = try parseUnary()  // right-associative, and allows 2^-1
        return try checked(
            .makeBinary(.power, base.node, exponent.node), depth: 1 + Swift.max(base.depth, exponent.depth),
            at: caret.offset)
    }

    private mutating func parsePrimary() throws(ExpressionError) -> Parsed {
        let token = current
        switch token.kind {
        case .number(let value):
            _ = advance()
            return Parsed(node: .constant(value), depth: 1)

        case .leftParen:
            _ = advance()
            let inner = try parseConditional()
            guard current.kind == .rightParen else {
                throw ExpressionError(
                    message: "missing ')' for '(' at character \(token.offset + 1), found \(current.quoted)",
                    offset: current.offset)
            }
            _ = advance()
            return try checked(inner.node, depth: inner.depth + 1, at: token.offset)

        case .name(let name):
            _ = advance()
            if current.kind == .leftParen {
                return try parseCall(name, at: token.offset)
            }
            if let value = Self.namedConstants[name] {
                return Parsed(node: .constant(value), depth: 1)
            }
            if ExprFunction.byName[name] != nil {
                throw ExpressionError(
                    message: "'\(name)' is a function; call it as \(name)(...)", offset: token.offset)
            }
            return Parsed(node: .variable(variable(name, at: token.offset)), depth: 1)

        default:
            throw ExpressionError(message: "expected an expression, found \(token.quoted)", offset: token.offset)
        }
    }

    private mutating func parseCall(_ name: String, at offset: Int) throws(ExpressionError) -> Parsed {
        guard let function = ExprFunction.byName[name] else {
            let known = ExprFunction.allCases.map(\.rawValue).sorted().joined(separator: ", ")
            throw ExpressionError(message: "unknown function '\(name)' (known: \(known))", offset: offset)
        }
        let open = advance()
        var arguments: [ExprNode] = []
        var depth = 0
        if current.kind != .rightParen {
            while true {
                let argument = try parseConditional()
                arguments.append(argument.node)
                depth = Swift.max(depth, argument.depth)
                if current.kind == .comma {
                    _ = advance()
                    continue
                }
                guard current.kind == .rightParen else {
                    throw ExpressionError(
                        message: "missing ')' for '\(name)(' at character \(open.offset + 1), found \(current.quoted)",
                        offset: current.offset)
                }
                break
            }
        }
        _ = advance()  // ')'

        if let arity = function.arity {
            guard arguments.count == arity else {
                throw ExpressionError(
                    message: "\(name) takes \(arity) argument\(arity == 1 ? "" : "s"), got \(arguments.count)",
                    offset: offset)
            }
        } else {
            let minimum = ExprFunction.minimumVariadicArguments
            guard arguments.count >= minimum else {
                throw ExpressionError(
                    message: "\(name) takes at least \(minimum) arguments, got \(arguments.count)", offset: offset)
            }
        }
        return try checked(.makeCall(function, arguments), depth: depth + 1, at: offset)
    }

    private mutating func variable(_ name: String, at offset: Int) -> Int {
        if let existing = variableIndex[name] { return existing }
        let index = variableNames.count
        variableNames.append(name)
        variableOffsets.append(offset)
        variableIndex[name] = index
        return index
    }
}
