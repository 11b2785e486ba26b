import Dispatch
import Logging
import MetaSimCore
import MetaSimProtocol

extension Connection {
    /// Answers one request (the answer goes into `out`). False when the connection must close
    /// after the answers built so far are sent.
    func handle(_ frame: FrameView) -> Bool {
        let h = frame.header
        beginWork(kind: h.kind, id: h.id)
        defer { endWork() }
        do {
            if h.metaLength == UInt32.max {
                throw RequestFailure(.badFrame, "the metadata length runs past the end of the frame")
            }
            if !h.flags.isEmpty {
                throw RequestFailure(.badFrame, "a request carries no flags (got 0x\(String(h.flags.rawValue, radix: 16)))")
            }
            if h.id == 0 { throw RequestFailure(.badRequest, "request ids start at 1 (0 is reserved)") }
            guard let kind = MessageKind(rawValue: h.kind) else {
                throw RequestFailure(.unknownKind, "unknown request kind \(h.kind)")
            }
            if !greeted, kind != .hello {
                throw RequestFailure(.handshakeRequired, "the first request must be hello")
            }
            if kind.sinceMinor > agreedMinor {
                throw RequestFailure(.unknownKind, "\(kind.name) needs protocol 1.\(kind.sinceMinor); this connection agreed on 1.\(agreedMinor)")
            }
            try dispatch(kind, frame)
        } catch let failure as RequestFailure {
            let failure = cutShort(failure, kind: h.kind, id: h.id)
            replyError(kind: h.kind, id: h.id, failure)
            return !failure.fatal
        } catch {
            replyError(kind: h.kind, id: h.id, RequestFailure(.internal, "\(error)"))
        }
        return true
    }

    func meta<T: Decodable>(_ type: T.Type, _ frame: FrameView, keys: Set<String>) throws(RequestFailure) -> T {
        do { return try MetaCoding.decode(type, from: frame.meta, keys: keys) } catch {
            throw RequestFailure(.badRequest, error.message)
        }
    }

    func ownedSession(_ id: UInt32) throws(RequestFailure) -> Session {
        if let s = sessions[id] { return s }
        if externals[id] != nil { throw RequestFailure(.badRequest, "session \(id) is external: the client runs its world (act, record and adapt apply)") }
        if core.session(id) != nil { throw RequestFailure(.notOwner, "session \(id) belongs to another connection") }
        throw RequestFailure(.unknownSession, "no open session \(id)")
    }

    private func requireEmptyMeta(_ frame: FrameView) throws(RequestFailure) {
        _ = try meta(EmptyMeta.self, frame, keys: [])
    }

    private func dispatch(_ kind: MessageKind, _ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        switch kind {
        case .hello:
            let hello = try meta(HelloRequest.self, frame, keys: HelloRequest.keys)
            if greeted { throw RequestFailure(.badRequest, "hello was already sent on this connection") }
            let mine = ProtocolVersion.current
            guard hello.protocol.major == mine.major else {
                throw RequestFailure(.versionMismatch, "client speaks protocol \(hello.protocol), server speaks \(mine)", fatal: true)
            }
            greeted = true
            agreedMinor = min(mine.minor, hello.protocol.minor)
            if let client = hello.client { logger[metadataKey: "client"] = "\(client)" }
            let agreed = ProtocolVersion(major: mine.major, minor: min(mine.minor, hello.protocol.minor))
            // A 1.0 client is not told of what only 1.1 requests can do.
            let capabilities = agreed.minor >= 1 ? MetaSimServer.capabilities : Array(MetaSimServer.capabilities.prefix(6))
            reply(.hello, id: id, HelloReply(protocol: agreed, server: MetaSimServer.version,
                                             capabilities: capabilities, limits: core.limits))
        case .ping:
            try requireEmptyMeta(frame)
            reply(.ping, id: id, meta: [], data: frame.data)
        case .status:
            try requireEmptyMeta(frame)
            reply(.status, id: id, core.status())
        case .listWorlds:
            try requireEmptyMeta(frame)
            reply(.listWorlds, id: id, ListWorldsReply(worlds: core.directory.ordered))
        case .open:
            try open(frame)
        case .reset:
            let r = try meta(ResetRequest.self, frame, keys: ResetRequest.keys)
            let session = try ownedSession(r.session)
            try session.reset(instances: r.instances, seeds: r.seeds, seed: r.seed)
            session.withObservationBytes { reply(.reset, id: id, SessionRequest(session: session.id), data: $0) }
            session.publish(event: "reset")
        case .step:
            try step(frame)
        case .setTask:
            let r = try meta(SetTaskRequest.self, frame, keys: SetTaskRequest.keys)
            let session = try ownedSession(r.session)
            let task = try Self.task(session.definition, seed: r.taskSeed, params: r.params ?? [:])
            let program = try Self.program(session.definition, task)
            // The new batch is built while the old one is alive: reserve for it first, release
            // the old reservation once it is replaced (or the new one if building fails).
            let bytes = try Budget.check(program, count: session.batchCount, core.configuration)
            try Budget.reserve(bytes, in: core.memory, core.configuration)
            do { try session.setTask(program, seed: r.seed ?? session.seed) } catch {
                core.memory.release(bytes)
                if case .cancelled = error { throw RequestFailure(.cancelled, "building the worlds cut short: the session keeps its previous task") }
                throw Self.failure(error)
            }
            core.memory.release(session.reservedBytes)
            session.reservedBytes = bytes
            session.withObservationBytes { reply(.setTask, id: id, session.reply, data: $0) }
            session.publish(event: "task")
        case .close:
            let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
            if externals.removeValue(forKey: r.session) != nil {
                reply(.close, id: id, r)
                return
            }
            let session = try ownedSession(r.session)
            sessions.removeValue(forKey: session.id)
            closeSession(session)
            reply(.close, id: id, r)
        case .observe:
            try observe(frame)
        case .listPolicies:
            try requireEmptyMeta(frame)
            let policies = core.policies
            reply(.listPolicies, id: id, ListPoliciesReply(policies: policies.ordered, rejected: policies.rejected))
        case .adapt:
            try adapt(frame)
        case .act:
            try act(frame)
        case .runEpisodes:
            try runEpisodes(frame)
        case .openExternal:
            try openExternal(frame)
        case .record:
            try record(frame)
        case .savePolicy:
            try savePolicy(frame)
        case .unobserve:
            let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
            guard let entry = observing.removeValue(forKey: r.session) else {
                throw RequestFailure(.unknownSession, "this connection does not observe session \(r.session)")
            }
            // Events already queued go first; then the stream's last event, then the answer.
            if entry.session.removeObserver(self) {
                let f = out.beginFrame(kind: MessageKind.observe.rawValue, flags: [.event, .final], id: entry.requestID,
                                       meta: MetaCoding.encode(ObserverEvent(event: "unobserved", session: r.session)))
                out.endFrame(f)
            }
            reply(.unobserve, id: id, r)
        }
    }

