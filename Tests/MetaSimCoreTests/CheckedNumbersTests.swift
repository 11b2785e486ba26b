import Foundation
import MetaSimYAML
import Testing

@testable import MetaSimCore

/// Issue 27, item 1: every world value or parameter override that becomes a count, a size or
/// an integer is checked. Out of range is a `WorldError` at the value's place, never a trap,
/// never a loop without end and never an allocation of terabytes.
@Suite("Checked numbers")
struct CheckedNumbersTests {
    static let sweepValues: [Double] = [1e30, -1e30, 1e12, 1e9, 0, -1, .nan, .infinity, -.infinity]

    /// Every catalog world, every parameter, every value of `sweepValues`: the task is set, one
    /// instance built, reset and stepped, or a `WorldError` says why not. A trap would kill the
    /// test process; a loop without end would hang it.
    @Test("every catalog parameter at extreme values builds or is refused with an error")
    func catalogSweep() throws {
        var refused = 0, built = 0
        var unrefusedHuge: [String] = []
        for file in TestSupport.catalogFiles() {
            let d = try WorldDefinition.load(contentsOfFile: file)
            for p in d.parameters {
                for v in Self.sweepValues {
                    do {
                        let program = try WorldProgram(definition: d, task: d.nominalTask(overrides: [p.name: v]))
                        let w = try World(program: program)
                        try w.resetChecked(seed: 1)
                        let action = [Float](repeating: 0, count: w.actionCount)
                        for _ in 0..<5 where w.episodeEnd == nil { _ = w.step(action) }
                        built += 1
                        if !(abs(v) <= WorldLimits.maxMagnitude) { unrefusedHuge.append("\(d.name) \(p.name)=\(v)") }
                    } catch {
                        refused += 1
                        #expect(!error.description.isEmpty)
                    }
                }
            }
        }
        // Values beyond ±1e9 (and NaN, infinities) are refused like a value written in the file.
        #expect(unrefusedHuge.isEmpty, "accepted: \(unrefusedHuge.prefix(10))")
        #expect(built > 0 && refused > 0)
    }

    private func lunarLander() throws -> WorldDefinition {
        try WorldDefinition.load(contentsOfFile: #require(TestSupport.catalogPath(named: "lunar-lander")))
    }

    @Test("CHUNKS=1e30 over the API is an invalid world at the parameter, not a trap")
    func hugeOverride() throws {
        let d = try lunarLander()
        #expect {
            try d.nominalTask(overrides: ["CHUNKS": 1e30])
        } throws: { error in
            guard case WorldError.invalid(let diagnostics) = error, let first = diagnostics.first else { return false }
            return first.keyPath == "parameters.CHUNKS" && first.line > 0 && first.message.contains("CHUNKS")
        }
    }

