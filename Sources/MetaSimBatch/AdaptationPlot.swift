import Foundation
import MetaSimCore
import MetaSimYAML

/// Return against adaptation steps as one static SVG: a panel per condition (e.g. sampled and
/// deterministic episodes), a curve per method with its 95 % interval at every step, and
/// reference levels (an oracle) as dashed horizontal lines. `metasim evaluate --plot`.
public struct AdaptationPlot {
    /// One method's mean return after k = 0 … S steps, with the interval's bounds.
    public struct Curve: Sendable {
        public var label: String
        public var mean: [Double]
        public var low: [Double]
        public var high: [Double]
        public init(label: String, mean: [Double], low: [Double], high: [Double]) {
            precondition(mean.count == low.count && mean.count == high.count)
            self.label = label
            self.mean = mean
            self.low = low
            self.high = high
        }
    }

    public struct Panel: Sendable {
        public var title: String
        public var curves: [Curve]
        /// Horizontal reference lines (label, level), drawn dashed across every step.
        public var levels: [(label: String, value: Double)]
        /// Labels of the x positions, equally spaced (nil: the step numbers 0, 1, …).
        public var xLabels: [String]?
        public var xTitle: String
        public init(title: String, curves: [Curve], levels: [(label: String, value: Double)] = [], xLabels: [String]? = nil,
                    xTitle: String = "inner (adaptation) steps") {
            self.title = title
            self.curves = curves
            self.levels = levels
            self.xLabels = xLabels
            self.xTitle = xTitle
        }
    }

    public var title: String
    public var panels: [Panel]

    public init(title: String, panels: [Panel]) {
        self.title = title
        self.panels = panels
    }

    static let width = 880.0
    static let margin = 20.0
    static let plotHeight = 220.0
    static let palette = ["#c33", "#357", "#3a3", "#e80", "#a3a", "#777"]

    public func render() -> String {
        var body = text(Self.margin, Self.margin + 14, title, size: 14, bold: true)
        var y = Self.margin + 34
        for panel in panels {
            let steps = panel.curves.map(\.mean.count).max() ?? 1
            let values = panel.curves.flatMap { $0.low + $0.high + $0.mean } + panel.levels.map(\.value)
            let (lo, hi) = BatchPlot.range(values.filter(\.isFinite))
            let legend = panel.curves.count + panel.levels.count
            let x0 = Self.margin + 60, x1 = Self.width - Self.margin
            let top = y + 22 + 16 * Double(legend)
            let h = Self.plotHeight
            func sx(_ k: Int) -> Double { steps > 1 ? x0 + Double(k) / Double(steps - 1) * (x1 - x0) : (x0 + x1) / 2 }
            func sy(_ v: Double) -> Double { top + h - (v - lo) / (hi - lo) * h }
            body += text(Self.margin, y + 14, panel.title, size: 13, bold: true)
            for (i, c) in panel.curves.enumerated() {
                body += legendLine(y: y + 30 + 16 * Double(i), x0: x0, color: color(i), dashed: false, label: c.label)
            }
            for (i, l) in panel.levels.enumerated() {
                body += legendLine(y: y + 30 + 16 * Double(panel.curves.count + i), x0: x0, color: "#000", dashed: true,
                                   label: "\(l.label): \(formatNumber(BatchPlot.round(l.value)))")
            }
            body += "<rect x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(x1 - x0))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#999\"/>\n"
            for v in [lo, (lo + hi) / 2, hi] {
                body += text(x0 - 6, sy(v) + 4, formatNumber(BatchPlot.round(v)), size: 10, anchor: "end")
            }
            for k in 0..<steps { body += text(sx(k), top + h + 14, panel.xLabels.map { k < $0.count ? $0[k] : "" } ?? "\(k)", size: 10, anchor: "middle") }
            body += text((x0 + x1) / 2, top + h + 30, panel.xTitle, size: 11, anchor: "middle")
            for l in panel.levels where l.value.isFinite {
                body += "<line x1=\"\(f(x0))\" y1=\"\(f(sy(l.value)))\" x2=\"\(f(x1))\" y2=\"\(f(sy(l.value)))\" stroke=\"#000\" stroke-dasharray=\"5 3\"/>\n"
            }
            for (i, c) in panel.curves.enumerated() {
                let color = color(i)
                var points: [String] = []
                for k in c.mean.indices where c.mean[k].isFinite {
                    body += "<line x1=\"\(f(sx(k)))\" y1=\"\(f(sy(c.low[k])))\" x2=\"\(f(sx(k)))\" y2=\"\(f(sy(c.high[k])))\" stroke=\"\(color)\" stroke-width=\"6\" stroke-opacity=\"0.25\"/>\n"
                    body += "<circle cx=\"\(f(sx(k)))\" cy=\"\(f(sy(c.mean[k])))\" r=\"3\" fill=\"\(color)\"><title>\(escape(c.label)), after \(panel.xLabels.map { k < $0.count ? $0[k] : "" } ?? "\(k)"): \(c.mean[k]) [\(c.low[k]), \(c.high[k])]</title></circle>\n"
                    points.append("\(f(sx(k))),\(f(sy(c.mean[k])))")
                }
                body += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            }
            y = top + h + 50
        }
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(Self.width))\" height=\"\(f(y))\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n" + body + "</svg>\n"
    }

    private func color(_ i: Int) -> String { Self.palette[i % Self.palette.count] }

    private func legendLine(y: Double, x0: Double, color: String, dashed: Bool, label: String) -> String {
        "<line x1=\"\(f(x0))\" y1=\"\(f(y))\" x2=\"\(f(x0 + 24))\" y2=\"\(f(y))\" stroke=\"\(color)\" stroke-width=\"2\"\(dashed ? " stroke-dasharray=\"5 3\"" : "")/>\n"
            + text(x0 + 30, y + 4, label, size: 11)
    }

    private func text(_ x: Double, _ y: Double, _ s: String, size: Int, bold: Bool = false, anchor: String = "start") -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(size)\" text-anchor=\"\(anchor)\"\(bold ? " font-weight=\"bold\"" : "")>\(escape(s))</text>\n"
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }
}
