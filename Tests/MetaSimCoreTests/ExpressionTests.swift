import Testing

@testable import MetaSimCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Helpers

/// Same value, including the sign of zero; any NaN equals any NaN.
private func same(_ a: Double, _ b: Double) -> Bool {
    (a.isNaN && b.isNaN) || a.bitPattern == b.bitPattern || (a == 0 && b == 0 && a.sign == b.sign)
}

/// Evaluates through both paths (lookup and compiled) and checks that they agree bit for bit.
private func evalBoth(_ source: String, _ values: [String: Double] = [:]) throws -> Double {
    let expression = try Expression(parsing: source)
    let slow = try expression.evaluate { values[$0] }
    let names = Array(values.keys).sorted()
    let compiled = try expression.compile { names.firstIndex(of: $0) }
    let slots = names.map { values[$0]! } + [0]  // never empty
    let fast = compiled.evaluate(slots)
    #expect(same(slow, fast), "\(source): lookup \(slow) != compiled \(fast)")
    return slow
}

private func parseError(_ source: String) -> ExpressionError? {
    do {
        _ = try Expression(parsing: source)
        return nil
    } catch {
        return error
    }
}

/// Deterministic generator (SplitMix64).
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: - Precedence and associativity

@Suite("Expression precedence")
struct ExpressionPrecedenceTests {
    static let constantCases: [(String, Double)] = [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 - 3 + 4", 3),
        ("100 / 10 / 5", 2),
        ("4 / 2 * 2", 4),
        ("2 ^ 3 ^ 2", 512),
        ("(2 ^ 3) ^ 2", 64),
        ("-2 ^ 2", -4),
        ("(-2) ^ 2", 4),
        ("2 ^ -1", 0.5),
        ("-2 ^ -2", -0.25),
        ("2 * 3 ^ 2", 18),
        ("2 ^ 3 * 2", 16),
        ("7 % 4", 3),
        ("-7 % 4", -3),
        ("7 % -4", 3),
        ("7.5 % 2", 1.5),
        ("2 + 7 % 4 * 2", 8),
        ("1 - -1", 2),
        ("1 - - - 1", 0),
        ("+3", 3),
        ("-+-3", 3),
        ("2 * -3", -6),
        ("-(1 + 2) * 2", -6),
        ("1 + 2 < 4", 1),
        ("1 + 2 < 3", 0),
        ("2 <= 2", 1),
        ("2 >= 3", 0),
        ("2 != 3", 1),
        ("2 == 2.0", 1),
        ("1 < 2 == 1", 1),
        ("2 == 2 == 1", 1),
        ("3 > 2 > 1", 0),
        ("1 || 0 && 0", 1),
        ("(1 || 0) && 0", 0),
        ("1 && 2", 1),
        ("0.5 || 0", 1),
        ("0 || 0", 0),
        ("1 == 1 && 2 < 1", 0),
        ("!0 + 1", 2),
        ("!1 == 0", 1),
        ("!(1 == 0)", 1),
        ("!!5", 1),
        ("!-1", 0),
        ("1 ? 2 : 3", 2),
        ("0 ? 2 : 3", 3),
        ("0 ? 1 : 0 ? 2 : 3", 3),
        ("1 ? 0 ? 4 : 5 : 6", 5),
        ("1 + 1 ? 10 : 20", 10),
        ("0 || 0 ? 1 : 2", 2),
        ("1 ? 2 + 3 : 4", 5),
        ("1.5e1 + .5", 15.5),
        ("2.5E+3", 2500),
        ("1e-3", 0.001),
        ("3.", 3),
        ("0.25E2", 25),
        (" \t( 1\n+\r\n2 ) ", 3),
    ]

    @Test("constant precedence table", arguments: constantCases)
    func constantTable(source: String, expected: Double) throws {
        let expression = try Expression(parsing: source)
        #expect(expression.isConstant)
        #expect(expression.constantValue == expected, "\(source)")
        #expect(try evalBoth(source) == expected)
    }

