import Foundation

/// A road centre line: a closed loop (racing) or an open road (lane keeping), sampled every
/// `spacing` metres, with queries for a car's progress, lateral offset and heading error.
struct Track: Sendable {
    var points: [SIMD2<Double>] = []
    /// Arc length at each point.
    var arc: [Double] = []
    var closed = false
    var width = 8.0
    var length: Double { arc.last.map { closed ? $0 + segmentLength(points.count - 1) : $0 } ?? 0 }

    func segmentLength(_ i: Int) -> Double {
        let j = (i + 1) % points.count
        return ((points[j] - points[i]) * (points[j] - points[i])).sum().squareRoot()
    }

    /// Generates the track for an episode.
    static func generate(_ spec: TrackSpec, rng: inout SeededGenerator) -> Track {
        var t = Track()
        t.width = spec.width.sample(&rng)
        let spacing = max(0.1, spec.spacing.sample(&rng))
        switch spec.generator {
        case .loop:
            // CarRacing-style: checkpoints around a circle with a random angle jitter and radius,
            // joined by a closed Catmull-Rom spline.
            let n = min(max(4, Int(saturating: spec.checkpoints.sample(&rng))), WorldLimits.maxTrackPoints)
            let r0 = spec.radius[0].sample(&rng), r1 = spec.radius[1].sample(&rng)
            var cps: [SIMD2<Double>] = []
            for i in 0..<n {
                let a = 2 * Double.pi * (Double(i) + rng.uniform(0, 0.5)) / Double(n)
                let r = rng.uniform(min(r0, r1), max(r0, r1))
                cps.append(SIMD2(r * cos(a), r * sin(a)))
            }
            t.closed = true
            t.points = catmullRom(cps, closed: true, spacing: spacing)
        case .road:
            // Piecewise-constant curvature from the origin heading +y (the car's forward).
            let length = spec.length.sample(&rng), segment = spec.segmentLength.sample(&rng)
            var p = SIMD2<Double>(0, 0), heading = Double.pi / 2
            var k = 0.0, untilNext = 0.0
            var s = 0.0
            t.points.append(p)
            // WorldCost checks length / spacing against WorldLimits.maxTrackPoints before a
            // world is built; the cap here only guards against a bypass.
            while s < length, t.points.count <= WorldLimits.maxTrackPoints {
                if untilNext <= 0 { k = spec.curvature.sample(&rng); untilNext = segment }
                heading += k * spacing
                p += SIMD2(cos(heading), sin(heading)) * spacing
                t.points.append(p)
                s += spacing
                untilNext -= spacing
            }
        }
        t.arc = [0]
        for i in 1..<t.points.count { t.arc.append(t.arc[i - 1] + t.segmentLength(i - 1)) }
        return t
    }

    static func catmullRom(_ cps: [SIMD2<Double>], closed: Bool, spacing: Double) -> [SIMD2<Double>] {
        var out: [SIMD2<Double>] = []
        let n = cps.count
        for i in 0..<n {
            let p0 = cps[(i - 1 + n) % n], p1 = cps[i], p2 = cps[(i + 1) % n], p3 = cps[(i + 2) % n]
            let chord = ((p2 - p1) * (p2 - p1)).sum().squareRoot()
            let steps = min(max(1, Int(saturating: (chord / spacing).rounded())), WorldLimits.maxTrackPoints)
            for k in 0..<steps {
                let u = Double(k) / Double(steps)
                let u2 = u * u, u3 = u2 * u
                var q = 2 * p1
                q += (p2 - p0) * u
                q += (2 * p0 - 5 * p1 + 4 * p2 - p3) * u2
                q += (3 * p1 - p0 - 3 * p2 + p3) * u3
                out.append(q * 0.5)
            }
        }
        return out
    }

    /// Start pose: the first point, facing along the track (body angle: forward is local +y).
    var startPose: (x: Double, y: Double, angle: Double) {
        guard points.count >= 2 else { return (points.first?.x ?? 0, points.first?.y ?? 0, 0) }
        let d = points[1] - points[0]
        return (points[0].x, points[0].y, atan2(d.y, d.x) - Double.pi / 2)
    }

