import Logging
import MetaSimCore
import MetaSimProtocol
import NIOCore

extension ConnectionHandler {
    /// Answers one request. Returns a future when the answer waits on a worker thread (the
    /// queue pauses until it completes); the reply has been written either way.
    func handle(_ frame: InboundFrame) -> EventLoopFuture<Void>? {
        let h = frame.header
        let kindCode = h.kind
        do {
            if h.metaLength == UInt32.max {
                throw RequestFailure(.badFrame, "the metadata length runs past the end of the frame")
            }
            if !h.flags.isEmpty {
                throw RequestFailure(.badFrame, "a request carries no flags (got 0x\(String(h.flags.rawValue, radix: 16)))")
            }
            if h.id == 0 { throw RequestFailure(.badRequest, "request ids start at 1 (0 is reserved)") }
            guard let kind = MessageKind(rawValue: kindCode) else {
                throw RequestFailure(.unknownKind, "unknown request kind \(kindCode)")
            }
            if !greeted, kind != .hello {
                throw RequestFailure(.handshakeRequired, "the first request must be hello")
            }
            if frame.afterDrain, kind != .close {
                throw RequestFailure(.shuttingDown, "the server is shutting down")
            }
            return try dispatch(kind, frame)
        } catch let failure as RequestFailure {
            sendError(kind: kindCode, id: h.id, failure)
        } catch {
            sendError(kind: kindCode, id: h.id, RequestFailure(.internal, "\(error)"))
        }
        return nil
    }

    private func meta<T: Decodable>(_ type: T.Type, _ frame: InboundFrame, keys: Set<String>) throws(RequestFailure) -> T {
        do {
            return try frame.meta.withUnsafeReadableBytes { p throws(MetaCoding.DecodeError) in
                try MetaCoding.decode(type, from: p, keys: keys)
            }
        } catch {
            throw RequestFailure(.badRequest, error.message)
        }
    }

    private func ownedSession(_ id: UInt32) throws(RequestFailure) -> Session {
        if let s = sessions[id] { return s }
        if core.session(id) != nil { throw RequestFailure(.notOwner, "session \(id) belongs to another connection") }
        throw RequestFailure(.unknownSession, "no open session \(id)")
    }

