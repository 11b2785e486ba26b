#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unary operators. (Unary `+` is dropped by the parser.)
enum ExprUnaryOp: Sendable, Equatable {
    case negate
    case not

    var symbol: String {
        switch self {
        case .negate: "-"
        case .not: "!"
        }
    }

    @inline(__always)
    func apply(_ x: Double) -> Double {
        switch self {
        case .negate: -x
        case .not: x == 0 ? 1 : 0
        }
    }
}

enum ExprBinaryOp: Sendable, Equatable {
    case add, subtract, multiply, divide, remainder, power
    case less, lessEqual, greater, greaterEqual, equal, notEqual
    case and, or

    var symbol: String {
        switch self {
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        case .remainder: "%"
        case .power: "^"
        case .less: "<"
        case .lessEqual: "<="
        case .greater: ">"
        case .greaterEqual: ">="
        case .equal: "=="
        case .notEqual: "!="
        case .and: "&&"
        case .or: "||"
        }
    }

    @inline(__always)
    func apply(_ a: Double, _ b: Double) -> Double {
        switch self {
        case .add: a + b
        case .subtract: a - b
        case .multiply: a * b
        case .divide: a / b
        case .remainder: fmod(a, b)
        case .power: ExprMath.power(a, b)
        case .less: a < b ? 1 : 0
        case .lessEqual: a <= b ? 1 : 0
        case .greater: a > b ? 1 : 0
        case .greaterEqual: a >= b ? 1 : 0
        case .equal: a == b ? 1 : 0
        case .notEqual: a != b ? 1 : 0
        case .and: (a != 0 && b != 0) ? 1 : 0
        case .or: (a != 0 || b != 0) ? 1 : 0
        }
    }
}

/// Built-in functions. Raw values are the names used in expressions.
enum ExprFunction: String, Sendable, CaseIterable {
    case abs, sqrt, exp, log, sin, cos, tan, asin, acos, atan, tanh, floor, ceil, round, sign
    case step
    case wrapAngle = "wrap_angle"
    case atan2, hypot, pow
    case min, max
    case clip, lerp

    /// Fixed argument count, or nil for the variadic `min` / `max` (at least 2).
    var arity: Int? {
        switch self {
        case .abs, .sqrt, .exp, .log, .sin, .cos, .tan, .asin, .acos, .atan, .tanh, .floor, .ceil, .round,
            .sign, .step, .wrapAngle:
            1
        case .atan2, .hypot, .pow: 2
        case .clip, .lerp: 3
        case .min, .max: nil
        }
    }

    static let minimumVariadicArguments = 2

    static let byName: [String: ExprFunction] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// Applies a one-argument function (`arity == 1`).
    @inline(__always)
    func apply1(_ x: Double) -> Double {
        switch self {
        case .abs: Swift.abs(x)
        case .sqrt: x.squareRoot()
        case .exp: libmExp(x)
        case .log: libmLog(x)
        case .sin: libmSin(x)
        case .cos: libmCos(x)
        case .tan: libmTan(x)
        case .asin: libmAsin(x)
        case .acos: libmAcos(x)
        case .atan: libmAtan(x)
        case .tanh: libmTanh(x)
        case .floor: x.rounded(.down)
        case .ceil: x.rounded(.up)
        case .round: x.rounded(.toNearestOrAwayFromZero)
        case .sign: ExprMath.sign(x)
        case .step: x > 0 ? 1 : 0
        case .wrapAngle: ExprMath.wrapAngle(x)
        case .atan2, .hypot, .pow, .min, .max, .clip, .lerp: .nan  // not one-argument functions
        }
    }

    /// Applies the function to `count` arguments stored contiguously at `args`.
    func apply(_ args: UnsafePointer<Double>, count: Int) -> Double {
        switch self {
        case .abs, .sqrt, .exp, .log, .sin, .cos, .tan, .asin, .acos, .atan, .tanh, .floor, .ceil, .round,
            .sign, .step, .wrapAngle:
            apply1(args[0])
        case .atan2: libmAtan2(args[0], args[1])
        case .hypot: libmHypot(args[0], args[1])
        case .pow: ExprMath.power(args[0], args[1])
        case .min: ExprMath.minimum(args, count: count)
        case .max: ExprMath.maximum(args, count: count)
        case .clip: ExprMath.min(ExprMath.max(args[0], args[1]), args[2])
        case .lerp: args[0] + (args[1] - args[0]) * args[2]
        }
    }
}

// Free-function wrappers so the enum cases above (`.sin`, `.pow`, ...) don't shadow the C functions.
@inline(__always) private func libmExp(_ x: Double) -> Double { exp(x) }
@inline(__always) private func libmLog(_ x: Double) -> Double { log(x) }
@inline(__always) private func libmSin(_ x: Double) -> Double { sin(x) }
@inline(__always) private func libmCos(_ x: Double) -> Double { cos(x) }
@inline(__always) private func libmTan(_ x: Double) -> Double { tan(x) }
@inline(__always) private func libmAsin(_ x: Double) -> Double { asin(x) }
@inline(__always) private func libmAcos(_ x: Double) -> Double { acos(x) }
@inline(__always) private func libmAtan(_ x: Double) -> Double { atan(x) }
@inline(__always) private func libmTanh(_ x: Double) -> Double { tanh(x) }
@inline(__always) private func libmAtan2(_ y: Double, _ x: Double) -> Double { atan2(y, x) }
@inline(__always) private func libmHypot(_ x: Double, _ y: Double) -> Double { hypot(x, y) }

