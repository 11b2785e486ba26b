import MetaSimCore
import MetaSimProtocol

extension Connection {
    /// `open_external` (1.1): a session whose world the client runs; its specs are checked against the family's.
    func openExternal(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(OpenExternalRequest.self, frame, keys: OpenExternalRequest.keys)
        let config = core.configuration
        let count = try batchCount(r.batch)
        try checkSessionLimit()
        let (name, definition) = try worldDefinition(world: r.world, yaml: r.yaml, file: r.file)
        let nominal: WorldTask
        do throws(WorldError) { nominal = try definition.nominalTask() } catch { throw Self.failure(error) }
        // The nominal task's program gives the specs (no instance is built); it must fit the
        // session budget as one instance would.
        let program = try Self.program(definition, nominal)
        _ = try Budget.check(program, count: 1, config)
        let specs = program.specs
        var problems: [String] = []
        func compare(_ what: String, _ mine: WireTensorSpec, _ theirs: WireTensorSpec, bounds: Bool) {
            if theirs.dtype != "float32" { problems.append("\(what).dtype: '\(theirs.dtype)', the family's is 'float32'") }
            if theirs.shape != mine.shape { problems.append("\(what).shape: \(theirs.shape), the family's is \(mine.shape)") }
            if !theirs.entries.isEmpty, theirs.entries != mine.entries {
                problems.append("\(what).entries: \(theirs.entries), the family's are \(mine.entries)")
            }
            if bounds, theirs.low.count == mine.low.count, theirs.high.count == mine.high.count {
                func close(_ a: Double?, _ b: Double?) -> Bool {
                    switch (a, b) {
                    case (nil, nil): true
                    case (let a?, let b?): abs(a - b) <= 1e-6 * max(1, abs(b))
                    default: false
                    }
                }
                if !zip(theirs.low, mine.low).allSatisfy(close) || !zip(theirs.high, mine.high).allSatisfy(close) {
                    problems.append("\(what) bounds: low \(theirs.low) high \(theirs.high), the family's are low \(mine.low) high \(mine.high) (the policy's actions are scaled to them)")
                }
            } else if bounds {
                problems.append("\(what) bounds: \(theirs.low.count) low and \(theirs.high.count) high values for \(mine.count) entries")
            }
        }
        compare("observation", specs.observation.wire, r.observation, bounds: false)
        if specs.discreteActions == nil {
            compare("action", specs.action.wire, r.action, bounds: true)
        }
        if r.discreteActions != specs.discreteActions {
            problems.append("discrete_actions: \(r.discreteActions.map(String.init) ?? "null"), the family's is \(specs.discreteActions.map(String.init) ?? "null")")
        }
        guard problems.isEmpty else {
            throw RequestFailure(.badShape, "the specs do not match family '\(definition.name)': " + problems.joined(separator: "; "),
                                 diagnostics: problems)
        }
        let session = ExternalSession(id: core.allocateSessionID(), worldName: name, definition: definition, specs: specs, count: count)
        externals[session.id] = session
        logger.debug("external session \(session.id) opened: \(name) × \(count)")
        reply(.openExternal, id: frame.header.id, session.reply)
    }
}
