import MetaSimProtocol

extension Connection {
    /// `act` (1.1): the bound policy's actions for the observations sent. A recurrent policy takes
    /// one row per instance and steps each instance's state.
    func act(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(ActRequest.self, frame, keys: ActRequest.keys)
        let host = try policyHost(r.session)
        guard host.binding != nil else {
            throw RequestFailure(.noPolicy, "session \(r.session) has no policy: adapt it first (adapt with 'policy', 'steps': 0 only takes the policy)")
        }
        let o = host.specs.observation.count
        let data = frame.data
        guard data.count > 0, data.count % (4 * o) == 0 else {
            throw RequestFailure(.badShape, "act data is \(data.count) bytes: expected a positive multiple of \(4 * o) (\(o) float32 observations per row)")
        }
        let count = data.count / (4 * o)
        if host.binding?.recurrent != nil, count != host.rows {
            throw RequestFailure(.badShape, "act for \(count) observations: session \(r.session)'s policy is recurrent and keeps a state for each of its \(host.rows) instances: send one row per instance (\(4 * o * host.rows) bytes)")
        }
        guard count <= core.configuration.maxBatch else {
            throw RequestFailure(limit: .maxBatch, "act for \(count) observations; at most \(core.configuration.maxBatch) per request")
        }
        for k in 0..<(count * o) where !data.loadUnaligned(fromByteOffset: 4 * k, as: Float.self).isFinite {
            throw RequestFailure(.badRequest, "observation row \(k / o), '\(host.specs.observation.entries[k % o])' is not finite")
        }
        var binding = try host.takeBinding()
        defer { host.binding = binding }
        if let seed = r.seed { binding.rng = PolicyBinding.generator(seed: seed) }
        let f = out.beginFrame(kind: MessageKind.act.rawValue, flags: .response, id: frame.header.id, meta: [])
        let size = 4 * count * binding.actionWidth
        let at = out.appendZeros(size)
        binding.act(observations: data, count: count, deterministic: r.deterministic ?? true, into: out.region(at, size))
        out.endFrame(f)
    }
}
