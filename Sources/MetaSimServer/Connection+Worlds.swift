import MetaSimCore
import MetaSimProtocol

/// What the handlers that build worlds share (open, set_task, open_external, adapt): the session
/// limit, the world definition a request names, its task and program, and world errors as failures.
extension Connection {
    /// A session's `batch` (default 1), within `max_batch`.
    func batchCount(_ requested: Int?) throws(RequestFailure) -> Int {
        let count = requested ?? 1, limit = core.configuration.maxBatch
        guard (1...limit).contains(count) else {
            throw RequestFailure(beyond: .maxBatch, exceeded: count >= 1, "batch: \(count) is not in 1...\(limit)")
        }
        return count
    }

    func checkSessionLimit() throws(RequestFailure) {
        let open = sessions.count + externals.count
        guard open < core.configuration.maxSessionsPerConnection else {
            throw RequestFailure(limit: .maxSessionsPerConnection, "this connection already has \(open) sessions (the limit)")
        }
    }

    /// A catalog world by name, or an inline world file (`file` names it in errors).
    func worldDefinition(world: String?, yaml: String?, file: String?) throws(RequestFailure) -> (String, WorldDefinition) {
        let name: String
        let definition: WorldDefinition
        switch (world, yaml) {
        case (let world?, nil):
            guard let entry = core.directory.entries[world] else {
                let known = core.directory.ordered.map(\.name).joined(separator: ", ")
                throw RequestFailure(.unknownWorld, "no world named '\(world)' in the catalog (known: \(known))")
            }
            name = world
            definition = entry.definition
        case (nil, let yaml?):
            name = file ?? "<inline>"
            do { definition = try WorldDefinition.parse(yaml, file: name) } catch { throw Self.failure(error) }
        case (nil, nil): throw RequestFailure(.badRequest, "needs 'world' (a catalog name) or 'yaml' (a world file's text)")
        case (_?, _?): throw RequestFailure(.badRequest, "give either 'world' or 'yaml', not both")
        }
        if file != nil, yaml == nil { throw RequestFailure(.badRequest, "'file' names inline yaml; it needs 'yaml'") }
        return (name, definition)
    }

    static func task(_ d: WorldDefinition, seed: UInt64?, params: [String: Double]) throws(RequestFailure) -> WorldTask {
        do {
            if let seed { return try d.sampleTask(seed: seed, overrides: params) }
            return try d.nominalTask(overrides: params)
        } catch {
            throw failure(error)
        }
    }

    /// The task's program: its values checked and its cost estimated, nothing built yet.
    static func program(_ d: WorldDefinition, _ task: WorldTask) throws(RequestFailure) -> WorldProgram {
        do { return try WorldProgram(definition: d, task: task) } catch { throw failure(error) }
    }

    static func failure(_ error: WorldError) -> RequestFailure {
        switch error {
        case .invalid(let diagnostics):
            return RequestFailure(.invalidWorld, diagnostics.first?.description ?? "invalid world",
                                  diagnostics: diagnostics.map(\.description))
        case .notFound: return RequestFailure(.unknownWorld, error.description)
        case .badParameter: return RequestFailure(.unknownParameter, error.description)
        case .physics(let d): return RequestFailure(.worldFailed, d.description, diagnostics: [d.description])
        case .cancelled(let what): return RequestFailure(.cancelled, what)
        case .limitExceeded(let message): return RequestFailure(.limitExceeded, message)
        }
    }
}
