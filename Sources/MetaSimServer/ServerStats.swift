import MetaSimProtocol
import Synchronization

/// The limits a request can be refused by (`limit_exceeded`, or `server_busy` for connections),
/// named as in the configuration file: the server counts refusals by limit.
package enum Limit: String, CaseIterable, Sendable {
    case maxConnections = "max_connections"
    case maxSessionsPerConnection = "max_sessions_per_connection"
    case maxBatch = "max_batch"
    case maxThreadsPerSession = "max_threads_per_session"
    case maxSessionMemory = "max_session_memory_bytes"
    case maxMemory = "max_memory_bytes"
    case maxResetSubsteps = "max_reset_substeps"
    case maxAdaptSteps = "max_adapt_steps"
    case maxAdaptEpisodes = "max_adapt_episodes"
    case maxRunEpisodes = "max_run_episodes"
    case maxRecordedTransitions = "max_recorded_transitions"
    case maxSavedPolicies = "max_saved_policies"
    case maxSavedPolicyBytes = "max_saved_policy_bytes"
}

/// Counters the server keeps for monitoring (`/metrics` of MetaSimWeb reads them when scraped).
/// Everything on a request's path is a relaxed atomic add: nothing here takes a lock per step.
package final class ServerStats: Sendable {
    /// Error replies, by code (indexed as `ErrorCode.allCases`).
    private let errors: [Tally]
    /// Refusals by limit (indexed as `Limit.allCases`).
    private let refusals: [Tally]
    /// Adaptations finished (answered, failed or cancelled) and their durations, waiting for the
    /// exporter (bounded: the oldest are dropped when nobody scrapes).
    private let adaptationLog = Mutex<[Double]>([])
    package let adaptations = Atomic<UInt64>(0)
    private let worlds = Mutex<[String: WorldStats]>([:])
    static let adaptationLogLimit = 4096

    init() {
        errors = ErrorCode.allCases.map { _ in Tally() }
        refusals = Limit.allCases.map { _ in Tally() }
    }

    func countError(_ code: ErrorCode, limit: Limit?) {
        if let i = ErrorCode.allCases.firstIndex(of: code) { errors[i].value.add(1, ordering: .relaxed) }
        if let limit, let i = Limit.allCases.firstIndex(of: limit) { refusals[i].value.add(1, ordering: .relaxed) }
    }

    func countAdaptation(seconds: Double) {
        adaptations.add(1, ordering: .relaxed)
        adaptationLog.withLock { log in
            if log.count >= Self.adaptationLogLimit { log.removeFirst(log.count / 2) }
            log.append(seconds)
        }
    }

    /// The stats of one world's sessions (created on first use; kept for the server's life).
    func world(_ name: String) -> WorldStats {
        worlds.withLock { w in
            if let s = w[name] { return s }
            let s = WorldStats()
            w[name] = s
            return s
        }
    }

    package var errorCounts: [(ErrorCode, UInt64)] {
        zip(ErrorCode.allCases, errors).map { ($0, $1.value.load(ordering: .relaxed)) }
    }

    package var refusalCounts: [(Limit, UInt64)] {
        zip(Limit.allCases, refusals).map { ($0, $1.value.load(ordering: .relaxed)) }
    }

    /// The durations (seconds) of the adaptations finished since the last call.
    package func takeAdaptationDurations() -> [Double] {
        adaptationLog.withLock { log in
            defer { log.removeAll(keepingCapacity: true) }
            return log
        }
    }

    package var worldStats: [(String, WorldStats)] {
        worlds.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}

/// One world's step counters: instance steps, batch steps and a histogram of batch step
/// latency in fixed buckets (atomic counts, read when scraped).
package final class WorldStats: Sendable {
    /// Upper bounds of the latency buckets, in microseconds (then +Inf).
    package static let bucketMicroseconds: [Int64] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000, 1_000_000]
    /// Instance steps (a batch step of n instances counts n).
    package let instanceSteps = Atomic<UInt64>(0)
    /// Batch steps (`step` requests answered), and their summed latency in nanoseconds.
    package let batchSteps = Atomic<UInt64>(0)
    package let latencyNanoseconds = Atomic<UInt64>(0)
    /// Counts per bucket (not cumulative); the last is +Inf.
    private let buckets: [Tally]

    init() { buckets = (0...Self.bucketMicroseconds.count).map { _ in Tally() } }

    /// One batch step of `instances` that took `nanoseconds`.
    @inline(__always)
    func record(instances: Int, nanoseconds: Int64) {
        instanceSteps.add(UInt64(instances), ordering: .relaxed)
        batchSteps.add(1, ordering: .relaxed)
        latencyNanoseconds.add(UInt64(max(0, nanoseconds)), ordering: .relaxed)
        var k = 0
        while k < Self.bucketMicroseconds.count, nanoseconds > 1000 * Self.bucketMicroseconds[k] { k += 1 }
        buckets[k].value.add(1, ordering: .relaxed)
    }

    /// Cumulative counts per bucket (the last is +Inf, the total).
    package var cumulativeBuckets: [UInt64] {
        var total: UInt64 = 0
        return buckets.map { total += $0.value.load(ordering: .relaxed); return total }
    }
}

/// One atomic count (arrays of `Atomic` are not allowed: it is not copyable).
final class Tally: Sendable {
    let value = Atomic<UInt64>(0)
}
