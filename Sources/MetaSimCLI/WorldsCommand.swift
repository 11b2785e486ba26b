import ArgumentParser
import Foundation
import MetaSimCore

struct WorldsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worlds", abstract: "List the world catalog.")

    @OptionGroup var catalog: CatalogOptions
    @Flag(help: "Print a JSON array instead of a table.") var json = false

    struct Row: Encodable {
        let name: String
        let kind: String
        let path: String
        let description: String
        let observation_size: Int
        let action_size: Int
        let action_dtype: String
        let discrete_actions: Int?
        let parameters: [Param]
        struct Param: Encodable { let name: String; let distribution: String; let nominal: Double }
    }

    func run() throws {
        guard let root = catalog.root else { throw CLIError("error: no worlds folder found (use --worlds DIR)") }
        let c = WorldCatalog(root: root)
        var rows: [Row] = []
        for e in c.entries {
            let d = e.definition
            let task = try d.nominalTask()
            let specs: WorldSpecs
            do { specs = try WorldProgram(definition: d, task: task).specs } catch { throw CLIError(error.description) }
            let params = d.familyParameters.map { p -> Row.Param in
                let dist: String
                if case .random(let distribution) = p.value.kind { dist = distribution.summary } else { dist = "" }
                return Row.Param(name: p.name, distribution: dist, nominal: task[p.name] ?? 0)
            }
            rows.append(Row(name: e.name, kind: d.kind.rawValue, path: e.path, description: d.description,
                            observation_size: specs.observation.count,
                            action_size: specs.discreteActions == nil ? specs.action.count : 1,
                            action_dtype: specs.action.dtype.rawValue, discrete_actions: specs.discreteActions,
                            parameters: params))
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        } else {
            var table = TextTable(["world", "kind", "obs", "action", "family parameters"])
            for r in rows {
                let action = r.discrete_actions.map { "discrete(\($0))" } ?? "\(r.action_size)"
                table.add([r.name, r.kind, "\(r.observation_size)", action,
                           r.parameters.map { "\($0.name) ~ \($0.distribution)" }.joined(separator: ", ")])
            }
            print(table.render(), terminator: "")
        }
        for f in c.failures {
            FileHandle.standardError.write(Data((f.error.description + "\n").utf8))
        }
        if !c.failures.isEmpty { throw ExitCode(1) }
    }
}