    struct Projection {
        var index: Int
        var arc: Double
        var lateral: Double       // signed: left of the direction of travel is positive
        var tangentAngle: Double
    }

    /// Nearest point on the centre line, searching `window` segments around `hint` (a global
    /// search when hint < 0).
    func project(_ p: SIMD2<Double>, hint: Int, window: Int = 12) -> Projection {
        let n = points.count
        let segments = closed ? n : n - 1
        var best = Projection(index: 0, arc: 0, lateral: .infinity, tangentAngle: 0)
        var bestD2 = Double.infinity
        func consider(_ i: Int) {
            let a = points[i], b = points[(i + 1) % n]
            let ab = b - a
            let len2 = max((ab * ab).sum(), 1e-12)
            let u = min(max(((p - a) * ab).sum() / len2, 0), 1)
            let q = a + ab * u
            let d2 = ((p - q) * (p - q)).sum()
            if d2 < bestD2 {
                bestD2 = d2
                let cross = ab.x * (p.y - a.y) - ab.y * (p.x - a.x)
                best = Projection(index: i, arc: arc[i] + u * len2.squareRoot(),
                                  lateral: (cross >= 0 ? 1 : -1) * d2.squareRoot(), tangentAngle: atan2(ab.y, ab.x))
            }
        }
        if hint < 0 || segments <= 2 * window {
            for i in 0..<segments { consider(i) }
        } else {
            for k in -window...window {
                var i = hint + k
                if closed { i = (i % segments + segments) % segments } else if i < 0 || i >= segments { continue }
                consider(i)
            }
        }
        return best
    }

    /// Mean curvature over the next `distance` metres from segment `index` (rad/m).
    func curvatureAhead(from index: Int, distance: Double) -> Double {
        let n = points.count
        guard n > 2, distance > 0 else { return 0 }
        let segments = closed ? n : n - 1
        var i = index, travelled = 0.0, turned = 0.0
        var previous = angle(of: i)
        // At most one lap: a look-ahead longer than a closed track would otherwise go round it
        // (distance / lap length) times, forever for a huge distance.
        var visited = 0
        while travelled < distance, visited < segments {
            visited += 1
            let next = closed ? (i + 1) % segments : i + 1
            if next >= segments { break }
            let a = angle(of: next)
            turned += remainder(a - previous, 2 * Double.pi)
            previous = a
            travelled += segmentLength(i)
            i = next
        }
        return travelled > 0 ? turned / travelled : 0
    }

    private func angle(of i: Int) -> Double {
        let d = points[(i + 1) % points.count] - points[i]
        return atan2(d.y, d.x)
    }

    /// Left and right edges (offset by half the width), as point lists.
    func edges() -> (left: [SIMD2<Double>], right: [SIMD2<Double>]) {
        var left: [SIMD2<Double>] = [], right: [SIMD2<Double>] = []
        let n = points.count
        for i in 0..<n {
            let a = points[closed ? (i - 1 + n) % n : max(i - 1, 0)]
            let b = points[closed ? (i + 1) % n : min(i + 1, n - 1)]
            var d = b - a
            d /= max((d * d).sum().squareRoot(), 1e-12)
            let normal = SIMD2(-d.y, d.x) * (width / 2)
            left.append(points[i] + normal)
            right.append(points[i] - normal)
        }
        // The inner edge of a bend tighter than half the width folds onto itself: drop points
        // closer than 5 cm to the last kept one, which Box2D would refuse as a chain.
        return (Self.thinned(left, closed: closed), Self.thinned(right, closed: closed))
    }

    static func thinned(_ points: [SIMD2<Double>], closed: Bool) -> [SIMD2<Double>] {
        var out: [SIMD2<Double>] = []
        for p in points {
            if let last = out.last, ((p - last) * (p - last)).sum() < 0.0025 { continue }
            out.append(p)
        }
        while closed, out.count > 3, let first = out.first, let last = out.last, ((first - last) * (first - last)).sum() < 0.0025 {
            out.removeLast()
        }
        return out
    }
}