enum ExprMath {
    /// `^` and `pow`: x^2 is computed as x * x (the correctly rounded square; faster than libm `pow`).
    @inline(__always)
    static func power(_ x: Double, _ y: Double) -> Double {
        y == 2 ? x * x : pow(x, y)
    }

    /// -1, 0 or 1 (NaN stays NaN; -0 gives 0).
    @inline(__always)
    static func sign(_ x: Double) -> Double {
        if x > 0 { return 1 }
        if x < 0 { return -1 }
        return x == 0 ? 0 : x
    }

    /// Wraps an angle into [-pi, pi). Non-finite input gives NaN.
    static func wrapAngle(_ x: Double) -> Double {
        let twoPi = 2 * Double.pi
        // IEEE remainder is exact and lands in [-pi, pi] (twoPi / 2 == pi exactly); move pi to -pi.
        let r = remainder(x, twoPi)
        return r >= Double.pi ? r - twoPi : r
    }

    /// Minimum that propagates NaN (unlike `Swift.min` and `fmin`).
    @inline(__always)
    static func min(_ a: Double, _ b: Double) -> Double {
        if a.isNaN || b.isNaN { return .nan }
        return b < a ? b : a
    }

    static func minimum(_ args: UnsafePointer<Double>, count: Int) -> Double {
        var result = args[0]
        for i in 1..<count { result = min(result, args[i]) }
        return result
    }

    static func maximum(_ args: UnsafePointer<Double>, count: Int) -> Double {
        var result = args[0]
        for i in 1..<count { result = max(result, args[i]) }
        return result
    }

    /// Maximum that propagates NaN (unlike `Swift.max` and `fmax`).
    @inline(__always)
    static func max(_ a: Double, _ b: Double) -> Double {
        if a.isNaN || b.isNaN { return .nan }
        return b > a ? b : a
    }
}

/// Expression syntax tree. Built through the `make…` functions, which fold constant subtrees.
indirect enum ExprNode: Sendable, Equatable {
    case constant(Double)
    /// Index into `Expression.variables`.
    case variable(Int)
    case unary(ExprUnaryOp, ExprNode)
    case binary(ExprBinaryOp, ExprNode, ExprNode)
    case call(ExprFunction, [ExprNode])
    /// condition ? then : else
    case select(ExprNode, ExprNode, ExprNode)

    var constantValue: Double? {
        if case .constant(let v) = self { return v }
        return nil
    }

    static func makeUnary(_ op: ExprUnaryOp, _ operand: ExprNode) -> ExprNode {
        if let v = operand.constantValue { return .constant(op.apply(v)) }
        return .unary(op, operand)
    }

    static func makeBinary(_ op: ExprBinaryOp, _ lhs: ExprNode, _ rhs: ExprNode) -> ExprNode {
        if let a = lhs.constantValue, let b = rhs.constantValue { return .constant(op.apply(a, b)) }
        return .binary(op, lhs, rhs)
    }

    static func makeCall(_ function: ExprFunction, _ arguments: [ExprNode]) -> ExprNode {
        let values = arguments.compactMap(\.constantValue)
        if values.count == arguments.count {
            return .constant(values.withUnsafeBufferPointer { function.apply($0.baseAddress!, count: $0.count) })
        }
        return .call(function, arguments)
    }

    static func makeSelect(_ condition: ExprNode, _ then: ExprNode, _ otherwise: ExprNode) -> ExprNode {
        if let c = condition.constantValue, let t = then.constantValue, let o = otherwise.constantValue {
            return .constant(c != 0 ? t : o)
        }
        return .select(condition, then, otherwise)
    }

    /// Tree-walking evaluation; `values[i]` is the value of variable `i`. Independent of the
    /// stack-machine compiler so the two can be checked against each other.
    func evaluate(_ values: [Double]) -> Double {
        switch self {
        case .constant(let v):
            return v
        case .variable(let i):
            return values[i]
        case .unary(let op, let operand):
            return op.apply(operand.evaluate(values))
        case .binary(let op, let lhs, let rhs):
            return op.apply(lhs.evaluate(values), rhs.evaluate(values))
        case .call(let function, let arguments):
            let args = arguments.map { $0.evaluate(values) }
            return args.withUnsafeBufferPointer { function.apply($0.baseAddress!, count: $0.count) }
        case .select(let condition, let then, let otherwise):
            return condition.evaluate(values) != 0 ? then.evaluate(values) : otherwise.evaluate(values)
        }
    }

    func render(_ names: [String]) -> String {
        switch self {
        case .constant(let v):
            if v == v.rounded(), Swift.abs(v) < 1e15 { return String(Int64(v)) }
            return String(v)
        case .variable(let i):
            return names[i]
        case .unary(let op, let operand):
            return "(\(op.symbol)\(operand.render(names)))"
        case .binary(let op, let lhs, let rhs):
            return "(\(lhs.render(names)) \(op.symbol) \(rhs.render(names)))"
        case .call(let function, let arguments):
            return "\(function.rawValue)(\(arguments.map { $0.render(names) }.joined(separator: ", ")))"
        case .select(let condition, let then, let otherwise):
            return "(\(condition.render(names)) ? \(then.render(names)) : \(otherwise.render(names)))"
        }
    }
}