    // MARK: Open

    private func open(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(OpenRequest.self, frame, keys: OpenRequest.keys)
        let config = core.configuration
        let count = r.batch ?? 1
        guard (1...config.maxBatch).contains(count) else {
            throw RequestFailure(count < 1 ? .badRequest : .limitExceeded, "batch: \(count) is not in 1...\(config.maxBatch)")
        }
        let threads = r.threads ?? 1
        guard (1...config.maxThreadsPerSession).contains(threads) else {
            throw RequestFailure(threads < 1 ? .badRequest : .limitExceeded, "threads: \(threads) is not in 1...\(config.maxThreadsPerSession)")
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

    func checkSessionLimit() throws(RequestFailure) {
        let open = sessions.count + externals.count
        guard open < core.configuration.maxSessionsPerConnection else {
            throw RequestFailure(.limitExceeded, "this connection already has \(open) sessions (the limit)")
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

    // MARK: Step

    private func step(_ frame: FrameView) throws(RequestFailure) {
        if frame.header.metaLength != 0 { throw RequestFailure(.badRequest, "step metadata must be empty") }
        guard frame.data.count >= 4 else {
            throw RequestFailure(.badShape, "step data of \(frame.data.count) bytes is shorter than its 16-byte header")
        }
        let session = try ownedSession(frame.data.loadLE(UInt32.self, at: 0))
        try session.loadActions(frame.data)
        core.stepCount.add(UInt64(session.batchCount), ordering: .relaxed)
        let ended = session.stepBatch()
        // An auto-reset cut short (the instance is marked failed): the step is not answered.
        if work.isCancelled, session.failure != nil {
            throw RequestFailure(.cancelled, "an instance's auto-reset was cut short: the session needs a reset")
        }
        let f = out.beginFrame(kind: MessageKind.step.rawValue, flags: .response, id: frame.header.id, meta: [])
        let at = session.appendStepData(ended: ended, into: &out)
        out.endFrame(f)
        let size = out.count - at
        session.publishStep(replyData: UnsafeRawBufferPointer(rebasing: out.bytes[at..<(at + size)]))
    }

    // MARK: Observers

    private func observe(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        guard let session = core.session(r.session) else { throw RequestFailure(.unknownSession, "no open session \(r.session)") }
        if observing[r.session] != nil { throw RequestFailure(.badRequest, "this connection already observes session \(r.session)") }
        let subscription = Subscription(connection: self, requestID: frame.header.id)
        if session.owner === self {
            // Our own session: nothing runs on it meanwhile, answer at once.
            guard session.requestSubscription(subscription) else { throw RequestFailure(.unknownSession, "session \(r.session) closed") }
            session.serviceSubscriptions()
        } else {
            // The owner answers between two of its steps (a consistent snapshot).
            guard session.requestSubscription(subscription) else { throw RequestFailure(.unknownSession, "session \(r.session) closed") }
            // While waiting, answer subscriptions to our own sessions: two connections observing
            // each other's sessions at the same moment must not wait for each other.
            var waited = 0
            while subscription.answered.wait(timeout: DispatchTime.now() + .milliseconds(1)) == .timedOut {
                for s in sessions.values { s.serviceSubscriptions() }
                waited += 1
                if work.isCancelled {
                    session.links.withLock { l in l.pending.removeAll { $0 === subscription } }
                    throw RequestFailure(.cancelled, "the session's owner did not answer: not observing session \(r.session)")
                }
                if waited > 30_000 {
                    session.links.withLock { l in l.pending.removeAll { $0 === subscription } }
                    throw RequestFailure(.internal, "the session's owner did not answer within 30 s")
                }
            }
        }
        guard let bytes = subscription.reply else { throw RequestFailure(.unknownSession, "session \(r.session) closed") }
        observing[r.session] = (session, frame.header.id)
        bytes.withUnsafeBytes { out.append($0) }
    }
}

/// Metadata that must be empty ({}).
struct EmptyMeta: Codable {}
