import ArgumentParser
import Foundation
import MetaSimCore
import MetaSimRender

struct RenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Draw a world and an episode of it: animated SVG (open it in a browser), PNG, animated GIF.",
        discussion: """
            --svg draws the whole episode as an animated SVG. --png writes the episode's last state \
            (--episode-steps 0: its initial state) and --gif every --every-th state, both raster frames \
            drawn with cairo at the world's render: size (docs/worlds.md §21) or --width and --height.
            """)

    @OptionGroup var catalog: CatalogOptions
    @OptionGroup var taskOptions: TaskOptions
    @Option(help: "World name or path.") var world: String
    @Option(help: "Episode seed.") var seed: UInt64 = 0
    @Option(name: .customLong("episode-steps"), help: "Steps to animate (0: the initial state only).") var episodeSteps = 200
    @Option(help: "Policy driving the episode: random or zero.") var policy: BaselinePolicy.Kind = .random
    @Option(help: "Output SVG file.") var svg: String?
    @Option(help: "Output PNG file: the episode's last state.") var png: String?
    @Option(help: "Output animated GIF file.") var gif: String?
    @Option(help: "Raster frame width in pixels (with --height; default: the world's render: size).") var width: Int?
    @Option(help: "Raster frame height in pixels (with --width).") var height: Int?
    @Option(help: "GIF: every N-th state (default 1: all).") var every = 1

    func validate() throws {
        guard svg != nil || png != nil || gif != nil else { throw ValidationError("give --svg, --png or --gif (or several)") }
        guard (width == nil) == (height == nil) else { throw ValidationError("give both --width and --height, or neither") }
        if let width, let height, let problem = RenderSpec.sizeProblem(width: width, height: height) {
            throw ValidationError("--width, --height: \(problem)")
        }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
    }

    func run() throws {
        let d = try catalog.definition(world)
        let task = try taskOptions.task(for: d)
        func newWorld() throws -> World {
            do { return try World(definition: d, task: task) } catch { throw CLIError(error.description) }
        }
        if let svg {
            let w = try newWorld()
            var renderer = SVGRenderer(world: w)
            let text = renderer.render(seed: seed, steps: episodeSteps, policy: policy)
            do { try AtomicFile.write(text, to: svg) } catch { throw CLIError(error.description) }
            print("wrote \(svg) (\(d.name), \(w.episodeLength) steps)")
        }
        guard png != nil || gif != nil else { return }
        let size = width.flatMap { w in height.map { (width: w, height: $0) } }
        do {
            let frames = try EpisodeFrames(world: newWorld(), seed: seed, steps: episodeSteps, policy: policy)
            if let png {
                try AtomicFile.write(frames.png(size: size), to: png)
                print("wrote \(png) (\(d.name), the state after \(frames.poses.count - 1) steps)")
            }
            if let gif {
                let bytes = try frames.gif(size: size, every: every)
                try AtomicFile.write(bytes, to: gif)
                print("wrote \(gif) (\(d.name), \(frames.poses.count) states, every \(every): \(bytes.count) bytes)")
            }
        } catch let e as RenderError {
            throw CLIError(e.description)
        } catch let e as AtomicFile.WriteError {
            throw CLIError(e.description)
        }
    }
}
