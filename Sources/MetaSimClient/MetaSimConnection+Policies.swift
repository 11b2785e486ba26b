import MetaSimProtocol

/// Protocol 1.1: the meta-policy (docs/protocol.md, "Policies").
extension MetaSimConnection {
    /// The checkpoints the daemon serves, and the files of its policies folder it could not load.
    public func listPolicies() throws(ClientError) -> ListPoliciesReply {
        try request(.listPolicies, meta: EmptyRequest(), as: ListPoliciesReply.self).meta
    }

    /// Sends a request and waits for its response, passing the request's own events to `onEvent`.
    public func streamingRequest<Reply: Decodable>(_ kind: MessageKind, meta: some Encodable,
                                                   data: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                                                   as: Reply.Type, onEvent: (ReceivedFrame) -> Void) throws(ClientError) -> (meta: Reply, data: [UInt8]) {
        let id = makeID()
        try send(kind: kind.rawValue, id: id, meta: MetaCoding.encode(meta), data: data)
        try awaitResponse(id, streaming: true, onEvent: onEvent)
        do {
            return (try MetaCoding.decodeReply(Reply.self, from: lastMeta), Array(lastData))
        } catch {
            throw .protocolViolation("\(kind.name) reply: \(error.message)")
        }
    }

    /// Adapts a session's policy (see `AdaptRequest`); `progress` sees each inner step.
    public func adapt(_ r: AdaptRequest, progress: (AdaptProgress) -> Void = { _ in }) throws(ClientError) -> AdaptReply {
        try streamingRequest(.adapt, meta: r, as: AdaptReply.self) { frame in
            if let p = frame.meta.withUnsafeBytes({ try? MetaCoding.decodeReply(AdaptProgress.self, from: $0) }) { progress(p) }
        }.meta
    }

    /// Actions of a session's policy for `observations` (count × observation size): float32
    /// values, or for a discrete world int32 indices, as raw little-endian bytes.
    public func act(session: UInt32, observations: [Float], deterministic: Bool = true, seed: UInt64? = nil) throws(ClientError) -> [UInt8] {
        var out: [UInt8] = []
        try withBytes(observations) { p throws(ClientError) in
            out = try request(.act, meta: ActRequest(session: session, deterministic: deterministic, seed: seed), data: p,
                              as: EmptyRequest.self).data
        }
        return out
    }

    /// The daemon runs a session's policy for `r.episodes` episodes; `onStep` gets each step
    /// event's data (a step reply followed by the actions), `onEpisode` each episode summary.
    public func runEpisodes(_ r: RunEpisodesRequest, onStep: ([UInt8]) -> Void = { _ in },
                            onEpisode: (RunEvent) -> Void = { _ in }) throws(ClientError) -> RunEpisodesReply {
        try streamingRequest(.runEpisodes, meta: r, as: RunEpisodesReply.self) { frame in
            guard let e = frame.meta.withUnsafeBytes({ try? MetaCoding.decodeReply(RunEvent.self, from: $0) }) else { return }
            if e.event == "step" { onStep(frame.data) } else if e.event == "episode" { onEpisode(e) }
        }.meta
    }

    /// Saves a session's (adapted) policy in the daemon's policies folder.
    public func savePolicy(session: UInt32, name: String, overwrite: Bool = false) throws(ClientError) -> SavePolicyReply {
        try request(.savePolicy, meta: SavePolicyRequest(session: session, name: name, overwrite: overwrite), as: SavePolicyReply.self).meta
    }

    /// Opens an external session: the client runs the world, the daemon acts and adapts.
    public func openExternal(_ r: OpenExternalRequest) throws(ClientError) -> SessionReply {
        try request(.openExternal, meta: r, as: SessionReply.self).meta
    }

    /// Sends one transition per instance of an external session (see docs/protocol.md, "record"):
    /// the actions `act` gave (`discrete`: indices, sent as int32).
    public func record(session: UInt32, rewards: [Double], observations: [Float], actions: [Float], discrete: Bool = false,
                       terminated: [Bool], truncated: [Bool]) throws(ClientError) -> RecordReply {
        var w = FrameWriter(capacity: 64 + 8 * rewards.count + 4 * (observations.count + actions.count) + 2 * rewards.count)
        for r in rewards { w.append(r.bitPattern) }
        for o in observations { w.append(o.bitPattern) }
        for a in actions { if discrete { w.append(Int32(a)) } else { w.append(a.bitPattern) } }
        for t in terminated { w.append(UInt8(t ? 1 : 0)) }
        for t in truncated { w.append(UInt8(t ? 1 : 0)) }
        let bytes = Array(w.bytes)
        var reply: RecordReply?
        try withBytes(bytes) { p throws(ClientError) in
            reply = try request(.record, meta: SessionRequest(session: session), data: p, as: RecordReply.self).meta
        }
        return reply!
    }
}

/// Protocol 1.2: a recurrent policy's state (docs/protocol.md, "Policy state").
extension MetaSimConnection {
    /// The size of a session's policy state and its architecture tag.
    public func policyState(session: UInt32) throws(ClientError) -> PolicyStateReply {
        try request(.policyState, meta: SessionRequest(session: session), as: PolicyStateReply.self).meta
    }

    /// Every instance's policy state back to zero (a trial's start).
    @discardableResult
    public func resetPolicyState(session: UInt32) throws(ClientError) -> PolicyStateReply {
        try request(.resetPolicyState, meta: SessionRequest(session: session), as: PolicyStateReply.self).meta
    }

    /// The session's policy state: its values and the tag a restore needs.
    public func savePolicyState(session: UInt32) throws(ClientError) -> (reply: PolicyStateReply, values: [Double]) {
        let r = try request(.savePolicyState, meta: SessionRequest(session: session), as: PolicyStateReply.self)
        let values = r.data.withUnsafeBytes { p in (0..<(p.count / 8)).map { p.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) } }
        guard values.count == r.meta.values, r.data.count == 8 * values.count else {
            throw .protocolViolation("save_policy_state reply: \(r.data.count) bytes for \(r.meta.values) float64 values")
        }
        return (r.meta, values)
    }

    /// Replaces the session's policy state with one `savePolicyState` gave.
    @discardableResult
    public func restorePolicyState(session: UInt32, values: [Double], architecture: String) throws(ClientError) -> PolicyStateReply {
        var reply: PolicyStateReply?
        try withBytes(values) { p throws(ClientError) in
            reply = try request(.restorePolicyState, meta: RestorePolicyStateRequest(session: session, architecture: architecture, values: values.count),
                                data: p, as: PolicyStateReply.self).meta
        }
        return reply!
    }
}

extension RemoteSession {
    public func adapt(policy: String? = nil, steps: Int? = nil, episodes: Int? = nil, seed: UInt64? = nil, evaluate: Bool? = nil,
                      progress: (AdaptProgress) -> Void = { _ in }) throws(ClientError) -> AdaptReply {
        try connection.adapt(AdaptRequest(session: id, policy: policy, steps: steps, episodes: episodes, seed: seed, evaluate: evaluate),
                             progress: progress)
    }

    /// Float actions of the session's policy (a discrete world's indices as floats).
    public func act(_ observations: [Float], deterministic: Bool = true, seed: UInt64? = nil) throws(ClientError) -> [Float] {
        let bytes = try connection.act(session: id, observations: observations, deterministic: deterministic, seed: seed)
        if info.discreteActions == nil { return floats(bytes) }
        return bytes.withUnsafeBytes { p in (0..<(p.count / 4)).map { Float(p.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) } }
    }
}