    private func dispatch(_ kind: MessageKind, _ frame: InboundFrame) throws(RequestFailure) -> EventLoopFuture<Void>? {
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
            if let client = hello.client { logger[metadataKey: "client"] = "\(client)" }
            let agreed = ProtocolVersion(major: mine.major, minor: min(mine.minor, hello.protocol.minor))
            send(.hello, id: id, HelloReply(protocol: agreed, server: MetaSimServer.version,
                                            capabilities: MetaSimServer.capabilities, limits: core.limits))
        case .ping:
            try requireEmptyMeta(frame)
            frame.data.withUnsafeReadableBytes { send(.ping, id: id, meta: [], data: $0) }
        case .status:
            try requireEmptyMeta(frame)
            send(.status, id: id, core.status())
        case .listWorlds:
            try requireEmptyMeta(frame)
            send(.listWorlds, id: id, ListWorldsReply(worlds: core.directory.ordered))
        case .open:
            return try open(frame)
        case .reset:
            let r = try meta(ResetRequest.self, frame, keys: ResetRequest.keys)
            let session = try ownedSession(r.session)
            try session.reset(instances: r.instances, seeds: r.seeds, seed: r.seed)
            session.withObservationBytes { send(.reset, id: id, SessionRequest(session: session.id), data: $0) }
            session.publish(event: "reset")
        case .step:
            return try step(frame)
        case .setTask:
            return try setTask(frame)
        case .close:
            let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
            let session = try ownedSession(r.session)
            sessions.removeValue(forKey: session.id)
            closeSession(session)
            send(.close, id: id, r)
        case .observe:
            return try observe(frame)
        case .unobserve:
            let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
            guard let entry = observing.removeValue(forKey: r.session) else {
                throw RequestFailure(.unknownSession, "this connection does not observe session \(r.session)")
            }
            let channel = context.channel
            let session = entry.session
            session.eventLoop.execute { session.removeObserver(channel: channel, final: entry.requestID) }
            send(.unobserve, id: id, r)
        }
        return nil
    }

    private func requireEmptyMeta(_ frame: InboundFrame) throws(RequestFailure) {
        _ = try meta(EmptyMeta.self, frame, keys: [])
    }

    // MARK: Open and set_task (world building runs on a worker thread)

    private func open(_ frame: InboundFrame) throws(RequestFailure) -> EventLoopFuture<Void>? {
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
        guard sessions.count < config.maxSessionsPerConnection else {
            throw RequestFailure(.limitExceeded, "this connection already has \(sessions.count) sessions (the limit)")
        }
        let name: String
        let source: WorldSource
        switch (r.world, r.yaml) {
        case (let world?, nil):
            guard let entry = core.directory.entries[world] else {
                let known = core.directory.ordered.map(\.name).joined(separator: ", ")
                throw RequestFailure(.unknownWorld, "no world named '\(world)' in the catalog (known: \(known))")
            }
            name = world
            source = .catalog(entry.definition)
        case (nil, let yaml?):
            let file = r.file ?? "<inline>"
            name = file
            source = .inline(yaml, file: file)
        case (nil, nil): throw RequestFailure(.badRequest, "open needs 'world' (a catalog name) or 'yaml' (a world file's text)")
        case (_?, _?): throw RequestFailure(.badRequest, "give either 'world' or 'yaml', not both")
        }
        if r.file != nil, r.yaml == nil { throw RequestFailure(.badRequest, "'file' names inline yaml; it needs 'yaml'") }
        let sessionID = core.allocateSessionID()
        let observerCount = core.observerCount
        let loop = context.eventLoop
        let allocator = context.channel.allocator
        let requestID = frame.header.id
        let future = core.threadPool.runIfActive(eventLoop: loop) { () throws -> Session in
            let definition = try source.definition()
            let task = try Self.task(definition, seed: r.taskSeed, params: r.params ?? [:])
            do throws(WorldError) {
                return try Session(id: sessionID, eventLoop: loop, observerCount: observerCount, worldName: name, definition: definition, task: task,
                                   count: count, threads: threads, seed: r.seed ?? 0, autoReset: r.autoReset ?? true,
                                   allocator: allocator)
            } catch {
                throw Self.failure(error)
            }
        }
        return future.hop(to: loop).assumeIsolated().map { session -> Void in
            guard !self.closed else { return }
            self.sessions[session.id] = session
            self.core.register(session)
            self.logger.debug("session \(session.id) opened: \(name) × \(count)")
            session.withObservationBytes { self.send(.open, id: requestID, session.reply, data: $0) }
        }.flatMapErrorThrowing { error in
            self.sendError(kind: MessageKind.open.rawValue, id: requestID, error as? RequestFailure ?? RequestFailure(.internal, "\(error)"))
        }.nonisolated()
    }

    private func setTask(_ frame: InboundFrame) throws(RequestFailure) -> EventLoopFuture<Void>? {
        let r = try meta(SetTaskRequest.self, frame, keys: SetTaskRequest.keys)
        let session = try ownedSession(r.session)
        let task = try Self.task(session.definition, seed: r.taskSeed, params: r.params ?? [:])
        let loop = context.eventLoop
        let requestID = frame.header.id
        let seed = r.seed ?? session.seed
        let future = core.threadPool.runIfActive(eventLoop: loop) { () throws -> Void in
            do throws(WorldError) { try session.setTask(task, seed: seed) } catch { throw Self.failure(error) }
        }
        return future.hop(to: loop).assumeIsolated().map { () -> Void in
            session.withObservationBytes { self.send(.setTask, id: requestID, session.reply, data: $0) }
            session.publish(event: "task")
        }.flatMapErrorThrowing { error in
            self.sendError(kind: MessageKind.setTask.rawValue, id: requestID, error as? RequestFailure ?? RequestFailure(.internal, "\(error)"))
        }.nonisolated()
    }

    static func task(_ d: WorldDefinition, seed: UInt64?, params: [String: Double]) throws(RequestFailure) -> Task {
        do {
            if let seed { return try d.sampleTask(seed: seed, overrides: params) }
            return try d.nominalTask(overrides: params)
        } catch {
            throw failure(error)
        }
    }

    static func failure(_ error: WorldError) -> RequestFailure {
        switch error {
        case .invalid(let diagnostics):
            return RequestFailure(.invalidWorld, diagnostics.first?.description ?? "invalid world",
                                  diagnostics: diagnostics.map(\.description))
        case .notFound: return RequestFailure(.unknownWorld, error.description)
        case .badParameter: return RequestFailure(.unknownParameter, error.description)
        case .physics(let d): return RequestFailure(.worldFailed, d.description, diagnostics: [d.description])
        }
    }

    // MARK: Step

    private func step(_ frame: InboundFrame) throws(RequestFailure) -> EventLoopFuture<Void>? {
        if frame.header.metaLength != 0 { throw RequestFailure(.badRequest, "step metadata must be empty") }
        guard let sessionID = frame.data.getInteger(at: frame.data.readerIndex, endianness: .little, as: UInt32.self) else {
            throw RequestFailure(.badShape, "step data of \(frame.data.readableBytes) bytes is shorter than its 16-byte header")
        }
        let session = try ownedSession(sessionID)
        try frame.data.withUnsafeReadableBytes { p throws(RequestFailure) in try session.loadActions(p) }
        let requestID = frame.header.id
        core.stepCount.add(UInt64(session.batchCount), ordering: .relaxed)
        if session.lastStepNanos <= UInt64(core.configuration.inlineStepLimit.nanoseconds) {
            session.stepAndEncode(requestID: requestID)
            writeBuffer(session.replyBuffer)
            session.publishStep()
            return nil
        }
        let loop = context.eventLoop
        return core.threadPool.runIfActive(eventLoop: loop) {
            session.stepAndEncode(requestID: requestID)
        }.hop(to: loop).assumeIsolated().map { () -> Void in
            guard !self.closed else { return }
            self.writeBuffer(session.replyBuffer)
            session.publishStep()
        }.nonisolated()
    }

    // MARK: Observers

    private func observe(_ frame: InboundFrame) throws(RequestFailure) -> EventLoopFuture<Void>? {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        guard let session = core.session(r.session) else { throw RequestFailure(.unknownSession, "no open session \(r.session)") }
        if observing[r.session] != nil { throw RequestFailure(.badRequest, "this connection already observes session \(r.session)") }
        let requestID = frame.header.id
        let channel = context.channel
        observing[r.session] = (session, requestID)
        // The session lives on its owner's event loop: subscribe and reply from there, so the
        // reply reaches the observer before any event of the subscription.
        return session.eventLoop.submit { () -> Bool in
            session.addObserver(channel: channel, requestID: requestID)
        }.hop(to: context.eventLoop).assumeIsolated().map { subscribed -> Void in
            if !subscribed, !self.closed {
                self.observing.removeValue(forKey: r.session)
                self.sendError(kind: MessageKind.observe.rawValue, id: requestID,
                               RequestFailure(.unknownSession, "session \(r.session) closed"))
            }
        }.nonisolated()
    }
}

/// Where an open request's world comes from.
enum WorldSource: Sendable {
    case catalog(WorldDefinition)
    case inline(String, file: String)

    func definition() throws(RequestFailure) -> WorldDefinition {
        switch self {
        case .catalog(let d): return d
        case .inline(let text, let file):
            do { return try WorldDefinition.parse(text, file: file) } catch { throw ConnectionHandler.failure(error) }
        }
    }
}

/// Metadata that must be empty ({}).
struct EmptyMeta: Codable {}
