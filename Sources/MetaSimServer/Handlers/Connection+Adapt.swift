import Foundation
import MetaLearning
import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Protocol 1.1: `adapt` (docs/protocol.md, "Policies"), on simulated and external sessions, and the
/// worker thread an adaptation runs on.
extension Connection {
    // MARK: adapt

    func adapt(_ frame: FrameView) throws(RequestFailure) {
        let started = ContinuousClock.now
        let r = try meta(AdaptRequest.self, frame, keys: AdaptRequest.keys)
        let host = try policyHost(r.session)
        if case .external(let e) = host {
            try adaptExternal(e, r, requestID: frame.header.id, started: started)
            return
        }
        guard case .simulated(let session) = host else { return }
        let config = core.configuration
        var binding: PolicyBinding
        if let name = r.policy {
            binding = try takePolicy(name, for: host)
        } else if let b = session.binding {
            binding = b
        } else {
            throw RequestFailure(.noPolicy, "session \(session.id) has no policy: name one ('policy')")
        }
        let entry = binding.entry
        let steps = r.steps ?? entry.inner.steps
        guard (0...config.maxAdaptSteps).contains(steps) else {
            throw RequestFailure(beyond: .maxAdaptSteps, exceeded: steps >= 0, "steps: \(steps) is not in 0...\(config.maxAdaptSteps)")
        }
        let episodes = r.episodes ?? entry.inner.episodes
        guard (1...config.maxAdaptEpisodes).contains(episodes) else {
            throw RequestFailure(beyond: .maxAdaptEpisodes, exceeded: episodes >= 1, "episodes: \(episodes) is not in 1...\(config.maxAdaptEpisodes)")
        }
        let threads = r.threads ?? session.threads
        guard (1...config.maxThreadsPerSession).contains(threads) else {
            throw RequestFailure(beyond: .maxThreadsPerSession, exceeded: threads >= 1, "threads: \(threads) is not in 1...\(config.maxThreadsPerSession)")
        }
        if let lr = r.learningRate, !(lr.isFinite && lr >= 0) {
            throw RequestFailure(.badRequest, "learning_rate: \(lr) is not a finite, non-negative number")
        }
        let evaluate = r.evaluate ?? false
        var returns: [Double] = []
        if steps > 0 || evaluate {
            // Each inner step runs its episodes as one batch of `episodes` instances.
            _ = try Budget.check(session.batch.program, count: episodes, config)
            var inner = entry.inner
            inner.steps = steps
            inner.episodes = episodes
            if let lr = r.learningRate { inner.learningRate = lr }
            // The checkpoint's learner adapts it; learning_rate replaces its rate.
            let runner = AdaptationRunner(checkpoint: entry.checkpoint)
            let request = AdaptationRequest(inner: inner, seed: r.seed ?? 0, threads: threads, evaluateFinal: evaluate,
                                            learningRates: binding.learningRates(override: r.learningRate), learningRate: r.learningRate)
            let program = session.batch.program
            let start = binding.parameters, sessionID = session.id, core = self.core
            session.beginActivity("adapting", adaptSteps: steps)
            defer { session.endActivity() }
            let outcome = try runAdaptation(requestID: frame.header.id) { job, wake in
                do throws(WorldError) {
                    let report: (Int, Episodes) -> Void = { k, e in
                        session.noteAdaptStep(k, episodes: k * episodes, meanReturn: e.meanReturn)
                        job.report(AdaptProgress(session: sessionID, step: k, steps: steps, episodes: k * episodes, meanReturn: e.meanReturn))
                        wake()
                    }
                    let a = try runner.run(on: program, request, from: start, cancel: job.cancel, progress: report)
                    // The adaptation's episodes count in status.steps, as run_episodes' do.
                    core.stepCount.add(UInt64(a.episodes.map(\.stepCount).reduce(0, +)), ordering: .relaxed)
                    return .success(AdaptOutcome(parameters: a.final, steps: steps, returns: a.returns, cancelled: a.cancelled))
                } catch {
                    return .failure(Self.failure(error))
                }
            }
            binding.adapted(to: outcome.parameters, steps: steps)
            returns = outcome.returns
        }
        session.binding = binding
        reply(.adapt, id: frame.header.id, AdaptReply(session: session.id, policy: entry.name, adaptedSteps: binding.adaptedSteps,
                                                      returns: returns, episodesPerStep: episodes, seconds: started.secondsAgo))
    }

