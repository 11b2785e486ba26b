import MetaSimCore
import MetaSimProtocol

extension Connection {
    /// `open`: a session of `batch` worlds of a catalog or inline world file.
    func open(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(OpenRequest.self, frame, keys: OpenRequest.keys)
        let config = core.configuration
        let count = try batchCount(r.batch)
        let threads = r.threads ?? 1
        guard (1...config.maxThreadsPerSession).contains(threads) else {
            throw RequestFailure(beyond: .maxThreadsPerSession, exceeded: threads >= 1, "threads: \(threads) is not in 1...\(config.maxThreadsPerSession)")
        }
        if let horizon = r.horizon {
            guard agreedMinor >= 1 else { throw RequestFailure(.badRequest, "horizon needs protocol 1.1; this connection agreed on 1.\(agreedMinor)") }
            guard (1...WorldDefinition.maxHorizon).contains(horizon) else {
                throw RequestFailure(.badRequest, "horizon: \(horizon) is not in 1...\(WorldDefinition.maxHorizon)")
            }
        }
        try checkSessionLimit()
        let (name, file) = try worldDefinition(world: r.world, yaml: r.yaml, file: r.file)
        let definition = file.withHorizon(r.horizon)
        let task = try Self.task(definition, seed: r.taskSeed, params: r.params ?? [:])
        let program = try Self.program(definition, task)
        let bytes = try Budget.check(program, count: count, config)
        try Budget.reserve(bytes, in: core.memory, config)
        let session: Session
        do {
            session = try Session(id: core.allocateSessionID(), owner: self, observerCount: core.observerCount, worldName: name,
                                  definition: definition, program: program, count: count, threads: threads, seed: r.seed ?? 0,
                                  autoReset: r.autoReset ?? true)
        } catch {
            core.memory.release(bytes)
            if case .cancelled = error { throw RequestFailure(.cancelled, "building the worlds cut short: no session was opened") }
            throw Self.failure(error)
        }
        session.reservedBytes = bytes
        sessions[session.id] = session
        core.register(session)
        logger.debug("session \(session.id) opened: \(name) × \(count)")
        session.withObservationBytes { reply(.open, id: frame.header.id, session.reply, data: $0) }
    }
}