    static let variableCases: [(String, Double)] = [
        ("a - b - c", -5),
        ("c / a / a", 1),
        ("a ^ b ^ a", 512),
        ("-x ^ a", -9),
        ("-x^2", -9),
        ("a - -b", 5),
        ("c % b", 1),
        ("a + b * c", 14),
        ("(a + b) * c", 20),
        ("a * b + c", 10),
        ("a < b == 1", 1),
        ("a > b ? a : b", 3),
        ("a ? b ? 1 : 2 : 3", 1),
        ("a - b ? c : x", 4),
        ("!a || b && 0", 0),
        ("min(c, b, a) + max(a, b, c)", 6),
        ("clip(c, a, b)", 3),
        ("lerp(a, c, 0.5)", 3),
        ("pow(b, a) - hypot(b, c)", 4),
        ("a * 2 ^ b / c", 4),
    ]

    @Test("precedence with variables (lookup and compiled paths)", arguments: variableCases)
    func variableTable(source: String, expected: Double) throws {
        let values: [String: Double] = ["a": 2, "b": 3, "c": 4, "x": 3]
        #expect(try Expression(parsing: source).isConstant == false)
        #expect(try evalBoth(source, values) == expected)
    }

    static let treeCases: [(String, String)] = [
        ("a + b * c", "(a + (b * c))"),
        ("a - b - c", "((a - b) - c)"),
        ("a / b * c % d", "(((a / b) * c) % d)"),
        ("a ^ b ^ c", "(a ^ (b ^ c))"),
        ("-a ^ b", "(-(a ^ b))"),
        ("a ^ -b", "(a ^ (-b))"),
        ("!a && b || c", "(((!a) && b) || c)"),
        ("a || b && c", "(a || (b && c))"),
        ("a < b == c > d", "((a < b) == (c > d))"),
        ("a + b < c * d", "((a + b) < (c * d))"),
        ("a ? b : c ? d : f", "(a ? b : (c ? d : f))"),
        ("a ? b ? c : d : f", "(a ? (b ? c : d) : f)"),
        ("a || b ? c + d : f", "((a || b) ? (c + d) : f)"),
        ("+a", "a"),
        ("- -a", "(-(-a))"),
        ("lander.x * 2 + obs.angle", "((lander.x * 2) + obs.angle)"),
        ("min(a, b + c, d)", "min(a, (b + c), d)"),
        // Folding of constant subtrees, no reassociation across variables.
        ("2 * 3 + a", "(6 + a)"),
        ("a * (2 + 3)", "(a * 5)"),
        ("a + 2 + 3", "((a + 2) + 3)"),
        ("sin(0) + cos(0) * a", "(0 + (1 * a))"),
        ("1 ? a : b", "(1 ? a : b)"),
    ]

    @Test("parse tree shape", arguments: treeCases)
    func treeShape(source: String, expected: String) throws {
        #expect(try Expression(parsing: source).treeDescription == expected)
    }
}

// MARK: - Functions and constants

@Suite("Expression functions")
struct ExpressionFunctionTests {
    static let cases: [(String, Double)] = [
        ("abs(-3)", 3),
        ("abs(2.5)", 2.5),
        ("sqrt(16)", 4),
        ("sqrt(2)", 2.0.squareRoot()),
        ("exp(0)", 1),
        ("exp(1.5)", exp(1.5)),
        ("log(1)", 0),
        ("log(10)", log(10.0)),
        ("sin(0.3)", sin(0.3)),
        ("cos(0)", 1),
        ("cos(0.3)", cos(0.3)),
        ("tan(0.3)", tan(0.3)),
        ("asin(1)", Double.pi / 2),
        ("acos(1)", 0),
        ("acos(-0.5)", acos(-0.5)),
        ("atan(1)", Double.pi / 4),
        ("tanh(0.5)", tanh(0.5)),
        ("floor(-1.5)", -2),
        ("floor(2.7)", 2),
        ("ceil(-1.5)", -1),
        ("ceil(2.1)", 3),
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("round(0.4)", 0),
        ("sign(-3)", -1),
        ("sign(0)", 0),
        ("sign(-0)", 0),
        ("sign(0.001)", 1),
        ("step(0)", 0),
        ("step(0.1)", 1),
        ("step(-1)", 0),
        ("atan2(1, 1)", atan2(1.0, 1.0)),
        ("atan2(0, -1)", Double.pi),
        ("atan2(-1, 0)", -Double.pi / 2),
        ("hypot(3, 4)", 5),
        ("pow(2, 10)", 1024),
        ("pow(9, 0.5)", 3),
        ("min(3, 1, 2)", 1),
        ("min(3, 4)", 3),
        ("max(3, 1, 2)", 3),
        ("max(-1, -2, -3, -0.5, -7)", -0.5),
        ("clip(5, 0, 1)", 1),
        ("clip(-5, 0, 1)", 0),
        ("clip(0.5, 0, 1)", 0.5),
        ("lerp(10, 20, 0.25)", 12.5),
        ("lerp(10, 20, 2)", 30),
        ("wrap_angle(0)", 0),
        ("wrap_angle(pi)", -Double.pi),
        ("wrap_angle(-pi)", -Double.pi),
        ("wrap_angle(2 * pi)", 0),
        ("wrap_angle(1)", 1),
        ("wrap_angle(-3)", -3),
        ("sqrt(sqrt(16)) + abs(-1)", 3),
    ]

