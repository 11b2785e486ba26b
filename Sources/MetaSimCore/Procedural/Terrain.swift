import Foundation

/// Height profiles for `terrain:` shapes, regenerated every episode from the episode generator.
/// The generators follow Gymnasium's Box2D environments so that replicas draw the same family of
/// terrains (the same distributions; not the same numbers, as the generators differ).
enum TerrainGenerator {
    /// Writes the profile's points (x0, y0, x1, y1, ...) into `points` (cleared first).
    static func generate(_ t: TerrainSpec, rng: inout SeededGenerator, parameters: (String) -> Double?, into points: inout [Float]) {
        points.removeAll(keepingCapacity: true)
        switch t.generator {
        case .smoothedChunks: smoothedChunks(t, &rng, &points)
        case .randomWalk: randomWalk(t, &rng, &points)
        case .function: function(t, parameters, &points)
        }
    }

    /// LunarLander: `count` chunk heights drawn from `height` (one extra, as Gymnasium draws
    /// CHUNKS + 1), chunks `flat.from...flat.to` set to `flat.height`, then each point is
    /// `smoothing` times the sum of its neighbourhood (Gymnasium: 0.33 * (h[i-1] + h[i] + h[i+1]),
    /// with h[-1] the last height, as Python's indexing wraps).
    private static func smoothedChunks(_ t: TerrainSpec, _ rng: inout SeededGenerator, _ points: inout [Float]) {
        let chunks = min(max(2, Int(saturating: t.count.sample(&rng))), WorldLimits.maxTerrainPoints)
        let x0 = t.start.sample(&rng), x1 = t.end.sample(&rng)
        var h = [Double](repeating: 0, count: chunks + 1)
        for i in 0...chunks { h[i] = t.height.sample(&rng) }
        if let from = t.flatFrom, let to = t.flatTo, let height = t.flatHeight {
            let a = max(0, Int(saturating: from.sample(&rng))), b = min(chunks, Int(saturating: to.sample(&rng)))
            let y = height.sample(&rng)
            if a <= b { for i in a...b { h[i] = y } }
        }
        let w = t.smoothing.sample(&rng)
        for i in 0..<chunks {
            let prev = i == 0 ? h[chunks] : h[i - 1]
            let y = w * (prev + h[i] + h[i + 1])
            let x = x0 + (x1 - x0) * Double(i) / Double(chunks - 1)
            points.append(Float(x)); points.append(Float(y))
        }
    }

    /// BipedalWalker (normal mode): y starts at `height`; the slope v follows
    /// v = damping * v + pull * sign(height - y), plus uniform(-1, 1) * roughness after
    /// `start_pad` points; every `segment` / 2 ... segment - 1 points the slope update is skipped once
    /// (Gymnasium's "grass" counter with its one-shot step).
    private static func randomWalk(_ t: TerrainSpec, _ rng: inout SeededGenerator, _ points: inout [Float]) {
        let n = min(max(2, Int(saturating: t.count.sample(&rng))), WorldLimits.maxTerrainPoints)
        let step = t.step.sample(&rng), base = t.height.sample(&rng)
        let pad = Int(saturating: t.startPad.sample(&rng)), rough = t.roughness.sample(&rng)
        let damping = t.damping.sample(&rng), pull = t.pull.sample(&rng)
        let segment = max(2, Int(saturating: t.segmentLength.sample(&rng)))
        let x0 = t.start.sample(&rng)
        var y = base, velocity = 0.0
        var counter = pad
        var oneshot = false
        for i in 0..<n {
            let x = x0 + Double(i) * step
            if !oneshot {
                let s: Double = base - y > 0 ? 1 : (base - y < 0 ? -1 : 0)
                velocity = damping * velocity + pull * s
                if i > pad { velocity += rng.uniform(-1, 1) * rough }
                y += velocity
            }
            oneshot = false
            points.append(Float(x)); points.append(Float(y))
            counter -= 1
            if counter == 0 {
                counter = rng.integer(segment / 2, segment - 1)
                oneshot = true
            }
        }
    }

    /// y = f(x) at `count` points spaced `step` apart from `start`.
    private static func function(_ t: TerrainSpec, _ parameters: (String) -> Double?, _ points: inout [Float]) {
        guard let f = t.function else { return }
        var rng = SeededGenerator(seed: 0)
        let n = min(max(2, Int(saturating: t.count.sample(&rng))), WorldLimits.maxTerrainPoints)
        let step = t.step.sample(&rng), x0 = t.start.sample(&rng)
        for i in 0..<n {
            let x = x0 + Double(i) * step
            let y = (try? f.evaluate { $0 == "x" ? x : parameters($0) }) ?? 0
            points.append(Float(x)); points.append(Float(y))
        }
    }
}
