import Foundation
import MetaSimBatch
import Testing

@Suite("Adaptation plot (metasim evaluate --plot)")
struct AdaptationPlotTests {
    @Test("a curve per method with a point per step, ordered by return; the oracle as a dashed level")
    func curvesAndLevels() throws {
        let better = AdaptationPlot.Curve(label: "maml", mean: [-40, -10, -5], low: [-45, -12, -6], high: [-35, -8, -4])
        let worse = AdaptationPlot.Curve(label: "multi<task>", mean: [-40, -30, -20], low: [-44, -33, -23], high: [-36, -27, -17])
        let svg = AdaptationPlot(title: "point-nav", panels: [.init(title: "sampled", curves: [better, worse], levels: [("oracle", -1)])]).render()
        #expect(svg.hasPrefix("<svg"))
        #expect(svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 6)
        #expect(svg.contains("multi&lt;task&gt;"))
        #expect(svg.contains("oracle: -1"))
        #expect(svg.contains("stroke-dasharray"))
        // SVG y grows downwards: after 2 steps the better method's point lies above the other's,
        // and the oracle's line above both.
        func y(_ label: String, step: Int) throws -> Double {
            let title = "<title>\(label), after \(step):"
            let before = try #require(svg.components(separatedBy: title).first?.components(separatedBy: "<circle").last)
            let cy = try #require(before.components(separatedBy: "cy=\"").dropFirst().first?.components(separatedBy: "\"").first)
            return try #require(Double(cy))
        }
        #expect(try y("maml", step: 2) < y("multi&lt;task&gt;", step: 2))
        #expect(try abs(y("maml", step: 0) - y("multi&lt;task&gt;", step: 0)) < 1e-9)
        let oracle = try #require(svg.components(separatedBy: "<line").first { $0.contains("stroke-dasharray") && $0.contains("x2=\"860.0\"") })
        let oracleText = try #require(oracle.components(separatedBy: "y1=\"").dropFirst().first?.components(separatedBy: "\"").first)
        let oracleY = try #require(Double(oracleText))
        #expect(try oracleY < y("maml", step: 2))
    }
}
