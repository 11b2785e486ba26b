import Foundation
import MetaSimCore
import MetaSimProtocol

/// A read-only view of a running server for monitoring (MetaSimWeb's pages and /metrics).
/// Nothing here changes a session: counters are read, sessions' activity copied under its lock,
/// scenes built on worlds of their own, and pose watchers fed without ever holding up a step.
package struct ServerMonitor: Sendable {
    let core: ServerCore

    package struct Counters: Sendable {
        package var uptimeSeconds: Double
        package var connections: Int
        package var sessions: Int
        package var instances: Int
        package var observers: Int
        package var requests: UInt64
        package var steps: UInt64
        package var worlds: Int
        package var policies: Int
        package var adaptationsRunning: Int
        package var adaptationsWaiting: Int
        package var adaptations: UInt64
        package var deadlinesExceeded: UInt64
        package var requestsCancelled: UInt64
        package var draining: Bool
    }

    package var counters: Counters {
        let s = core.status()
        return Counters(uptimeSeconds: s.uptimeSeconds, connections: s.connections, sessions: s.sessions, instances: s.instances,
                        observers: s.observers, requests: s.requests, steps: s.steps, worlds: s.worlds, policies: s.policies ?? 0,
                        adaptationsRunning: s.adaptations ?? 0, adaptationsWaiting: s.adaptationsWaiting ?? 0,
                        adaptations: core.stats.adaptations.load(ordering: .relaxed),
                        deadlinesExceeded: s.deadlinesExceeded ?? 0, requestsCancelled: s.requestsCancelled ?? 0,
                        draining: s.draining)
    }

    package var stats: ServerStats { core.stats }

    /// Error replies by code name (`bad_request`, ...).
    package var errors: [(code: String, count: UInt64)] { core.stats.errorCounts.map { ($0.0.rawValue, $0.1) } }

    /// Refusals by the limit's configuration name.
    package var refusals: [(limit: String, count: UInt64)] { core.stats.refusalCounts.map { ($0.0.rawValue, $0.1) } }

    package struct SessionSummary: Sendable, Encodable {
        package var id: UInt32
        package var world: String
        package var batch: Int
        package var threads: Int
        package var taskSeed: UInt64?
        package var params: [String: Double]
        package var seed: UInt64
        package var policy: String?
        package var adaptedSteps: Int
        package var state: String
        /// Instance steps taken so far (steps per second come from two readings).
        package var steps: UInt64
    }

    package struct SessionDetail: Sendable, Encodable {
        package var summary: SessionSummary
        package var adaptSteps: Int
        package var adaptPoints: [SessionActivity.AdaptPoint]
        package var episodePoints: [SessionActivity.EpisodePoint]
    }

    package func sessions() -> [SessionSummary] { core.allSessions().map { summary($0, $0.activity.withLock { $0 }) } }

    package func session(_ id: UInt32) -> SessionDetail? {
        guard let s = core.session(id) else { return nil }
        let a = s.activity.withLock { $0 }
        return SessionDetail(summary: summary(s, a), adaptSteps: a.adaptSteps, adaptPoints: a.adaptPoints, episodePoints: a.episodePoints)
    }

    private func summary(_ s: Session, _ a: SessionActivity) -> SessionSummary {
        let task = a.program.task
        var params: [String: Double] = [:]
        for (n, v) in zip(task.names, task.values) { params[n] = v }
        return SessionSummary(id: s.id, world: s.worldName, batch: s.batchCount, threads: s.threads, taskSeed: task.seed, params: params,
                              seed: a.seed, policy: a.policy, adaptedSteps: a.adaptedSteps, state: a.state,
                              steps: s.instanceSteps.load(ordering: .relaxed))
    }

    /// The scene of session `id` for episode seed `seed` (built apart: the session is not touched).
    /// nil: no such session.
    package func scene(_ id: UInt32, seed: UInt64) throws(WorldError) -> LiveScene? {
        guard let s = core.session(id) else { return nil }
        let program = s.activity.withLock { $0.program }
        return try LiveScene(program: program, seed: seed)
    }

    /// Watches session `id`'s poses; nil: no such session (or it closed).
    package func watch(_ id: UInt32) -> PoseWatcher? {
        guard let s = core.session(id) else { return nil }
        let w = PoseWatcher()
        guard s.addWatcher(w) else { return nil }
        return w
    }

    package func unwatch(_ id: UInt32, _ w: PoseWatcher) {
        core.session(id)?.removeWatcher(w)
    }
}
