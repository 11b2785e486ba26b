import Foundation
import Testing

@testable import MetaSimCore

/// The procedural generators: terrains (per-episode height profiles) and tracks (roads).
@Suite("Terrain and track generators")
struct TerrainTrackTests {
    static func lit(_ v: Double) -> Scalar { .literal(v) }
    static func uniform(_ a: Double, _ b: Double) -> Scalar {
        Scalar(.random(.uniform(low: .literal(a), high: .literal(b))), origin: .none)
    }

    static func terrain(_ generator: TerrainSpec.Generator, height: Scalar, count: Double = 11,
                        flat: (from: Double, to: Double, height: Double)? = nil, smoothing: Double = 1.0 / 3,
                        startPad: Double = 0, roughness: Double = 0, function: MetaSimCore.Expression? = nil) -> TerrainSpec {
        TerrainSpec(
            generator: generator, start: lit(0), end: lit(20), step: lit(0.5), count: lit(count), height: height,
            flatFrom: flat.map { lit($0.from) }, flatTo: flat.map { lit($0.to) }, flatHeight: flat.map { lit($0.height) },
            smoothing: lit(smoothing), startPad: lit(startPad), roughness: lit(roughness), damping: lit(0.8),
            pull: lit(0.01), segmentLength: lit(10), function: function, asChain: false)
    }

    static func generate(_ spec: TerrainSpec, seed: UInt64, parameters: [String: Double] = [:]) -> [Float] {
        var rng = SeededGenerator(seed: seed, stream: RandomStream.episode)
        var points: [Float] = [1, 2, 3]  // must be cleared
        TerrainGenerator.generate(spec, rng: &rng, parameters: { parameters[$0] }, into: &points)
        return points
    }

    // MARK: Terrain

    @Test("random terrains are deterministic per seed and differ between seeds",
          arguments: [TerrainSpec.Generator.smoothedChunks, .randomWalk])
    func terrainDeterminism(generator: TerrainSpec.Generator) {
        let spec = generator == .smoothedChunks
            ? Self.terrain(.smoothedChunks, height: Self.uniform(0, 6.67), flat: (3, 7, 3.33))
            : Self.terrain(.randomWalk, height: Self.lit(4), count: 200, startPad: 20, roughness: 0.3)
        let a = Self.generate(spec, seed: 17), b = Self.generate(spec, seed: 17), c = Self.generate(spec, seed: 18)
        #expect(!a.isEmpty && a.count % 2 == 0)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a.count == c.count)
        #expect(a != c, "seeds 17 and 18 gave the same terrain")
        #expect(a.allSatisfy { $0.isFinite })
    }

    @Test("smoothed-chunks: x evenly spaced, helipad flattened, each point the weighted sum of its neighbours")
    func smoothedChunks() throws {
        let chunks = 11, flat = (from: 3.0, to: 7.0, height: 3.25), w = 1.0 / 3
        let spec = Self.terrain(.smoothedChunks, height: Self.uniform(0, 6.5), count: Double(chunks), flat: flat, smoothing: w)
        let seed: UInt64 = 5
        let points = Self.generate(spec, seed: seed)
        try #require(points.count == 2 * chunks)
        let xs = stride(from: 0, to: points.count, by: 2).map { Double(points[$0]) }
        let ys = stride(from: 1, to: points.count, by: 2).map { Double(points[$0]) }
        for i in 0..<chunks {
            #expect(abs(xs[i] - 20 * Double(i) / Double(chunks - 1)) < 1e-5)
        }
        // The pad: chunks from+1 ... to-1 have flat neighbours on both sides: exactly the pad height.
        for i in (Int(flat.from) + 1)...(Int(flat.to) - 1) {
            #expect(abs(ys[i] - flat.height) < 1e-5, "point \(i): \(ys[i])")
        }
        // Outside the pad the terrain is not flat (heights are drawn from uniform(0, 6.5)).
        let rough = ys.indices.filter { $0 < Int(flat.from) || $0 > Int(flat.to) }
        #expect(rough.contains { abs(ys[$0] - flat.height) > 1e-3 }, "the whole terrain is flat")

        // The documented algorithm, with the same generator: chunks + 1 heights drawn in order,
        // chunks from...to set to the pad height, y[i] = w * (h[i-1] + h[i] + h[i+1]), h[-1] = h[chunks].
        var rng = SeededGenerator(seed: seed, stream: RandomStream.episode)
        var h = (0...chunks).map { _ in rng.uniform(0, 6.5) }
        for i in Int(flat.from)...Int(flat.to) { h[i] = flat.height }
        for i in 0..<chunks {
            let previous = i == 0 ? h[chunks] : h[i - 1]
            let expected = w * (previous + h[i] + h[i + 1])
            #expect(abs(ys[i] - expected) < 1e-5, "point \(i): \(ys[i]) vs \(expected)")
        }
        // The pad's edges average the pad with the rough neighbour.
        let edge = Int(flat.from)
        #expect(abs(ys[edge] - w * (h[edge - 1] + 2 * flat.height)) < 1e-5)
    }

