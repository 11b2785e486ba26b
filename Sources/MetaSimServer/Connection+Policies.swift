import Foundation
import MetaLearning
import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Protocol 1.1: the meta-policy requests (docs/protocol.md, "Policies").
extension Connection {
    /// A session a policy can be bound to: simulated (the daemon runs the world) or external.
    enum PolicyHost {
        case simulated(Session)
        case external(ExternalSession)

        var id: UInt32 {
            switch self {
            case .simulated(let s): s.id
            case .external(let e): e.id
            }
        }

        var binding: PolicyBinding? {
            get {
                switch self {
                case .simulated(let s): s.binding
                case .external(let e): e.binding
                }
            }
            nonmutating set {
                switch self {
                case .simulated(let s): s.binding = newValue
                case .external(let e): e.binding = newValue
                }
            }
        }

        var definition: WorldDefinition {
            switch self {
            case .simulated(let s): s.definition
            case .external(let e): e.definition
            }
        }

        var specs: WorldSpecs {
            switch self {
            case .simulated(let s): s.batch.specs
            case .external(let e): e.specs
            }
        }

        /// The binding, taken out (so that it is the only reference while it is changed).
        func takeBinding() throws(RequestFailure) -> PolicyBinding {
            guard let b = binding else {
                throw RequestFailure(.noPolicy, "session \(id) has no policy: adapt it first (adapt with 'policy', 'steps': 0 only takes the policy)")
            }
            binding = nil
            return b
        }
    }

    func policyHost(_ id: UInt32) throws(RequestFailure) -> PolicyHost {
        if let e = externals[id] { return .external(e) }
        return .simulated(try ownedSession(id))
    }

