import Foundation
import MetaSimTestSupport
import Testing

@testable import MetaSimCore

/// Shared helpers of the MetaSimCore test suite.
enum TestSupport {
    /// The catalog folder `<root>/worlds`.
    static var worldsRoot: String { TestPaths.worldsRoot }

    /// Every catalog file present right now (others add worlds while the suite exists).
    static func catalogFiles() -> [String] {
        WorldCatalog.yamlFiles(under: worldsRoot)
    }

    /// The path of the catalog world named `name` (file name without `.yaml`), if present.
    static func catalogPath(named name: String) -> String? {
        catalogFiles().first { WorldCatalog.worldName($0) == name }
    }

    /// Parses inline world YAML, recording the diagnostics as a test issue if it does not load.
    static func parse(_ yaml: String, file: String = "<inline>",
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> WorldDefinition {
        do {
            return try WorldDefinition.parse(yaml, file: file)
        } catch {
            Issue.record("inline world does not load:\n\(error)", sourceLocation: sourceLocation)
            throw error
        }
    }

    /// A world instance for a definition and task (the nominal task by default).
    static func world(_ definition: WorldDefinition, task: MetaSimCore.WorldTask? = nil) throws -> World {
        try World(definition: definition, task: task ?? definition.nominalTask())
    }
}

extension World {
    /// A named quantity that must exist (records an issue and returns NaN otherwise).
    func required(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) -> Double {
        guard let v = value(of: name) else {
            Issue.record("world has no quantity named '\(name)'", sourceLocation: sourceLocation)
            return .nan
        }
        return v
    }
}
