import ArgumentParser
import Foundation
import MetaSimCore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check world files (or folders of them); exit 0 only if all are valid.",
        discussion: "Errors are printed compiler style: FILE:LINE:COLUMN: error: KEY.PATH: MESSAGE.")

    @Argument(help: "World files or folders.") var paths: [String]

    func run() throws {
        var failed = 0, checked = 0
        for path in paths {
            let files = WorldCatalog.yamlFiles(under: path)
            if files.isEmpty {
                FileHandle.standardError.write(Data("\(path): error: no such file, or no .yaml files in it\n".utf8))
                failed += 1
                continue
            }
            for file in files {
                checked += 1
                do {
                    let d = try WorldDefinition.load(contentsOfFile: file)
                    // Instantiate the nominal task once: catches values that only fail when built.
                    _ = try World(definition: d, task: try d.nominalTask())
                    print("\(file): ok (\(d.name), \(d.familyParameters.count) family parameters)")
                } catch {
                    failed += 1
                    FileHandle.standardError.write(Data((error.description + "\n").utf8))
                }
            }
        }
        print("\(checked - failed) valid, \(failed) invalid")
        if failed > 0 { throw ExitCode(1) }
    }
}