    @Test("a chunk count beyond the format's limit is refused where it is used, naming the parameter")
    func countBeyondLimit() throws {
        let d = try lunarLander()
        let task = try d.nominalTask(overrides: ["CHUNKS": 5_000_000])
        #expect {
            try WorldProgram(definition: d, task: task)
        } throws: { error in
            guard case WorldError.invalid(let diagnostics) = error, let first = diagnostics.first else { return false }
            return first.keyPath.hasSuffix("terrain.count") && first.message.contains("CHUNKS = 5000000")
                && first.message.contains("at most \(WorldLimits.maxTerrainPoints)")
        }
    }

    @Test("a world file with CHUNKS: 1e30 or 1e12 is an error at that line")
    func fileConstant() throws {
        let path = try #require(TestSupport.catalogPath(named: "lunar-lander"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.hasPrefix("  CHUNKS:") }) + 1
        for value in ["1e30", "1e12"] {
            let edited = text.replacingOccurrences(of: "  CHUNKS: 11 ", with: "  CHUNKS: \(value) ")
            #expect(edited != text)
            #expect {
                try WorldDefinition.parse(edited, file: "moon.yaml")
            } throws: { error in
                guard case WorldError.invalid(let diagnostics) = error, let first = diagnostics.first else { return false }
                return first.file == "moon.yaml" && first.line == line && first.keyPath == "parameters.CHUNKS"
            }
        }
    }

    @Test("negative or zero sizes from overrides get the file's validation")
    func overridesValidatedLikeTheFile() throws {
        let d = try WorldDefinition.load(contentsOfFile: #require(TestSupport.catalogPath(named: "lane-keep")))
        for v in [0.0, -1] {
            let task = try d.nominalTask(overrides: ["ROAD_LENGTH": v])
            #expect {
                try WorldProgram(definition: d, task: task)
            } throws: { error in
                guard case WorldError.invalid(let diagnostics) = error, let first = diagnostics.first else { return false }
                return first.keyPath == "track.length" && first.message.contains("must be positive")
            }
        }
    }

    @Test("a track of more than a million points is refused before it is generated")
    func trackPoints() throws {
        let racer = try WorldDefinition.load(contentsOfFile: #require(TestSupport.catalogPath(named: "track-racer")))
        let lane = try WorldDefinition.load(contentsOfFile: #require(TestSupport.catalogPath(named: "lane-keep")))
        for (d, name) in [(racer, "TRACK_RADIUS_MAX"), (racer, "CHECKPOINTS"), (lane, "ROAD_LENGTH")] {
            let task = try d.nominalTask(overrides: [name: 1e9])
            #expect(throws: WorldError.self) { try WorldProgram(definition: d, task: task) }
        }
    }

    @Test("the curvature look-ahead goes round a closed track at most once")
    func curvatureLookahead() {
        var t = Track()
        t.closed = true
        let n = 64
        for i in 0..<n {
            let a = 2 * Double.pi * Double(i) / Double(n)
            t.points.append(SIMD2(10 * cos(a), 10 * sin(a)))
        }
        t.arc = [0]
        for i in 1..<n { t.arc.append(t.arc[i - 1] + t.segmentLength(i - 1)) }
        // Without the bound this loops (distance / lap) times: forever at this distance.
        let k = t.curvatureAhead(from: 0, distance: .greatestFiniteMagnitude)
        #expect(abs(k - 0.1) < 0.01)
        // Short look-aheads are unchanged.
        #expect(abs(t.curvatureAhead(from: 3, distance: 5) - 0.1) < 0.01)
    }

    @Test("CURVATURE_NEAR at 1e9 on track-racer steps (one lap at most)")
    func curvatureNear() throws {
        let d = try WorldDefinition.load(contentsOfFile: #require(TestSupport.catalogPath(named: "track-racer")))
        let w = try World(definition: d, task: d.nominalTask(overrides: ["CURVATURE_NEAR": 1e9]))
        let r = w.step([Float](repeating: 0, count: w.actionCount))
        #expect(r.reward.isFinite)
    }

    @Test("integer distributions beyond ±2^53 are refused, in the file and from parameters")
    func integerBounds() throws {
        let base = try String(contentsOfFile: #require(TestSupport.catalogPath(named: "cartpole")), encoding: .utf8)
        let inFile = base.replacingOccurrences(of: "\nparameters:\n", with: "\nparameters:\n  BIG: {integer: [0, 1e15]}\n  HUGE: {integer: [0, 1e17]}\n")
        #expect(inFile != base)
        #expect {
            try WorldDefinition.parse(inFile, file: "big.yaml")
        } throws: { error in
            (error as? WorldError)?.diagnostics.contains { $0.keyPath.hasPrefix("parameters.HUGE.integer") } ?? false
        }
        let fromParameter = base.replacingOccurrences(
            of: "\nparameters:\n", with: "\nparameters:\n  N: 1000\n  DRAWN: {integer: [0, N * N * N * N * N * N]}\n")
        let d = try WorldDefinition.parse(fromParameter, file: "drawn.yaml")
        #expect(throws: WorldError.self) { try d.sampleTask(seed: 3) }
        #expect(throws: WorldError.self) { try d.sampleTask(seed: 3, overrides: ["N": 1e9]) }
    }

    @Test("Int(saturating:) never traps")
    func saturating() {
        #expect(Int(saturating: .nan) == 0)
        #expect(Int(saturating: 1e30) == Int.max)
        #expect(Int(saturating: -.infinity) == Int.min)
        #expect(Int(saturating: 12.9) == 12)
        #expect(Int(saturating: -12.9) == -12)
    }
}