    @Test("each function", arguments: cases)
    func function(source: String, expected: Double) throws {
        #expect(try evalBoth(source) == expected)
    }

    @Test("functions read their arguments in order through the stack machine")
    func argumentOrder() throws {
        let v: [String: Double] = ["y": 1, "x": -1, "lo": 0, "hi": 10, "t": 0.25]
        #expect(try evalBoth("atan2(y, x)", v) == atan2(1.0, -1.0))
        #expect(try evalBoth("pow(hi, x)", v) == 0.1)
        #expect(try evalBoth("clip(hi + 5, lo, hi)", v) == 10)
        #expect(try evalBoth("clip(x, lo, hi)", v) == 0)
        #expect(try evalBoth("lerp(lo, hi, t)", v) == 2.5)
        #expect(try evalBoth("lerp(hi, lo, t)", v) == 7.5)
        #expect(try evalBoth("min(hi, t, y, lo, x * 3)", v) == -3)
        #expect(try evalBoth("1 + max(y, hi * t, x) * 2", v) == 6)
    }

    @Test("wrap_angle lands in [-pi, pi) and preserves the angle")
    func wrapAngleRange() throws {
        let compiled = try Expression(parsing: "wrap_angle(a)").compile { $0 == "a" ? 0 : nil }
        var rng = SplitMix64(state: 7)
        for _ in 0..<2000 {
            let a = Double.random(in: -100...100, using: &rng)
            let w = compiled.evaluate([a])
            #expect(w >= -Double.pi && w < Double.pi, "wrap_angle(\(a)) = \(w)")
            #expect(abs(sin(w) - sin(a)) < 1e-9 && abs(cos(w) - cos(a)) < 1e-9)
        }
        #expect(abs(compiled.evaluate([7]) - (7 - 2 * Double.pi)) < 1e-15)
        #expect(abs(compiled.evaluate([-3 * Double.pi / 2]) - Double.pi / 2) < 1e-15)
    }

    @Test("constants")
    func constants() throws {
        #expect(try evalBoth("pi") == Double.pi)
        #expect(try evalBoth("e") == exp(1.0))
        #expect(try evalBoth("inf") == Double.infinity)
        #expect(try evalBoth("-inf") == -Double.infinity)
        #expect(try evalBoth("2 * pi") == 2 * Double.pi)
        #expect(try evalBoth("log(e)") == 1)
        let expression = try Expression(parsing: "pi + e + inf")
        #expect(expression.variables.isEmpty)
        #expect(expression.isConstant)
        // Names that merely contain a constant are variables.
        #expect(try Expression(parsing: "pie + e.x + obs.pi + inf_count + E").variables
            == ["pie", "e.x", "obs.pi", "inf_count", "E"])
    }
}

// MARK: - Variables, folding, compilation

@Suite("Expression variables and compilation")
struct ExpressionCompilationTests {
    @Test("variables are distinct, in first-use order, without functions and constants")
    func variableOrder() throws {
        let expression = try Expression(parsing: "b + a*b + c.d - sin(a) + pi + e + inf + E + min(b, zz)")
        #expect(expression.variables == ["b", "a", "c.d", "E", "zz"])
        #expect(!expression.isConstant)
        #expect(expression.constantValue == nil)
        #expect(try Expression(parsing: "x - x * x").variables == ["x"])
    }