    /// External sessions: with `policy`, take it (and forget what was recorded); without, one
    /// inner step on the complete episodes recorded since the last adapt.
    private func adaptExternal(_ e: ExternalSession, _ r: AdaptRequest, requestID: UInt32, started: ContinuousClock.Instant) throws(RequestFailure) {
        if r.episodes != nil || r.seed != nil || r.evaluate != nil || r.threads != nil {
            throw RequestFailure(.badRequest, "an external session adapts from the episodes it recorded: 'episodes', 'seed', 'evaluate' and 'threads' do not apply")
        }
        if let name = r.policy {
            guard (r.steps ?? 0) == 0 else {
                throw RequestFailure(.badRequest, "steps: taking a policy on an external session takes no step (record episodes with it, then adapt)")
            }
            let binding = try takePolicy(name, for: .external(e))
            e.clearRecording()
            e.binding = binding
            reply(.adapt, id: requestID, AdaptReply(session: e.id, policy: name, adaptedSteps: 0, returns: [],
                                                   episodesPerStep: 0, seconds: started.secondsAgo))
            return
        }
        let steps = r.steps ?? 1
        guard steps == 1 || steps == 0 else {
            throw RequestFailure(.badRequest, "steps: an external session takes one step per adapt (on the episodes recorded since the last one)")
        }
        if let lr = r.learningRate, !(lr.isFinite && lr >= 0) {
            throw RequestFailure(.badRequest, "learning_rate: \(lr) is not a finite, non-negative number")
        }
        var binding = try PolicyHost.external(e).takeBinding()
        defer { e.binding = binding }
        let runner = AdaptationRunner(checkpoint: binding.entry.checkpoint)
        if let refusal = runner.recordedEpisodesRefusal {
            throw RequestFailure(.badRequest, "policy '\(binding.entry.name)' \(refusal)")
        }
        guard steps == 1 else {
            reply(.adapt, id: requestID, AdaptReply(session: e.id, policy: binding.entry.name, adaptedSteps: binding.adaptedSteps,
                                                   returns: [], episodesPerStep: 0, seconds: started.secondsAgo))
            return
        }
        guard let episodes = e.recordedEpisodes() else {
            throw RequestFailure(.noExperience, "session \(e.id) has no complete episode recorded since its last adapt (record until an episode ends)")
        }
        let inner = binding.entry.inner, start = binding.parameters
        let alpha = binding.learningRates(override: r.learningRate)[0], sessionID = e.id
        let outcome = try runAdaptation(requestID: requestID) { job, wake in
            var theta = start
            guard runner.learn(&theta, from: episodes, inner: inner, learningRate: alpha, cancel: job.cancel) != nil else {
                return .success(AdaptOutcome(parameters: start, steps: 0, returns: [], cancelled: true))
            }
            job.report(AdaptProgress(session: sessionID, step: 1, steps: 1, episodes: episodes.count, meanReturn: episodes.meanReturn))
            wake()
            return .success(AdaptOutcome(parameters: theta, steps: 1, returns: [episodes.meanReturn], cancelled: false))
        }
        binding.adapted(to: outcome.parameters, steps: 1)
        e.forgetEpisodes(count: episodes.count)
        reply(.adapt, id: requestID, AdaptReply(session: e.id, policy: binding.entry.name, adaptedSteps: binding.adaptedSteps,
                                               returns: outcome.returns, episodesPerStep: episodes.count, seconds: started.secondsAgo))
    }

    /// Runs an adaptation on a worker thread and waits for it, forwarding its progress events. The
    /// client going away cancels it (and closes the connection); a drain cancels it too.
    func runAdaptation(requestID: UInt32,
                       _ work: @escaping @Sendable (AdaptationJob, @escaping @Sendable () -> Void) -> Result<AdaptOutcome, RequestFailure>) throws(RequestFailure) -> AdaptOutcome {
        let wake: @Sendable () -> Void = { [weak self] in self?.wake() }
        let began = ContinuousClock.now
        defer { core.stats.countAdaptation(seconds: began.secondsAgo) }
        let job = AdaptationJob.start(gate: core.adaptations, limit: core.configuration.maxAdaptations, wake: wake) { job in
            work(job, wake)
        }
        var fds = [pollfd(fd: fd, events: Self.peerHangUp, revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        var gone = false
        while true {
            let (progress, outcome) = job.take()
            if !gone, !progress.isEmpty {
                for p in progress {
                    let f = out.beginFrame(kind: MessageKind.adapt.rawValue, flags: .event, id: requestID, meta: MetaCoding.encode(p))
                    out.endFrame(f)
                }
                if !flush() {
                    gone = true
                    job.cancel.cancel()
                }
            }
            if let outcome {
                if gone { throw RequestFailure(.cancelled, "the client went away: adaptation cancelled", fatal: true) }
                if self.work.isCancelled { throw RequestFailure(.cancelled, "adaptation stopped: the session keeps the parameters it had") }
                let o = try outcome.get()
                if o.cancelled { throw RequestFailure(.cancelled, "the server is shutting down: adaptation cancelled") }
                return o
            }
            if draining.load(ordering: .acquiring) || core.draining.load(ordering: .acquiring) || self.work.isCancelled { job.cancel.cancel() }
            fds[0].revents = 0
            fds[1].revents = 0
            _ = Socket.poll(&fds, timeout: 100)
            if fds[1].revents != 0 {
                Socket.drain(wakeFD)
                for s in sessions.values { s.serviceSubscriptions() }
            }
            if fds[0].fd >= 0, fds[0].revents & (Self.peerHangUp | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                logger.info("client went away during an adaptation: cancelling it")
                gone = true
                fds[0].fd = -1
                job.cancel.cancel()
            }
        }
    }
}
