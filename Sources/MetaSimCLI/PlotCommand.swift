import ArgumentParser
import MetaSimBatch
import MetaSimCore

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Plot a finished batch as SVG: return distributions per unit; return against adaptation steps.")

    @Argument(help: "A finished batch (or merged) output folder.") var folder: String
    @Option(help: "Output SVG file.") var svg: String

    func run() throws {
        do {
            let lines = try BatchOutput.readEpisodes(folder: folder)
            let text = BatchPlot(lines: lines).render()
            do { try AtomicFile.write(text, to: svg) } catch { throw CLIError(error.description) }
            print("wrote \(svg) (\(Set(lines.map(\.unit)).count) units, \(lines.count) episodes)")
        } catch let e as BatchError {
            throw CLIError(e.description)
        }
    }
}
