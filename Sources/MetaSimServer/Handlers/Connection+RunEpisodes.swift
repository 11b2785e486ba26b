import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

extension Connection {
    /// `run_episodes` (1.1): the bound policy runs the session's worlds for whole episodes, streaming steps and episodes.
    /// A recurrent policy runs them as one trial from the session's state, carried across them
    /// (the run's first reset is an episode end for it), and leaves the session with its state.
    func runEpisodes(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(RunEpisodesRequest.self, frame, keys: RunEpisodesRequest.keys)
        if externals[r.session] != nil {
            throw RequestFailure(.badRequest, "session \(r.session) is external: the client runs its world (act and record)")
        }
        let session = try ownedSession(r.session)
        guard session.binding != nil else {
            throw RequestFailure(.noPolicy, "session \(session.id) has no policy: adapt it first (adapt with 'policy', 'steps': 0 only takes the policy)")
        }
        let config = core.configuration
        let target = r.episodes ?? session.batchCount
        guard (1...config.maxRunEpisodes).contains(target) else {
            throw RequestFailure(beyond: .maxRunEpisodes, exceeded: target >= 1, "episodes: \(target) is not in 1...\(config.maxRunEpisodes)")
        }
        let decimation = r.decimation ?? 1
        guard decimation >= 0 else { throw RequestFailure(.badRequest, "decimation: \(decimation) is negative") }
        let deterministic = r.deterministic ?? true
        let seed = r.seed ?? session.seed
        try session.reset(instances: nil, seeds: nil, seed: seed)
        session.publish(event: "reset")
        var binding = try PolicyHost.simulated(session).takeBinding()
        defer { session.binding = binding }
        binding.rng = PolicyBinding.generator(seed: r.policySeed ?? seed)
        let batch = session.batch
        let autoReset = batch.autoReset
        batch.autoReset = true
        defer { batch.autoReset = autoReset }
        // Every instance ends an episode within the horizon (a world without one: 100,000 steps).
        let horizon = batch.program.resolved.episode.horizon > 0 ? batch.program.resolved.episode.horizon : 100_000
        let maxSteps = (target + batch.count - 1) / batch.count * horizon + horizon
        let stepMeta = MetaCoding.encode(RunEvent(event: "step", session: session.id))
        var reply = RunEpisodesReply(session: session.id, instances: [], returns: [], lengths: [], meanReturn: 0, steps: 0)
        session.beginActivity("running episodes")
        defer { session.endActivity() }
        var hangUp = [pollfd(fd: fd, events: Self.peerHangUp, revents: 0)]
        var t = 0
        while reply.returns.count < target, t < maxSteps {
            binding.act(batch: batch, deterministic: deterministic)
            // A world is never stepped with what no client could send: a policy whose parameters
            // or restored state (finite, but extreme) give a non-finite action stops the run.
            if let k = batch.actions.firstIndex(where: { !$0.isFinite }) {
                throw RequestFailure(.badAction, "the policy's action for instance \(k / batch.actionCount) is not finite "
                                     + "(its parameters or its restored state are out of range): run_episodes stopped after "
                                     + "\(reply.returns.count) episodes, not stepped")
            }
            let ended = session.stepBatch()
            // The binding is out of the session during the run: it notes its own steps.
            binding.noteStep(batch: batch)
            t += 1
            core.stepCount.add(UInt64(batch.count), ordering: .relaxed)
            if work.isCancelled {
                let state = session.failure == nil ? "the session is mid-run" : "the session needs a reset"
                throw RequestFailure(.cancelled, "run_episodes stopped after \(reply.returns.count) episodes (\(t) steps): \(state)")
            }
            if let failure = session.failure { throw RequestFailure(.worldFailed, "\(failure) (reset the session)") }
            let due = decimation > 0 && t % decimation == 0
            if due {
                let f = out.beginFrame(kind: MessageKind.runEpisodes.rawValue, flags: .event, id: frame.header.id, meta: stepMeta)
                let at = session.appendStepData(ended: ended, into: &out)
                let size = out.count - at
                session.appendActions(into: &out)
                out.endFrame(f)
                session.publishStep(replyData: UnsafeRawBufferPointer(rebasing: out.bytes[at..<(at + size)]))
            } else if session.hasObservers {
                var w = FrameWriter(capacity: 4096)
                let at = session.appendStepData(ended: ended, into: &w)
                session.publishStep(replyData: UnsafeRawBufferPointer(rebasing: w.bytes[at...]))
            }
            for k in 0..<ended where reply.returns.count < target {
                let i = Int(session.endedScratch[k])
                let event = RunEvent(event: "episode", session: session.id, step: t, instance: i, index: reply.returns.count,
                                     return: batch.finishedReturns[i], length: Int(batch.finishedLengths[i]),
                                     terminated: batch.terminated[i] != 0)
                session.noteEpisode(index: reply.returns.count, return: batch.finishedReturns[i])
                reply.instances.append(i)
                reply.returns.append(batch.finishedReturns[i])
                reply.lengths.append(Int(batch.finishedLengths[i]))
                let f = out.beginFrame(kind: MessageKind.runEpisodes.rawValue, flags: .event, id: frame.header.id, meta: MetaCoding.encode(event))
                out.endFrame(f)
            }
            if due || out.count > 1 << 18 {
                guard flush() else { throw RequestFailure(.cancelled, "the client went away during run_episodes", fatal: true) }
            }
            if t & 63 == 0 {
                if draining.load(ordering: .acquiring) {
                    throw RequestFailure(.cancelled, "the server is shutting down: run_episodes stopped after \(reply.returns.count) episodes")
                }
                hangUp[0].revents = 0
                if Socket.poll(&hangUp, timeout: 0) > 0, hangUp[0].revents & (Self.peerHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                    throw RequestFailure(.cancelled, "the client went away during run_episodes", fatal: true)
                }
            }
        }
        reply.steps = t
        reply.meanReturn = reply.returns.isEmpty ? 0 : reply.returns.reduce(0, +) / Double(reply.returns.count)
        self.reply(.runEpisodes, id: frame.header.id, reply)
    }
}