    @Test("dotted names are single variables")
    func dottedNames() throws {
        let source = "lander.x + main_engine.throttle * obs.angle - a.b.c_d.e2 + _private.X9"
        let expression = try Expression(parsing: source)
        #expect(expression.variables == ["lander.x", "main_engine.throttle", "obs.angle", "a.b.c_d.e2", "_private.X9"])
        let values: [String: Double] = [
            "lander.x": 1, "main_engine.throttle": 0.5, "obs.angle": 4, "a.b.c_d.e2": 10, "_private.X9": 0.25,
        ]
        #expect(try evalBoth(source, values) == -6.75)
        #expect(try evalBoth("lander.y < 0 || abs(obs.angle) > 0.4", ["lander.y": 1, "obs.angle": -0.5]) == 1)
        #expect(try evalBoth("lander.y < 0 || abs(obs.angle) > 0.4", ["lander.y": 1, "obs.angle": 0.3]) == 0)
    }

    @Test("world-file examples")
    func worldExamples() throws {
        #expect(try evalBoth("14 / SCALE", ["SCALE": 28]) == 0.5)
        #expect(try evalBoth("-10 * gravity_scale", ["gravity_scale": 1.5]) == -15)
        let reward = "-100*sqrt(x^2 + y^2) + 10*leg_left"
        #expect(try evalBoth(reward, ["x": 3, "y": 4, "leg_left": 1]) == -490)
        #expect(try Expression(parsing: reward).variables == ["x", "y", "leg_left"])
    }

    @Test("constant subtrees are folded to one instruction")
    func folding() throws {
        let constant = try Expression(parsing: "sin(pi / 2) * 2 + 14 / 7 - max(1, 2, 3)")
        #expect(constant.constantValue == 1)
        let compiled = try constant.compile { _ in nil }
        #expect(compiled.instructions == [.constant(1)])
        #expect(compiled.maxStackDepth == 1)
        #expect(compiled.requiredSlotCount == 0)

        let mixed = try Expression(parsing: "x + 2 * 3").compile { $0 == "x" ? 5 : nil }
        #expect(mixed.instructions == [.load(5), .addConstant(6)])
        #expect(mixed.requiredSlotCount == 6)
        let slots: [Double] = [0, 0, 0, 0, 0, 1.5]
        #expect(mixed.evaluate(slots) == 7.5)
    }

    @Test("folding gives the same bits as runtime evaluation")
    func foldingMatchesRuntime() throws {
        let folded = try Expression(parsing: "sin(0.7) * 3 ^ 1.5 % 2 - atan2(0.3, -2) / hypot(1.1, 2.2) + tanh(0.9)")
        let runtime = try Expression(parsing: "sin(a) * b ^ c % d - atan2(f, g) / hypot(h, i) + tanh(j)")
        let values: [String: Double] = [
            "a": 0.7, "b": 3, "c": 1.5, "d": 2, "f": 0.3, "g": -2, "h": 1.1, "i": 2.2, "j": 0.9,
        ]
        let expected = try #require(folded.constantValue)
        #expect(try runtime.evaluate { values[$0] }.bitPattern == expected.bitPattern)
        let compiled = try runtime.compile { runtime.variables.firstIndex(of: $0) }
        #expect(compiled.evaluate(runtime.variables.map { values[$0]! }).bitPattern == expected.bitPattern)
    }

    @Test("stack depth", arguments: [
        ("1", 1), ("a", 1), ("a + b", 1), ("a * b + c", 1), ("a + b * c", 2), ("a + (b + (c + d))", 3),
        ("(a + b) * (c + d)", 2), ("sin(a) * 2 - 3 ^ b", 2), ("min(a, b, c, d)", 4), ("a ? b : c", 3),
        ("-a", 1), ("2 * pi + a", 1),
    ])
    func stackDepth(source: String, depth: Int) throws {
        let expression = try Expression(parsing: source)
        let compiled = try expression.compile { expression.variables.firstIndex(of: $0) }
        #expect(compiled.maxStackDepth == depth)
    }

    @Test("resolvers are called once per variable, in first-use order")
    func resolverCalls() throws {
        let expression = try Expression(parsing: "q * p + q - r.s")
        var asked: [String] = []
        let value = try expression.evaluate { name in
            asked.append(name)
            return ["q": 2, "p": 3, "r.s": 1][name]
        }
        #expect(value == 7)
        #expect(asked == ["q", "p", "r.s"])
        asked = []
        let compiled = try expression.compile { name in
            asked.append(name)
            return ["q": 2, "p": 0, "r.s": 1][name]
        }
        #expect(asked == ["q", "p", "r.s"])
        #expect(compiled.requiredSlotCount == 3)
        #expect(compiled.evaluate([3, 1, 2]) == 7)
    }

