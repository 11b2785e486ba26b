import ArgumentParser
import MetaSimBatch

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the output folders of a batch's shards into the files an unsharded run writes.",
        discussion: "Every shard must be finished and hold the same batch; together they must hold every unit once.")

    @Argument(help: "Shard output folders.") var folders: [String]
    @Option(help: "Folder for the merged outputs.") var output: String

    func run() throws {
        do {
            let results = try BatchOutput.merge(folders, into: output)
            print(BatchTable.render(results), terminator: "")
            print("merged \(folders.count) folder\(folders.count == 1 ? "" : "s") into \(output) (\(results.count) units)")
        } catch {
            throw CLIError(error.description)
        }
    }
}