    @Test("smoothed-chunks with Gymnasium's 0.33 leaves the pad at 0.99 of its height")
    func gymnasiumSmoothing() throws {
        let spec = Self.terrain(.smoothedChunks, height: Self.uniform(0, 6.67), flat: (3, 7, 10.0 / 3), smoothing: 0.33)
        let points = Self.generate(spec, seed: 9)
        let ys = stride(from: 1, to: points.count, by: 2).map { Double(points[$0]) }
        try #require(ys.count == 11)
        for i in 4...6 { #expect(abs(ys[i] - 0.99 * 10.0 / 3) < 1e-5) }
    }

    @Test("random-walk: evenly spaced, flat over the start pad, rough afterwards")
    func randomWalk() throws {
        let base = 4.0, pad = 20
        let spec = Self.terrain(.randomWalk, height: Self.lit(base), count: 200, startPad: Double(pad), roughness: 0.3)
        let points = Self.generate(spec, seed: 3)
        try #require(points.count == 400)
        let xs = stride(from: 0, to: points.count, by: 2).map { Double(points[$0]) }
        let ys = stride(from: 1, to: points.count, by: 2).map { Double(points[$0]) }
        for i in 0..<200 { #expect(abs(xs[i] - 0.5 * Double(i)) < 1e-5) }
        for i in 0...pad { #expect(ys[i] == base, "point \(i) in the start pad: \(ys[i])") }
        #expect(ys[(pad + 1)...].contains { abs($0 - base) > 1e-3 }, "no roughness after the pad")
        // Without roughness the walk never leaves the base height.
        let smooth = Self.generate(Self.terrain(.randomWalk, height: Self.lit(base), count: 200, startPad: 0, roughness: 0), seed: 3)
        #expect(stride(from: 1, to: smooth.count, by: 2).allSatisfy { smooth[$0] == Float(base) })
    }

    @Test("function terrain samples y = f(x) with task parameters")
    func functionTerrain() throws {
        let f = try MetaSimCore.Expression(parsing: "amplitude * sin(x)")
        let spec = Self.terrain(.function, height: Self.lit(0), count: 41, function: f)
        let a = Self.generate(spec, seed: 1, parameters: ["amplitude": 2])
        let b = Self.generate(spec, seed: 2, parameters: ["amplitude": 2])
        try #require(a.count == 82)
        #expect(a == b, "a function terrain does not depend on the episode seed")
        for i in 0..<41 {
            let x = 0.5 * Double(i)
            #expect(abs(Double(a[2 * i]) - x) < 1e-5)
            #expect(abs(Double(a[2 * i + 1]) - 2 * sin(x)) < 1e-5)
        }
    }

    // MARK: Track

    static func loopSpec(spacing: Double = 2) -> TrackSpec {
        TrackSpec(generator: .loop, width: Self.lit(8), checkpoints: Self.lit(12), radius: [Self.lit(30), Self.lit(60)],
                  spacing: Self.lit(spacing), length: Self.lit(400), curvature: Self.lit(0), segmentLength: Self.lit(50),
                  origin: .none)
    }

    static func track(_ spec: TrackSpec, seed: UInt64) -> Track {
        var rng = SeededGenerator(seed: seed, stream: RandomStream.episode)
        return Track.generate(spec, rng: &rng)
    }

    @Test("tracks are deterministic per seed and differ between seeds")
    func trackDeterminism() {
        let a = Self.track(Self.loopSpec(), seed: 4), b = Self.track(Self.loopSpec(), seed: 4), c = Self.track(Self.loopSpec(), seed: 5)
        #expect(a.points == b.points && a.arc == b.arc)
        #expect(a.points != c.points)
    }

    @Test("the loop track is closed, evenly sampled, and its own points project to lateral 0", arguments: [UInt64(1), 2, 3])
    func loopTrack(seed: UInt64) throws {
        let spacing = 2.0
        let t = Self.track(Self.loopSpec(spacing: spacing), seed: seed)
        #expect(t.closed)
        let n = t.points.count
        try #require(n > 50)
        #expect(t.arc.count == n && t.arc[0] == 0)
        // Closed: the last point joins the first with an ordinary segment; no segment jumps.
        for i in 0..<n {
            let s = t.segmentLength(i)
            #expect(s > 0.2 * spacing && s < 2 * spacing, "segment \(i) is \(s) m")
        }
        #expect(abs(t.length - (t.arc[n - 1] + t.segmentLength(n - 1))) < 1e-9)
        // A loop around the origin of radius 30...60 m.
        let perimeter = t.length
        #expect(perimeter > 2 * Double.pi * 25 && perimeter < 2 * Double.pi * 65, "length \(perimeter)")
        // Its own points: lateral 0, arc at the point (modulo the lap), global and windowed search.
        for i in 0..<n {
            let p = t.points[i]
            let global = t.project(p, hint: -1)
            #expect(abs(global.lateral) < 1e-9, "point \(i): lateral \(global.lateral)")
            let arcError = abs(remainder(global.arc - t.arc[i], t.length))
            #expect(arcError < 1e-6, "point \(i): arc \(global.arc) vs \(t.arc[i])")
            let windowed = t.project(p, hint: (i + 3) % n)
            #expect(abs(windowed.lateral) < 1e-9)
        }
    }

    @Test("a point offset to the left of the direction of travel has a positive lateral, to the right a negative one")
    func lateralSign() throws {
        let t = Self.track(Self.loopSpec(), seed: 8)
        let n = t.points.count
        for i in stride(from: 0, to: n, by: 7) {
            let a = t.points[i], b = t.points[(i + 1) % n]
            let d = (b - a) / t.segmentLength(i)
            let left = SIMD2(-d.y, d.x)
            let mid = (a + b) / 2
            for offset in [0.5, 2.0] {
                let l = t.project(mid + left * offset, hint: -1)
                let r = t.project(mid - left * offset, hint: -1)
                #expect(abs(l.lateral - offset) < 1e-6, "segment \(i): left \(offset) m gave \(l.lateral)")
                #expect(abs(r.lateral + offset) < 1e-6, "segment \(i): right \(offset) m gave \(r.lateral)")
                #expect(l.index == i && abs(l.arc - (t.arc[i] + t.segmentLength(i) / 2)) < 1e-6)
            }
        }
        // The left edge is on the left: edge points project to about +width/2.
        let edges = t.edges()
        for p in edges.left { #expect(abs(t.project(p, hint: -1).lateral - t.width / 2) < 0.05 * t.width) }
        for p in edges.right { #expect(abs(t.project(p, hint: -1).lateral + t.width / 2) < 0.05 * t.width) }
    }

    @Test("an open road starts at the origin heading +y and is not closed")
    func openRoad() throws {
        let spec = TrackSpec(generator: .road, width: Self.lit(4), checkpoints: Self.lit(12), radius: [Self.lit(30), Self.lit(60)],
                             spacing: Self.lit(1), length: Self.lit(200), curvature: Self.uniform(-0.02, 0.02),
                             segmentLength: Self.lit(25), origin: .none)
        let t = Self.track(spec, seed: 2)
        #expect(!t.closed)
        try #require(t.points.count >= 201)
        #expect(t.points[0] == SIMD2(0, 0))
        #expect(abs(t.startPose.angle) < 0.05, "start heading \(t.startPose.angle)")
        #expect(abs(t.length - t.arc[t.points.count - 1]) < 1e-12)
        for (i, p) in t.points.enumerated() {
            #expect(abs(t.project(p, hint: -1).lateral) < 1e-9, "point \(i)")
        }
        // Heading +y: a point at x < 0 near the start is on the left.
        #expect(t.project(SIMD2(-1, 0.5), hint: -1).lateral > 0)
        #expect(t.project(SIMD2(1, 0.5), hint: -1).lateral < 0)
    }
}
