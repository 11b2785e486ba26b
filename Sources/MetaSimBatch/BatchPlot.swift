import Foundation
import MetaSimCore
import MetaSimYAML

/// A batch's results as one static SVG: per world, the return distribution of every unit (dots
/// for episodes, a box from the first to the third quartile, the median, whiskers to the
/// extremes, a diamond at the mean); then, for checkpoint policies, mean return (with its 95 %
/// interval) against adaptation steps: of the adaptation's own episodes and of the units' episodes.
public struct BatchPlot {
    public let lines: [UnitResult.EpisodeLine]

    public init(lines: [UnitResult.EpisodeLine]) {
        self.lines = lines
    }

    static let width = 960.0
    static let labelWidth = 340.0
    static let rowHeight = 20.0
    static let margin = 20.0

    public func render() -> String {
        var units: [Int: [UnitResult.EpisodeLine]] = [:]
        for l in lines { units[l.unit, default: []].append(l) }
        let order = units.keys.sorted()
        var worlds: [String] = []
        for u in order where !worlds.contains(units[u]![0].world) { worlds.append(units[u]![0].world) }

        var body = ""
        var y = Self.margin
        body += text(Self.margin, y + 14, "\(order.count) units, \(lines.count) episodes: return per episode", size: 16, bold: true)
        y += 34
        for world in worlds {
            let ids = order.filter { units[$0]![0].world == world }
            let returns = ids.flatMap { units[$0]!.map(\.episodeReturn) }.filter(\.isFinite)
            let (lo, hi) = Self.range(returns)
            body += text(Self.margin, y + 14, world, size: 14, bold: true)
            y += 22
            let x0 = Self.margin + Self.labelWidth, x1 = Self.width - Self.margin
            func sx(_ v: Double) -> Double { x0 + (v - lo) / (hi - lo) * (x1 - x0) }
            body += axis(x0: x0, x1: x1, y: y + Double(ids.count) * Self.rowHeight + 4, lo: lo, hi: hi)
            for id in ids {
                let ls = units[id]!
                let parts = ls[0].key.split(separator: "|", omittingEmptySubsequences: false).dropFirst().joined(separator: " | ")
                let label = "\(id): \(parts)"
                body += text(Self.margin, y + 14, label.count > 58 ? label.prefix(57) + "…" : label, size: 11)
                let r = ls.map(\.episodeReturn).filter(\.isFinite).sorted()
                let cy = y + Self.rowHeight / 2
                body += "<line x1=\"\(f(x0))\" y1=\"\(f(cy))\" x2=\"\(f(x1))\" y2=\"\(f(cy))\" stroke=\"#eee\"/>\n"
                if let first = r.first, let last = r.last {
                    let q1 = Self.quantile(r, 0.25), q2 = Self.quantile(r, 0.5), q3 = Self.quantile(r, 0.75)
                    let mean = r.reduce(0, +) / Double(r.count)
                    body += "<line x1=\"\(f(sx(first)))\" y1=\"\(f(cy))\" x2=\"\(f(sx(last)))\" y2=\"\(f(cy))\" stroke=\"#555\"/>\n"
                    body += "<rect x=\"\(f(sx(q1)))\" y=\"\(f(y + 4))\" width=\"\(f(max(sx(q3) - sx(q1), 1)))\" height=\"\(f(Self.rowHeight - 8))\" fill=\"#cde\" stroke=\"#357\"/>\n"
                    body += "<line x1=\"\(f(sx(q2)))\" y1=\"\(f(y + 4))\" x2=\"\(f(sx(q2)))\" y2=\"\(f(y + Self.rowHeight - 4))\" stroke=\"#135\" stroke-width=\"2\"/>\n"
                    for (k, v) in r.enumerated() {
                        let jitter = (Double((k * 7919) % 11) / 10 - 0.5) * (Self.rowHeight - 8)
                        body += "<circle cx=\"\(f(sx(v)))\" cy=\"\(f(cy + jitter))\" r=\"1.8\" fill=\"#c33\" fill-opacity=\"0.6\"/>\n"
                    }
                    let m = sx(mean)
                    body += "<path d=\"M\(f(m)) \(f(cy - 5))L\(f(m + 5)) \(f(cy))L\(f(m)) \(f(cy + 5))L\(f(m - 5)) \(f(cy))Z\" fill=\"#fc3\" stroke=\"#000\" stroke-width=\"0.7\"><title>mean \(mean)</title></path>\n"
                }
                y += Self.rowHeight
            }
            y += 36
        }
        body += adaptation(units: units, order: order, y: &y)
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(Self.width))" height="\(f(y + Self.margin))" viewBox="0 0 \(f(Self.width)) \(f(y + Self.margin))" font-family="sans-serif">
            <rect width="100%" height="100%" fill="white"/>
            \(body)</svg>

