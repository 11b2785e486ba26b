import Foundation
import MetaSimYAML
import Testing

/// Issue 27, item 3: composing is linear in the document, and deep nesting is an error.
@Suite("YAML scaling")
struct YAMLScalingTests {
    static func mapping(_ n: Int, duplicateLast: Bool = false) -> String {
        var s = ""
        s.reserveCapacity(n * 14)
        for i in 0..<n { s += "k\(i): \(i)\n" }
        if duplicateLast { s += "k0: again\n" }
        return s
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let t0 = ContinuousClock.now
        try body()
        return (ContinuousClock.now - t0) / .seconds(1)
    }

    @Test("a mapping of 300,000 keys composes, and a duplicate at its end is still found")
    func manyKeys() throws {
        let root = try document(Self.mapping(300_000))
        #expect(root.mapping?.count == 300_000)
        #expect(root.mapping?.last?.key.scalar == "k299999")
        let error = try #require(parseError(Self.mapping(300_000, duplicateLast: true)))
        guard case .duplicateKey(_, let mark, let key, let first) = error else {
            Issue.record("expected a duplicate key error, got \(error)")
            return
        }
        #expect(key == "k0" && mark == at(300_001, 1) && first == at(1, 1))
    }

    /// Before the fix every key copied the mapping's key dictionary (quadratic: 10x the keys
    /// cost 100x). Best of three per size, and a loose 30x bound, so load cannot fail it.
    @Test("10x the keys costs about 10x")
    func linear() throws {
        let small = Self.mapping(20_000), large = Self.mapping(200_000)
        var a = Double.infinity, b = Double.infinity
        for _ in 0..<3 {
            a = min(a, try Self.seconds { _ = try document(small) })
            b = min(b, try Self.seconds { _ = try document(large) })
        }
        #expect(b / a < 30, "20k keys: \(a) s, 200k: \(b) s")
    }

    @Test("100,000 nested flow sequences or mappings are an error, not a stack overflow")
    func deepNesting() throws {
        let depth = 100_000
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let text = String(repeating: open, count: depth) + "x" + String(repeating: close, count: depth)
            let error = try #require(parseError(text))
            #expect(error.description.contains("nested more than"))
        }
    }
}
