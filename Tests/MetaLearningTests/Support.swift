import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// Shared helpers of the MetaLearning test suite.
enum Support {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var worldsRoot: String { packageRoot.appendingPathComponent("worlds").path }

    static func definition(_ name: String) throws -> WorldDefinition {
        try WorldCatalog.resolve(name, root: worldsRoot)
    }

    static func program(_ name: String, taskSeed: UInt64) throws -> WorldProgram {
        let d = try definition(name)
        return try WorldProgram(definition: d, task: d.sampleTask(seed: taskSeed))
    }

    /// Uniform values in [-scale, scale] from a fixed seed.
    static func uniform(_ n: Int, seed: UInt64, scale: Double = 1) -> [Double] {
        var rng = SeededGenerator(seed: seed)
        return (0..<n).map { _ in rng.uniform(-scale, scale) }
    }

    /// Central finite difference of f along every coordinate.
    static func numericGradient(_ x: [Double], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
        (0..<x.count).map { i in
            var p = x, m = x
            p[i] += h; m[i] -= h
            return (f(p) - f(m)) / (2 * h)
        }
    }

    /// Largest |a - b| / max(1, |a|, |b|).
    static func maxRelativeError(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { abs($0 - $1) / max(1e-3, abs($0), abs($1)) }.max() ?? 0
    }

    static func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metalearning-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }
}