    @Test("dictionary convenience and description")
    func conveniences() throws {
        let expression = try Expression(parsing: "a*2 + 1")
        #expect(try expression.evaluate(["a": 4, "unused": 9]) == 9)
        #expect(expression.description == "a*2 + 1")
        #expect(expression.source == "a*2 + 1")
        #expect(CompiledExpression(constant: 2.5).evaluate([]) == 2.5)
    }

    @Test("compiled expressions evaluate concurrently")
    func concurrent() async throws {
        let compiled = try Expression(parsing: "a * b + sin(a)").compile { ["a": 0, "b": 1][$0] }
        let sums = await withTaskGroup(of: Double.self) { group in
            for t in 0..<8 {
                group.addTask {
                    var sum = 0.0
                    for i in 0..<1000 { sum += compiled.evaluate([Double(i), Double(t)]) }
                    return sum
                }
            }
            var all: [Double] = []
            for await sum in group { all.append(sum) }
            return all
        }
        var expected: [Double] = []
        for t in 0..<8 {
            var sum = 0.0
            for i in 0..<1000 { sum += Double(i) * Double(t) + sin(Double(i)) }
            expected.append(sum)
        }
        #expect(sums.sorted() == expected.sorted())
    }
}

// MARK: - Random agreement

/// A reference expression tree: rendered fully parenthesised and evaluated directly with libm.
private indirect enum RefNode {
    case number(Double)
    case variable(String)
    case negate(RefNode)
    case not(RefNode)
    case binary(String, RefNode, RefNode)
    case call(String, [RefNode])
    case select(RefNode, RefNode, RefNode)

    static let variables = ["x", "y", "obs.angle", "lander.vel_x"]
    static let binaryOps = ["+", "-", "*", "/", "%", "^", "<", "<=", ">", ">=", "==", "!=", "&&", "||"]
    static let functions: [(String, Int)] = [
        ("abs", 1), ("sqrt", 1), ("sin", 1), ("cos", 1), ("exp", 1), ("log", 1), ("tanh", 1), ("floor", 1),
        ("atan2", 2), ("hypot", 2), ("pow", 2), ("lerp", 3), ("min", 2), ("min", 4), ("max", 3), ("clip", 3),
    ]

    static func random(depth: Int, using rng: inout SplitMix64) -> RefNode {
        if depth == 0 || rng.next() % 4 == 0 {
            if rng.next() % 2 == 0 {
                return .variable(variables[Int(rng.next() % UInt64(variables.count))])
            }
            let choices: [Double] = [0, 1, 2, 0.5, 3.25, 1e-3, 10, 100]
            return .number(rng.next() % 3 == 0
                ? Double(rng.next() % 1000) / 64 : choices[Int(rng.next() % UInt64(choices.count))])
        }
        switch rng.next() % 10 {
        case 0: return .negate(random(depth: depth - 1, using: &rng))
        case 1: return .not(random(depth: depth - 1, using: &rng))
        case 2, 3:
            let (name, arity) = functions[Int(rng.next() % UInt64(functions.count))]
            return .call(name, (0..<arity).map { _ in random(depth: depth - 1, using: &rng) })
        case 4:
            return .select(
                random(depth: depth - 1, using: &rng), random(depth: depth - 1, using: &rng),
                random(depth: depth - 1, using: &rng))
        default:
            let op = binaryOps[Int(rng.next() % UInt64(binaryOps.count))]
            return .binary(op, random(depth: depth - 1, using: &rng), random(depth: depth - 1, using: &rng))
        }
    }

    func render(_ rng: inout SplitMix64) -> String {
        let space = rng.next() % 2 == 0 ? " " : ""
        switch self {
        case .number(let v): return "\(v)"
        case .variable(let name): return name
        case .negate(let a): return "(-\(a.render(&rng)))"
        case .not(let a): return "(!\(a.render(&rng)))"
        case .binary(let op, let a, let b): return "(\(a.render(&rng))\(space)\(op)\(space)\(b.render(&rng)))"
        case .call(let name, let args): return "\(name)(\(args.map { $0.render(&rng) }.joined(separator: ",\(space)")))"
        case .select(let c, let a, let b):
            return "(\(c.render(&rng)) ? \(a.render(&rng)) : \(b.render(&rng)))"
        }
    }

    func evaluate(_ v: [String: Double]) -> Double {
        func nanMin(_ xs: [Double]) -> Double { xs.contains(where: \.isNaN) ? .nan : xs.min()! }
        func nanMax(_ xs: [Double]) -> Double { xs.contains(where: \.isNaN) ? .nan : xs.max()! }
        switch self {
        case .number(let x): return x
        case .variable(let name): return v[name]!
        case .negate(let a): return -a.evaluate(v)
        case .not(let a): return a.evaluate(v) == 0 ? 1 : 0
        case .select(let c, let a, let b): return c.evaluate(v) != 0 ? a.evaluate(v) : b.evaluate(v)
        case .binary(let op, let a, let b):
            let x = a.evaluate(v)
            let y = b.evaluate(v)
            switch op {
            case "+": return x + y
            case "-": return x - y
            case "*": return x * y
            case "/": return x / y
            case "%": return fmod(x, y)
            case "^": return y == 2 ? x * x : pow(x, y)  // documented: x^2 is x * x
            case "<": return x < y ? 1 : 0
            case "<=": return x <= y ? 1 : 0
            case ">": return x > y ? 1 : 0
            case ">=": return x >= y ? 1 : 0
            case "==": return x == y ? 1 : 0
            case "!=": return x != y ? 1 : 0
            case "&&": return x != 0 && y != 0 ? 1 : 0
            default: return x != 0 || y != 0 ? 1 : 0
            }
        case .call(let name, let args):
            let a = args.map { $0.evaluate(v) }
            switch name {
            case "abs": return abs(a[0])
            case "sqrt": return sqrt(a[0])
            case "sin": return sin(a[0])
            case "cos": return cos(a[0])
            case "exp": return exp(a[0])
            case "log": return log(a[0])
            case "tanh": return tanh(a[0])
            case "floor": return floor(a[0])
            case "atan2": return atan2(a[0], a[1])
            case "hypot": return hypot(a[0], a[1])
            case "pow": return a[1] == 2 ? a[0] * a[0] : pow(a[0], a[1])
            case "lerp": return a[0] + (a[1] - a[0]) * a[2]
            case "min": return nanMin(a)
            case "max": return nanMax(a)
            default: return nanMin([nanMax([a[0], a[1]]), a[2]])  // clip
            }
        }
    }
}

