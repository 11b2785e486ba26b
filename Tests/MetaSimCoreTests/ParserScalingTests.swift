import Foundation
import Testing

@testable import MetaSimCore

/// Issue 27, item 3: no parser is super-linear, and deep input is an error, not a stack overflow.
@Suite("Parser scaling")
struct ParserScalingTests {
    /// cartpole with `n` extra literal parameters.
    static func world(parameters n: Int) throws -> String {
        let base = try String(contentsOfFile: #require(TestSupport.catalogPath(named: "cartpole")), encoding: .utf8)
        var extra = ""
        extra.reserveCapacity(n * 16)
        for i in 0..<n { extra += "  P\(i): \(i % 1000)\n" }
        return base.replacingOccurrences(of: "\nparameters:\n", with: "\nparameters:\n" + extra)
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = ContinuousClock.now
        try body()
        return t0.secondsAgo
    }

    /// Linear parsing makes 10x the keys cost about 10x; the quadratic duplicate-key check made
    /// it about 100x (40,000 keys took 5 to 12 s). The bound is loose (30x) and each size takes
    /// its best of three runs, so machine load does not make it fail.
    @Test("parsing a world with 10x the parameters costs about 10x, not 100x")
    func parametersScaleLinearly() throws {
        let small = try Self.world(parameters: 3_000), large = try Self.world(parameters: 30_000)
        var a = Double.infinity, b = Double.infinity
        for _ in 0..<3 {
            var count = 0
            a = min(a, try Self.seconds { count = try WorldDefinition.parse(small, file: "s.yaml").parameters.count })
            #expect(count > 3_000)
            b = min(b, try Self.seconds { count = try WorldDefinition.parse(large, file: "l.yaml").parameters.count })
            #expect(count > 30_000)
        }
        #expect(b / a < 30, "3k parameters: \(a) s, 30k: \(b) s")
    }

    @Test("deeply nested and very long expressions are errors, not stack overflows")
    func deepExpressions() {
        let depth = 100_000
        let nested = String(repeating: "(", count: depth) + "x" + String(repeating: ")", count: depth)
        #expect(throws: ExpressionError.self) { try Expression(parsing: nested) }
        let unary = String(repeating: "-", count: depth) + "x"
        #expect(throws: ExpressionError.self) { try Expression(parsing: unary) }
        let chain = Array(repeating: "x", count: depth).joined(separator: " + ")
        #expect(throws: ExpressionError.self) { try Expression(parsing: chain) }
        let power = Array(repeating: "x", count: depth).joined(separator: "^")
        #expect(throws: ExpressionError.self) { try Expression(parsing: power) }
        let calls = String(repeating: "sin(", count: depth) + "x" + String(repeating: ")", count: depth)
        #expect(throws: ExpressionError.self) { try Expression(parsing: calls) }
    }

    @Test("a world whose expression nests deeply is a file error")
    func deepExpressionInWorld() throws {
        let base = try String(contentsOfFile: #require(TestSupport.catalogPath(named: "cartpole")), encoding: .utf8)
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let text = base.replacingOccurrences(of: "\nparameters:\n", with: "\nparameters:\n  DEEP: \"\(deep)\"\n")
        #expect(throws: WorldError.self) { try WorldDefinition.parse(text, file: "deep.yaml") }
    }
}