            """
    }

    /// Return against adaptation steps, one panel per world and checkpoint (over all its tasks
    /// and grid points), mean and 95 % interval:
    /// - the adaptation's own episodes (`adapt_returns`: the mean return of the episodes sampled
    ///   with the parameters after k steps), one curve per adaptation episode count, the
    ///   interval over tasks (units differing only in their step count share a curve's prefix,
    ///   so each task counts once, with its longest curve);
    /// - the units' own episodes after S steps (`adapt_steps`; S = 0 for a checkpoint used as
    ///   is), the interval over all their episodes.
    private func adaptation(units: [Int: [UnitResult.EpisodeLine]], order: [Int], y: inout Double) -> String {
        struct Group {
            /// Adaptation episode count -> task (key without the policy) -> longest curve.
            var curves: [Int: [String: [Double]]] = [:]
            /// Steps -> returns of the units' episodes.
            var evaluation: [Int: [Double]] = [:]
        }
        var groups: [String: Group] = [:]
        var groupOrder: [String] = []
        for id in order {
            let ls = units[id]!, first = ls[0]
            guard let steps = first.adaptSteps else { continue }
            let parts = first.policy.components(separatedBy: "+adapt(")
            let g = "\(first.world) · \(parts[0])"
            if groups[g] == nil { groupOrder.append(g) }
            groups[g, default: Group()].evaluation[steps, default: []] += ls.map(\.episodeReturn).filter(\.isFinite)
            if let curve = first.adaptReturns, parts.count > 1,
               let e = Int(parts[1].components(separatedBy: "episodes=").last?.filter(\.isNumber) ?? "") {
                let task = first.key.split(separator: "|", omittingEmptySubsequences: false).dropLast().joined(separator: "|")
                if curve.count > groups[g]!.curves[e, default: [:]][task]?.count ?? -1 { groups[g]!.curves[e, default: [:]][task] = curve }
            }
        }
        guard !groupOrder.isEmpty else { return "" }
        typealias Point = (x: Double, mean: Double, half: Double)
        func point(_ x: Int, _ r: [Double]) -> Point {
            let n = Double(r.count), m = r.reduce(0, +) / max(n, 1)
            let sd = r.count > 1 ? (r.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1)).squareRoot() : 0
            let half = r.count > 1 ? UnitSummary.tQuantile975(df: r.count - 1) * sd / n.squareRoot() : 0
            return (Double(x), m, half)
        }
        var out = text(Self.margin, y + 14, "Return against adaptation steps (mean, 95 % interval)", size: 16, bold: true)
        y += 30
        let palette = ["#c33", "#e80", "#a3a", "#3a3"]
        for g in groupOrder {
            let group = groups[g]!
            var series: [(label: String, color: String, dashed: Bool, points: [Point])] = []
            for (i, (e, tasks)) in group.curves.sorted(by: { $0.key < $1.key }).enumerated() {
                let length = tasks.values.map(\.count).max() ?? 0
                let points = (0..<length).map { k in point(k, tasks.values.compactMap { k < $0.count && $0[k].isFinite ? $0[k] : nil }) }
                series.append(("adaptation episodes (\(e) per step, sampled with the parameters after k steps), over \(tasks.count) task\(tasks.count == 1 ? "" : "s")",
                               palette[i % palette.count], false, points))
            }
            let evaluation = group.evaluation.sorted { $0.key < $1.key }.map { point($0.key, $0.value) }
            series.append(("the units' episodes after S steps, over all their episodes", "#357", true, evaluation))
            let all = series.flatMap(\.points)
            let h = 160.0
            let x0 = Self.margin + 60, x1 = Self.width - Self.margin
            let (slo, shi) = Self.range(all.map(\.x))
            let (rlo, rhi) = Self.range(all.flatMap { [$0.mean - $0.half, $0.mean + $0.half] })
            let top = y + 20 + 16 * Double(series.count)
            func sx(_ v: Double) -> Double { x0 + (v - slo) / (shi - slo) * (x1 - x0) }
            func sy(_ v: Double) -> Double { top + h - (v - rlo) / (rhi - rlo) * h }
            out += text(Self.margin, y + 14, g, size: 13, bold: true)
            for (i, s) in series.enumerated() {
                let ly = y + 20 + 16 * Double(i) + 8
                out += "<line x1=\"\(f(x0))\" y1=\"\(f(ly))\" x2=\"\(f(x0 + 24))\" y2=\"\(f(ly))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "")/>\n"
                out += text(x0 + 30, ly + 4, s.label, size: 11)
            }
            out += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(x1 - x0))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#999\"/>\n"
            out += text(Self.margin, sy(rhi) + 4, formatNumber(Self.round(rhi)), size: 10)
            out += text(Self.margin, sy(rlo) + 4, formatNumber(Self.round(rlo)), size: 10)
            let steps = Set(all.map(\.x)).sorted()
            let every = max(1, steps.count / 20)
            for (i, x) in steps.enumerated() where i % every == 0 || i == steps.count - 1 {
                out += text(sx(x), top + h + 14, formatNumber(x), size: 10, anchor: "middle")
            }
            for s in series {
                for p in s.points {
                    out += "<line x1=\"\(f(sx(p.x)))\" y1=\"\(f(sy(p.mean - p.half)))\" x2=\"\(f(sx(p.x)))\" y2=\"\(f(sy(p.mean + p.half)))\" stroke=\"\(s.color)\" stroke-opacity=\"0.6\"/>\n"
                    out += "<circle cx=\"\(f(sx(p.x)))\" cy=\"\(f(sy(p.mean)))\" r=\"2.5\" fill=\"\(s.color)\"><title>\(formatNumber(p.x)) steps: mean \(p.mean) ± \(p.half)</title></circle>\n"
                }
                out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"5 3\"" : "") points=\"\(s.points.map { "\(f(sx($0.x))),\(f(sy($0.mean)))" }.joined(separator: " "))\"/>\n"
            }
            out += text((x0 + x1) / 2, top + h + 28, "adaptation steps", size: 11, anchor: "middle")
            y = top + h + 44
        }
        return out
    }

    private func axis(x0: Double, x1: Double, y: Double, lo: Double, hi: Double) -> String {
        var s = "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x1))\" y2=\"\(f(y))\" stroke=\"#999\"/>\n"
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4
            let x = x0 + (x1 - x0) * Double(i) / 4
            s += "<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x))\" y2=\"\(f(y + 4))\" stroke=\"#999\"/>\n"
            s += text(x, y + 16, formatNumber(Self.round(v)), size: 10, anchor: "middle")
        }
        return s
    }

    private func text(_ x: Double, _ y: Double, _ s: String, size: Int, bold: Bool = false, anchor: String = "start") -> String {
        let escaped = s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        return "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\"\(bold ? " font-weight=\"bold\"" : "")>\(escaped)</text>\n"
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    static func round(_ v: Double) -> Double { (v * 100).rounded() / 100 }

    /// A padded range that is never empty.
    static func range(_ xs: [Double]) -> (Double, Double) {
        guard var lo = xs.min(), var hi = xs.max() else { return (0, 1) }
        if hi - lo < 1e-9 { lo -= 1; hi += 1 }
        let pad = (hi - lo) * 0.04
        return (lo - pad, hi + pad)
    }

    /// Linear-interpolated quantile of sorted values.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let p = q * Double(sorted.count - 1)
        let i = Int(p.rounded(.down)), frac = p - Double(i)
        return i + 1 < sorted.count ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i]
    }
}
