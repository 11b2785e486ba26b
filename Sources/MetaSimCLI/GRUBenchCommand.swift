import ArgumentParser
import Foundation
import MetaLearning

/// `metasim bench-gru`: the recurrent policy's forward and backward throughput (`GRUBenchmark`).
struct GRUBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-gru",
        abstract: "Benchmark the GRU policy's forward and backward passes (samples per second, one thread).",
        discussion: """
            The default sizes are rl2's on point-nav: 6 inputs (2 observations, 2 previous actions, \
            the previous reward, the episode-end flag), 64 units, 2 outputs, trials of 200 steps. \
            The MLP of the same width is measured beside it. Build with -c release (make bench-gru).
            """)

    @Option(help: "GRU inputs per step.") var inputs = 6
    @Option(help: "GRU units.") var hidden = 64
    @Option(help: "Head outputs.") var outputs = 2
    @Option(help: "Steps per sequence (forward and BPTT).") var sequence = 200
    @Option(help: "Seconds per figure.") var seconds = 2.0
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard inputs >= 1, hidden >= 1, outputs >= 1, sequence >= 1, seconds > 0 else {
            throw ValidationError("--inputs, --hidden, --outputs and --sequence must be at least 1, --seconds positive")
        }
        let rows = GRUBenchmark.run(inputs: inputs, hidden: hidden, outputs: outputs, sequence: sequence, seconds: seconds)
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(rows), as: UTF8.self))
            return
        }
        let width = rows.map(\.name.count).max() ?? 0
        for r in rows {
            print(r.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + String(format: "%12.0f", r.samplesPerSecond) + " samples/s")
        }
    }
}
