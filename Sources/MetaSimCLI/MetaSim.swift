import ArgumentParser

@main
struct MetaSim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metasim",
        abstract: "Box2D worlds from YAML, headless simulation, and benchmarks.",
        version: MetaSimVersion.string,
        subcommands: [
            WorldsCommand.self, ValidateCommand.self, RunCommand.self, RenderCommand.self, BenchCommand.self,
            TraceCommand.self, BatchCommand.self, MergeCommand.self, PlotCommand.self, TrainCommand.self, TuneCommand.self,
            AdaptCommand.self, EvaluateCommand.self, ClientCommand.self, DemoCommand.self, PolicyBenchCommand.self,
            GRUBenchCommand.self,
        ])
}

enum MetaSimVersion {
    static let string = "0.1.0"
}