@Suite("Expression random agreement")
struct ExpressionRandomTests {
    @Test("lookup evaluation, compiled evaluation and a reference evaluator agree", arguments: [1, 2, 3, 42])
    func randomAgreement(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let inputs: [Double] = [0, -0.0, 1, -1, 0.5, 2.75, -3.5, 1e6, .nan, .infinity, -.infinity]
        var nonTrivial = 0
        for _ in 0..<400 {
            let tree = RefNode.random(depth: 5, using: &rng)
            let source = tree.render(&rng)
            let expression = try Expression(parsing: source)
            let slotOf = ["lander.vel_x": 3, "obs.angle": 0, "x": 2, "y": 1]  // deliberately not first-use order
            let compiled = try expression.compile { slotOf[$0] }
            #expect(compiled.requiredSlotCount <= 4)
            for _ in 0..<8 {
                var values: [String: Double] = [:]
                for name in RefNode.variables {
                    values[name] = rng.next() % 4 == 0
                        ? inputs[Int(rng.next() % UInt64(inputs.count))] : Double.random(in: -5...5, using: &rng)
                }
                var slots = [Double](repeating: .nan, count: 4)
                for (name, slot) in slotOf { slots[slot] = values[name]! }

                let reference = tree.evaluate(values)
                let slow = try expression.evaluate { values[$0] }
                let fast = compiled.evaluate(slots)
                #expect(same(reference, slow), "\(source) with \(values): reference \(reference), lookup \(slow)")
                #expect(same(slow, fast), "\(source) with \(values): lookup \(slow), compiled \(fast)")
                if reference.isFinite && reference != 0 { nonTrivial += 1 }
            }
        }
        #expect(nonTrivial > 500)  // the generator does produce interesting values
    }
}

// MARK: - NaN and infinity

