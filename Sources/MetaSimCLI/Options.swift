import ArgumentParser
import MetaSimCore

/// Where catalog worlds are looked up.
struct CatalogOptions: ParsableArguments {
    @Option(name: .customLong("worlds"), help: "Folder of world files (default: $METASIM_WORLDS, ./worlds, or the installed catalog).")
    var worldsFolder: String?

    var root: String? { WorldCatalog.defaultRoot(explicit: worldsFolder) }

    func definition(_ nameOrPath: String) throws -> WorldDefinition {
        do { return try WorldCatalog.resolve(nameOrPath, root: root) } catch { throw CLIError(error.description) }
    }
}

/// Which world of the family: a task seed, or the nominal task; with explicit overrides.
struct TaskOptions: ParsableArguments {
    @Option(name: .customLong("task-seed"), help: "Draw the task (family parameters) from this seed (default: the nominal task).")
    var taskSeed: UInt64?

    @Option(name: .customLong("param"), help: "Set a parameter: --param gravity=-9.5 (repeatable).")
    var params: [String] = []

    func overrides() throws -> [String: Double] {
        var out: [String: Double] = [:]
        for p in params {
            let parts = p.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw CLIError("--param '\(p)': expected NAME=VALUE") }
            guard let v = Double(parts[1].trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw CLIError("--param '\(p)': '\(parts[1])' is not a finite number")
            }
            out[parts[0]] = v
        }
        return out
    }

    func task(for definition: WorldDefinition) throws -> WorldTask {
        do {
            let o = try overrides()
            if let s = taskSeed { return try definition.sampleTask(seed: s, overrides: o) }
            return try definition.nominalTask(overrides: o)
        } catch let e as WorldError {
            throw CLIError(e.description)
        }
    }
}

/// A user-facing failure: printed as is, exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

import Foundation
