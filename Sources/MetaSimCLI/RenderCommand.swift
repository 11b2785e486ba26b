import ArgumentParser
import Foundation
import MetaSimCore

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Draw a world and an animated episode of it as SVG (open it in a browser).")

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var taskOptions: TaskOptions
    @Option(help: "World name or path.") var world: String
    @Option(help: "Episode seed.") var seed: UInt64 = 0
    @Option(name: .customLong("episode-steps"), help: "Steps to animate (0: the initial state only).") var episodeSteps = 200
    @Option(help: "Policy driving the episode: random or zero.") var policy: BaselinePolicy.Kind = .random
    @Option(help: "Output SVG file.") var svg: String

    func run() throws {
        let d = try catalog.definition(world)
        let task = try taskOptions.task(for: d)
        let w: World
        do { w = try World(definition: d, task: task) } catch { throw CLIError(error.description) }
        var renderer = SVGRenderer(world: w)
        let text = renderer.render(seed: seed, steps: episodeSteps, policy: policy)
        do { try AtomicFile.write(text, to: svg) } catch { throw CLIError(error.description) }
        print("wrote \(svg) (\(d.name), \(w.episodeLength) steps)")
    }
}
