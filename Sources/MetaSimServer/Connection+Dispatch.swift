import MetaSimProtocol

/// Dispatch: a request's frame checked (flags, id, handshake, version), handed to the handler of
/// its kind, and its failure, if any, answered as an error response. Replies are built in `out`, in
/// the order the requests came.
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

    func requireEmptyMeta(_ frame: FrameView) throws(RequestFailure) {
        _ = try meta(EmptyMeta.self, frame, keys: [])
    }

    /// The handler of each request kind, one line each: Handlers/Connection+<Kind>.swift. Each
    /// answers into `out` or throws its failure, which `handle` answers; the switch is
    /// exhaustive, so a new `MessageKind` needs its line here.
    private func dispatch(_ kind: MessageKind, _ frame: FrameView) throws(RequestFailure) {
        switch kind {
        case .hello: try hello(frame)
        case .ping: try ping(frame)
        case .status: try status(frame)
        case .listWorlds: try listWorlds(frame)
        case .open: try open(frame)
        case .reset: try reset(frame)
        case .step: try step(frame)
        case .setTask: try setTask(frame)
        case .close: try closeRequest(frame)
        case .observe: try observe(frame)
        case .unobserve: try unobserve(frame)
        case .listPolicies: try listPolicies(frame)
        case .adapt: try adapt(frame)
        case .act: try act(frame)
        case .runEpisodes: try runEpisodes(frame)
        case .openExternal: try openExternal(frame)
        case .record: try record(frame)
        case .savePolicy: try savePolicy(frame)
        case .render: try render(frame)
        case .policyState: try policyState(frame)
        case .resetPolicyState: try resetPolicyState(frame)
        case .savePolicyState: try savePolicyState(frame)
        case .restorePolicyState: try restorePolicyState(frame)
        }
    }

    // MARK: Replies

    func reply(_ kind: MessageKind, id: UInt32, meta: [UInt8], data: UnsafeRawBufferPointer? = nil) {
        let f = out.beginFrame(kind: kind.rawValue, flags: .response, id: id, meta: meta)
        if let data { out.append(data) }
        out.endFrame(f)
    }

    func reply<T: Encodable>(_ kind: MessageKind, id: UInt32, _ meta: T, data: UnsafeRawBufferPointer? = nil) {
        reply(kind, id: id, meta: MetaCoding.encode(meta), data: data)
    }

    func replyError(kind: UInt16, id: UInt32, _ failure: RequestFailure) {
        core.stats.countError(failure.code, limit: failure.limit)
        let f = out.beginFrame(kind: kind, flags: [.response, .error], id: id, meta: MetaCoding.encode(failure.reply))
        out.endFrame(f)
    }
}

/// Metadata that must be empty ({}).
struct EmptyMeta: Codable {}