    /// A policy of the catalog, checked against a world: its family, observation and action specs.
    func takePolicy(_ name: String, for host: PolicyHost) throws(RequestFailure) -> PolicyBinding {
        let catalog = core.policies
        guard let entry = catalog.entries[name] else {
            let served = catalog.entries.keys.sorted().joined(separator: ", ")
            throw RequestFailure(.unknownPolicy, "no policy named '\(name)' (served: \(served.isEmpty ? "none" : served))")
        }
        do {
            if let warning = try entry.checkpoint.check(against: host.definition, specs: host.specs, path: entry.path) {
                logger.info("\(warning)")
            }
        } catch {
            throw RequestFailure(.policyMismatch, "policy '\(name)' does not fit session \(host.id) (\(host.definition.name)): \(error.description)")
        }
        return PolicyBinding(entry: entry)
    }

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
            throw RequestFailure(steps < 0 ? .badRequest : .limitExceeded, "steps: \(steps) is not in 0...\(config.maxAdaptSteps)")
        }
        let episodes = r.episodes ?? entry.inner.episodes
        guard (1...config.maxAdaptEpisodes).contains(episodes) else {
            throw RequestFailure(episodes < 1 ? .badRequest : .limitExceeded, "episodes: \(episodes) is not in 1...\(config.maxAdaptEpisodes)")
        }
        let threads = r.threads ?? session.threads
        guard (1...config.maxThreadsPerSession).contains(threads) else {
            throw RequestFailure(threads < 1 ? .badRequest : .limitExceeded, "threads: \(threads) is not in 1...\(config.maxThreadsPerSession)")
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
            let adapter = Adapter(math: binding.math, sampler: Sampler(program: session.batch.program, threads: threads), inner: inner,
                                  learningRates: binding.learningRates(override: r.learningRate), scales: binding.rateScales)
            // A Q-network (meta-Q-learning) adapts by Q-learning (episodes on `threads`, updates on
            // one); learning_rate is its Adam rate.
            var q = entry.checkpoint.policy.qLearning
            if let lr = r.learningRate { q?.learningRate = lr }
            let learner = q.map { QLearner(math: binding.math, program: session.batch.program, inner: inner, q: $0, threads: threads) }
            let start = binding.parameters, seed = r.seed ?? 0, sessionID = session.id, core = self.core
            let outcome = try runAdaptation(requestID: frame.header.id) { job, wake in
                do throws(WorldError) {
                    let report: (Int, Episodes) -> Void = { k, e in
                        job.report(AdaptProgress(session: sessionID, step: k, steps: steps, episodes: k * episodes, meanReturn: e.meanReturn))
                        wake()
                    }
                    let a: Adaptation
                    if let learner {
                        a = try learner.run(from: start, seed: seed, evaluateFinal: evaluate, cancel: job.cancel, progress: report)
                    } else {
                        a = try adapter.run(from: start, seed: seed, evaluateFinal: evaluate, cancel: job.cancel, progress: report)
                    }
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
        if binding.entry.checkpoint.policy.qLearning != nil {
            throw RequestFailure(.badRequest, "policy '\(binding.entry.name)' is a Q-network (meta-Q-learning): it adapts by Q-learning on a session the server steps (open one on the world), not on recorded episodes")
        }
        guard steps == 1 else {
            reply(.adapt, id: requestID, AdaptReply(session: e.id, policy: binding.entry.name, adaptedSteps: binding.adaptedSteps,
                                                   returns: [], episodesPerStep: 0, seconds: started.secondsAgo))
            return
        }
        guard let episodes = e.recordedEpisodes() else {
            throw RequestFailure(.noExperience, "session \(e.id) has no complete episode recorded since its last adapt (record until an episode ends)")
        }
        let math = binding.math, inner = binding.entry.inner, start = binding.parameters
        let alpha = binding.learningRates(override: r.learningRate)[0], scales = binding.rateScales, sessionID = e.id
        let outcome = try runAdaptation(requestID: requestID) { job, wake in
            var theta = start
            guard Adapter.update(&theta, episodes: episodes, math: math, inner: inner, learningRate: alpha, scales: scales,
                                 cancel: job.cancel) != nil else {
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

    /// `POLLRDHUP` (Linux): the peer closed its end.
    private static let peerHangUp = Int16(0x2000)

    /// Runs an adaptation on a worker thread and waits for it, forwarding its progress events. The
    /// client going away cancels it (and closes the connection); a drain cancels it too.
    func runAdaptation(requestID: UInt32,
                       _ work: @escaping @Sendable (AdaptationJob, @escaping @Sendable () -> Void) -> Result<AdaptOutcome, RequestFailure>) throws(RequestFailure) -> AdaptOutcome {
        let wake: @Sendable () -> Void = { [weak self] in self?.wake() }
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

    // MARK: act

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
        guard count <= core.configuration.maxBatch else {
            throw RequestFailure(.limitExceeded, "act for \(count) observations; at most \(core.configuration.maxBatch) per request")
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

    // MARK: run_episodes

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
            throw RequestFailure(target < 1 ? .badRequest : .limitExceeded, "episodes: \(target) is not in 1...\(config.maxRunEpisodes)")
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
        var hangUp = [pollfd(fd: fd, events: Self.peerHangUp, revents: 0)]
        var t = 0
        while reply.returns.count < target, t < maxSteps {
            binding.act(batch: batch, deterministic: deterministic)
            let ended = session.stepBatch()
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

    // MARK: External sessions

    func openExternal(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(OpenExternalRequest.self, frame, keys: OpenExternalRequest.keys)
        let config = core.configuration
        let count = r.batch ?? 1
        guard (1...config.maxBatch).contains(count) else {
            throw RequestFailure(count < 1 ? .badRequest : .limitExceeded, "batch: \(count) is not in 1...\(config.maxBatch)")
        }
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

    func record(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SessionRequest.self, frame, keys: SessionRequest.keys)
        guard let e = externals[r.session] else {
            if sessions[r.session] != nil {
                throw RequestFailure(.badRequest, "session \(r.session) is simulated: the daemon records its own episodes (adapt)")
            }
            _ = try ownedSession(r.session)
            return
        }
        guard e.binding != nil else {
            throw RequestFailure(.noPolicy, "session \(e.id) has no policy: take one first (adapt with 'policy'); the recorded actions must be its actions")
        }
        try e.record(frame.data, limit: core.configuration.maxRecordedTransitions)
        reply(.record, id: frame.header.id, e.recordReply)
    }

    // MARK: save_policy

    func savePolicy(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SavePolicyRequest.self, frame, keys: SavePolicyRequest.keys)
        let host = try policyHost(r.session)
        guard let binding = host.binding else {
            throw RequestFailure(.noPolicy, "session \(r.session) has no policy to save: adapt it first")
        }
        guard PolicyCatalog.isValidName(r.name) else {
            throw RequestFailure(.badRequest, "name: '\(r.name)' is not a policy name (up to 100 letters, digits, '.', '_', '-'; not starting with '.')")
        }
        var checkpoint = binding.entry.checkpoint
        checkpoint.policy = binding.policy
        if case .simulated(let s) = host { checkpoint.metadata.adaptedTaskSeed = s.task.seed }
        let bytes = checkpoint.encoded()
        // One save at a time (server-wide): the checks, the write and the catalog update.
        let (path, info) = try core.saving.withLock { _ throws(RequestFailure) -> (String, PolicyInfo) in
            try writeSavedPolicy(name: r.name, overwrite: r.overwrite == true, bytes: bytes, checkpoint: checkpoint)
        }
        logger.info("policy saved: \(path)")
        reply(.savePolicy, id: frame.header.id, SavePolicyReply(policy: info, file: path))
    }

    /// `save_policy`'s checks and write, under `core.saving`.
    private func writeSavedPolicy(name: String, overwrite: Bool, bytes: [UInt8], checkpoint: Checkpoint) throws(RequestFailure) -> (String, PolicyInfo) {
        let config = core.configuration
        let catalog = core.policies
        guard let folder = config.savedPoliciesRoot else {
            throw RequestFailure(.saveFailed, "the daemon has no saved-policies folder (saved_policies)")
        }
        let file = name + PolicyCatalog.fileExtension
        // Configured policies are read-only to clients, even with overwrite (and rejected ones:
        // their file is still the operator's).
        if catalog.entries[name].map({ !$0.saved }) ?? false
            || config.policiesRoot.map({ FileManager.default.fileExists(atPath: $0 + "/" + file) }) ?? false {
            throw RequestFailure(.policyExists, "policy '\(name)' is a configured policy (the policies folder): clients cannot overwrite it; save under another name")
        }
        let path = folder + "/" + file
        var st = stat()
        let exists = lstat(path, &st) == 0
        if exists, !overwrite {
            throw RequestFailure(.policyExists, "policy '\(name)' exists (\(path)); save with 'overwrite': true to replace it")
        }
        if exists, (st.st_mode & S_IFMT) != S_IFREG, (st.st_mode & S_IFMT) != S_IFLNK {
            throw RequestFailure(.saveFailed, "\(path) is not a regular file: not replaced")
        }
        // The quota: what the folder holds, with this file replaced.
        let (count, total) = Self.savedUsage(folder)
        let replaced = exists && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
        let newCount = count + (exists ? 0 : 1), newTotal = total - replaced + bytes.count
        guard newCount <= config.maxSavedPolicies else {
            throw RequestFailure(.limitExceeded, config.maxSavedPolicies == 0
                ? "saving policies is off on this daemon (limits.max_saved_policies: 0)"
                : "the saved-policies folder holds \(count) policies, at most \(config.maxSavedPolicies) (limits.max_saved_policies): overwrite one instead")
        }
        guard newTotal <= config.maxSavedPolicyBytes else {
            throw RequestFailure(.limitExceeded, "saving \(bytes.count) bytes would bring the saved-policies folder to \(newTotal) bytes, at most \(config.maxSavedPolicyBytes) (limits.max_saved_policy_bytes)")
        }
        if mkdir(folder, 0o750) != 0, errno != EEXIST {
            throw RequestFailure(.saveFailed, "\(folder): cannot create the saved-policies folder: \(String(cString: strerror(errno)))")
        }
        do { try AtomicFile.write(bytes, to: path, mode: 0o640) } catch {
            throw RequestFailure(.saveFailed, error.description)
        }
        core.addPolicy(name: name, path: path, checkpoint: checkpoint, folder: folder)
        let info = core.policies.entries[name]?.info ?? PolicyCatalog.entry(name: name, path: path, checkpoint: checkpoint, saved: true).info
        return (path, info)
    }

    /// The checkpoints of the saved-policies folder: how many, and their bytes.
    static func savedUsage(_ folder: String) -> (count: Int, bytes: Int) {
        var count = 0, bytes = 0
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where file.hasSuffix(PolicyCatalog.fileExtension) && !file.hasPrefix(".") {
            var st = stat()
            guard lstat(folder + "/" + file, &st) == 0 else { continue }
            count += 1
            if (st.st_mode & S_IFMT) == S_IFREG { bytes += Int(st.st_size) }
        }
        return (count, bytes)
    }
}