@Suite("Expression NaN and infinity")
struct ExpressionSpecialValueTests {
    @Test("IEEE special values propagate")
    func specialValues() throws {
        #expect(try evalBoth("sqrt(-1)").isNaN)
        #expect(try evalBoth("log(-1)").isNaN)
        #expect(try evalBoth("0 / 0").isNaN)
        #expect(try evalBoth("inf - inf").isNaN)
        #expect(try evalBoth("inf * 0").isNaN)
        #expect(try evalBoth("5 % 0").isNaN)
        #expect(try evalBoth("asin(2)").isNaN)
        #expect(try evalBoth("wrap_angle(inf)").isNaN)
        #expect(try evalBoth("log(0)") == -.infinity)
        #expect(try evalBoth("1 / 0") == .infinity)
        #expect(try evalBoth("-1 / 0") == -.infinity)
        #expect(try evalBoth("exp(1000)") == .infinity)
        #expect(try evalBoth("1e999") == .infinity)
        #expect(try evalBoth("atan(inf)") == Double.pi / 2)
        #expect(try evalBoth("1 / inf").sign == .plus)
        #expect(try evalBoth("1 / -inf").sign == .minus)
    }

    @Test("NaN inputs through operators and functions")
    func nanInputs() throws {
        let nan: [String: Double] = ["x": .nan]
        #expect(try evalBoth("x + 1", nan).isNaN)
        #expect(try evalBoth("-x", nan).isNaN)
        #expect(try evalBoth("min(x, 1)", nan).isNaN)
        #expect(try evalBoth("min(1, x)", nan).isNaN)
        #expect(try evalBoth("max(1, 2, x)", nan).isNaN)
        #expect(try evalBoth("clip(x, 0, 1)", nan).isNaN)
        #expect(try evalBoth("clip(0.5, x, 1)", nan).isNaN)
        #expect(try evalBoth("sign(x)", nan).isNaN)
        #expect(try evalBoth("abs(x)", nan).isNaN)
        // Comparisons with NaN are false; NaN is non-zero, hence true.
        #expect(try evalBoth("x < 1", nan) == 0)
        #expect(try evalBoth("x >= 1", nan) == 0)
        #expect(try evalBoth("x == x", nan) == 0)
        #expect(try evalBoth("x != x", nan) == 1)
        #expect(try evalBoth("step(x)", nan) == 0)
        #expect(try evalBoth("!x", nan) == 0)
        #expect(try evalBoth("x && 1", nan) == 1)
        #expect(try evalBoth("x ? 1 : 2", nan) == 1)
        #expect(try evalBoth("x - x", ["x": .infinity]).isNaN)
        #expect(try evalBoth("clip(x, -1, 1)", ["x": -.infinity]) == -1)
        #expect(try evalBoth("max(x, 1)", ["x": .infinity]) == .infinity)
    }
}

// MARK: - Errors

@Suite("Expression errors")
struct ExpressionErrorTests {
    static let cases: [(String, String, Int)] = [
        ("", "empty expression", 0),
        ("   ", "empty expression", 0),
        ("1 +", "expected an expression, found end of input", 3),
        ("1 + * 2", "expected an expression, found '*'", 4),
        ("()", "expected an expression, found ')'", 1),
        ("min(1, )", "expected an expression, found ')'", 7),
        ("? 1 : 2", "expected an expression, found '?'", 0),
        ("a ? : b", "expected an expression, found ':'", 4),
        ("(1 + 2", "missing ')' for '(' at character 1, found end of input", 6),
        ("2 * ((1 + 2) 3", "missing ')' for '(' at character 5, found '3'", 13),
        ("sin(1", "missing ')' for 'sin(' at character 4, found end of input", 5),
        ("max(1, 2 3)", "missing ')' for 'max(' at character 4, found '3'", 9),
        ("1 2", "unexpected '2' after complete expression", 2),
        ("x y", "unexpected 'y' after complete expression", 2),
        ("1 + 2)", "unmatched ')'", 5),
        ("a ? b", "expected ':' for '?' at character 3, found end of input", 5),
        ("a ? b , c", "expected ':' for '?' at character 3, found ','", 6),
        ("1e", "invalid number '1e'", 0),
        ("1e+", "invalid number '1e+'", 0),
        ("x + 1.2.3", "invalid number '1.2.3'", 4),
        ("2x", "invalid number '2x'", 0),
        ("3 * 1e5x", "invalid number '1e5x'", 4),
        ("clip(x, 1)", "clip takes 3 arguments, got 2", 0),
        ("1 + sin(1, 2)", "sin takes 1 argument, got 2", 4),
        ("atan2(y)", "atan2 takes 2 arguments, got 1", 0),
        ("lerp()", "lerp takes 3 arguments, got 0", 0),
        ("min(1)", "min takes at least 2 arguments, got 1", 0),
        ("2 * max()", "max takes at least 2 arguments, got 0", 4),
        ("x + sqrt", "'sqrt' is a function; call it as sqrt(...)", 4),
        ("a = b", "unexpected '='; use '==' to compare", 2),
        ("a & b", "unexpected '&'; use '&&' for logical and", 2),
        ("a | b", "unexpected '|'; use '||' for logical or", 2),
        ("1 # 2", "unexpected character '#'", 2),
        ("x × 2", "unexpected character '×'", 2),
        ("é + 1", "unexpected character 'é'", 0),
        ("1 +\n  * 2", "expected an expression, found '*'", 6),
        ("obs. + 1", "expected a name part after '.' in 'obs.'", 4),
        ("obs.1", "expected a name part after '.' in 'obs.'", 4),
        ("lander . x", "unexpected character '.'", 7),
    ]

