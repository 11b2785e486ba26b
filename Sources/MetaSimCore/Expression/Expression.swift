/// Arithmetic expressions used by world files: numeric fields ("14 / SCALE") and per-step
/// reward / termination terms ("-100*sqrt(x^2 + y^2) + 10*leg_left").
///
/// Grammar (lowest precedence first; every binary level is left-associative unless noted):
///
///     expression     := conditional
///     conditional    := or ( "?" conditional ":" conditional )?        // right-assoc: a ? b : c ? d : e
///     or             := and ( "||" and )*
///     and            := equality ( "&&" equality )*
///     equality       := comparison ( ( "==" | "!=" ) comparison )*
///     comparison     := additive ( ( "<" | "<=" | ">" | ">=" ) additive )*
///     additive       := multiplicative ( ( "+" | "-" ) multiplicative )*
///     multiplicative := unary ( ( "*" | "/" | "%" ) unary )*
///     unary          := ( "-" | "+" | "!" ) unary | power
///     power          := primary ( "^" unary )?                          // right-assoc; -x^2 = -(x^2), 2^-1 = 0.5
///     primary        := NUMBER | NAME | NAME "(" arguments? ")" | "(" expression ")"
///     arguments      := expression ( "," expression )*
///
///     NUMBER := DIGITS ( "." DIGITS? )? EXPONENT? | "." DIGITS EXPONENT?     // 123  1.5  .5  1e-3  2.5E+3
///     EXPONENT := ( "e" | "E" ) ( "+" | "-" )? DIGITS
///     NAME   := PART ( "." PART )*   with PART := [A-Za-z_][A-Za-z0-9_]*      // "lander.x" is ONE name
///
/// Semantics (all values are `Double`):
/// - `%` is C `fmod` (sign of the dividend); `^` is C `pow`. Division by zero follows IEEE 754 (±inf / NaN).
/// - Comparisons, `&&`, `||` and `!` yield 1 or 0. A value is true when it is non-zero (so NaN is true,
///   `!nan` is 0). Both sides of `&&`, `||` and both branches of `?:` are always evaluated; that is
///   unobservable because evaluation has no side effects.
/// - Constants: `pi`, `e`, `inf`. These names can never be variables.
/// - Functions (argument counts are checked when parsing): `abs sqrt exp log sin cos tan asin acos atan
///   tanh floor ceil` (1 argument; `log` is natural), `round(x)` (halves away from zero), `sign(x)`
///   (-1, 0 or 1), `step(x)` (1 if x > 0 else 0), `wrap_angle(x)` (into [-pi, pi)), `atan2(y, x)`,
///   `hypot(x, y)`, `pow(x, y)`, `clip(x, lo, hi)` (= min(max(x, lo), hi)), `lerp(a, b, t)` (= a + (b - a) * t),
///   `min(a, b, ...)` and `max(a, b, ...)` (2 or more arguments).
///   `min`, `max` and `clip` return NaN if any argument is NaN. Function names can not be used as variables.
/// - Every other name is a variable. Subtrees without variables are folded to constants when parsing,
///   using the same arithmetic as evaluation, so folding never changes a result.
/// - Offsets in errors count Swift `Character`s from 0; `ExpressionError.description` shows them 1-based.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A parse, resolution or evaluation error, pointing at a character of the expression source.
public struct ExpressionError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    /// 0-based character offset in the source where the problem is.
    public let offset: Int

    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// "MESSAGE (at character OFFSET+1)"
    public var description: String { "\(message) (at character \(offset + 1))" }
}

/// A parsed (and constant-folded) expression. Cheap to copy and safe to share across tasks.
public struct Expression: Sendable, CustomStringConvertible {
    public let source: String
    /// The folded syntax tree. Variables are indices into `variables`.
    let root: ExprNode
    /// Distinct variable names in order of first use.
    public let variables: [String]
    /// Character offset of the first use of each entry of `variables`.
    let firstUseOffsets: [Int]

    public init(parsing source: String) throws(ExpressionError) {
        var parser = try ExprParser(source: source)
        let root = try parser.parseExpression()
        self.source = source
        self.root = root
        self.variables = parser.variableNames
        self.firstUseOffsets = parser.variableOffsets
    }

    /// True when the expression uses no variables (it is then a single folded constant).
    public var isConstant: Bool { variables.isEmpty }

    /// The value of a constant expression, or nil if it uses variables.
    public var constantValue: Double? {
        if case .constant(let value) = root { return value }
        return nil
    }

    public var description: String { source }

    /// Evaluate with a lookup (slow path: used once per task to resolve parameters).
    /// `lookup` is called once per distinct variable, in first-use order. An unknown variable is an
    /// error naming it, at the offset of its first use.
    public func evaluate(_ lookup: (String) -> Double?) throws(ExpressionError) -> Double {
        var values: [Double] = []
        values.reserveCapacity(variables.count)
        for (index, name) in variables.enumerated() {
            guard let value = lookup(name) else {
                throw ExpressionError(message: "unknown variable '\(name)'", offset: firstUseOffsets[index])
            }
            values.append(value)
        }
        return root.evaluate(values)
    }

    /// Evaluate with named values; names that are not used are ignored.
    public func evaluate(_ values: [String: Double]) throws(ExpressionError) -> Double {
        try evaluate { values[$0] }
    }

    /// Compile against a resolver mapping each variable to a slot index in a Double array.
    /// `slot` is called once per distinct variable, in first-use order.
    public func compile(_ slot: (String) -> Int?) throws(ExpressionError) -> CompiledExpression {
        var slots: [Int] = []
        slots.reserveCapacity(variables.count)
        for (index, name) in variables.enumerated() {
            guard let resolved = slot(name) else {
                throw ExpressionError(message: "unknown variable '\(name)'", offset: firstUseOffsets[index])
            }
            guard resolved >= 0 else {
                throw ExpressionError(
                    message: "variable '\(name)' resolved to invalid slot \(resolved)",
                    offset: firstUseOffsets[index])
            }
            slots.append(resolved)
        }
        return CompiledExpression(root: root, slots: slots)
    }

    /// Fully parenthesised rendering of the folded tree (for tests and diagnostics).
    var treeDescription: String { root.render(variables) }
}
