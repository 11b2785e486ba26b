import ArgumentParser
import Foundation
import MetaSimCore

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check world files (or folders of them); exit 0 only if all are valid.",
        discussion: """
            Errors are printed compiler style: FILE:LINE:COLUMN: error: KEY.PATH: MESSAGE. \
            With --print, one world file is checked and printed as it resolves (a variant merged \
            over its base) on standard output; the summary goes to standard error.
            """)

    @OptionGroup var catalog: CatalogOptions
    @Flag(name: .customLong("print"), help: "Print the world as it resolves (a variant merged over its base) as YAML.")
    var printWorld = false
    @Argument(help: "World files or folders.") var paths: [String]

    func validate() throws {
        if printWorld, paths.count != 1 || WorldCatalog.yamlFiles(under: paths[0]) != [paths[0]] {
            throw ValidationError("--print takes one world file")
        }
    }

    func run() throws {
        var failed = 0, checked = 0
        let root = catalog.root
        // With --print, standard output is the world alone.
        let report = { (line: String) in
            if printWorld { FileHandle.standardError.write(Data((line + "\n").utf8)) } else { print(line) }
        }
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
                    let d = try WorldDefinition.load(contentsOfFile: file, catalogRoot: root)
                    // Instantiate the nominal task once: catches values that only fail when built.
                    _ = try World(definition: d, task: try d.nominalTask())
                    if printWorld { print(try WorldDefinition.resolvedText(contentsOfFile: file, catalogRoot: root), terminator: "") }
                    report("\(file): ok (\(d.name), \(d.familyParameters.count) family parameters)")
                } catch {
                    failed += 1
                    FileHandle.standardError.write(Data((error.description + "\n").utf8))
                }
            }
        }
        report("\(checked - failed) valid, \(failed) invalid")
        if failed > 0 { throw ExitCode(1) }
    }
}