    @Test("parse errors point at the offending character", arguments: cases)
    func parseErrors(source: String, message: String, offset: Int) throws {
        let error = try #require(parseError(source), "expected '\(source)' to fail")
        #expect(error.message == message, "\(source)")
        #expect(error.offset == offset, "\(source)")
        #expect(error.description == "\(message) (at character \(offset + 1))")
    }

    @Test("unknown functions are rejected at parse time")
    func unknownFunction() throws {
        for (source, name, offset) in [("foo(1)", "foo", 0), ("2 + obs.sin(x)", "obs.sin", 4), ("pi(2)", "pi", 0)] {
            let error = try #require(parseError(source))
            #expect(error.message.hasPrefix("unknown function '\(name)'"), "\(error)")
            #expect(error.message.contains("wrap_angle"), "the message lists the known functions")
            #expect(error.offset == offset)
        }
    }

    @Test("too deep nesting is an error, not a crash")
    func nesting() throws {
        // Just inside the limit of 200 levels (also checks the parser's recursion fits a test thread's stack).
        let ok = String(repeating: "(", count: 198) + "x" + String(repeating: ")", count: 198)
        #expect(try Expression(parsing: ok).variables == ["x"])
        let deep = String(repeating: "(", count: 5000) + "x" + String(repeating: ")", count: 5000)
        #expect(parseError(deep)?.message.hasPrefix("expression is nested too deeply") == true)
        #expect(parseError(String(repeating: "-", count: 5000) + "x")?.message.hasPrefix("expression is nested") == true)
        #expect(parseError(Array(repeating: "x", count: 5000).joined(separator: "^"))?.offset ?? 0 > 0)
        #expect(parseError(Array(repeating: "x", count: 5000).joined(separator: "+"))?.offset ?? 0 > 0)
        let longSum = Array(repeating: "x", count: 199).joined(separator: " + ")
        #expect(try evalBoth(longSum, ["x": 1]) == 199)
        let nestedCalls = String(repeating: "abs(", count: 99) + "x" + String(repeating: ")", count: 99)
        #expect(try evalBoth(nestedCalls, ["x": -2]) == 2)
    }

    @Test("unknown variable names it and points at its first use")
    func unknownVariable() throws {
        let expression = try Expression(parsing: "x + foo * foo")
        #expect(throws: ExpressionError(message: "unknown variable 'foo'", offset: 4)) {
            try expression.evaluate { $0 == "x" ? 1 : nil }
        }
        #expect(throws: ExpressionError(message: "unknown variable 'foo'", offset: 4)) {
            try expression.compile { $0 == "x" ? 0 : nil }
        }
        // The first unknown variable in first-use order is reported.
        let two = try Expression(parsing: "1 + lander.y * b - lander.y")
        #expect(throws: ExpressionError(message: "unknown variable 'lander.y'", offset: 4)) {
            try two.evaluate { _ in nil }
        }
        #expect(throws: ExpressionError(message: "variable 'x' resolved to invalid slot -1", offset: 0)) {
            try Expression(parsing: "x").compile { _ in -1 }
        }
    }

    @Test("error description format")
    func descriptionFormat() {
        #expect(ExpressionError(message: "boom", offset: 0).description == "boom (at character 1)")
        #expect("\(ExpressionError(message: "bad", offset: 41))" == "bad (at character 42)")
    }
}
