import Foundation
import Metrics
import MetaSimServer
import Prometheus
import Synchronization

/// `/metrics`: the daemon's counters in the Prometheus text format. Nothing is recorded per
/// step through swift-metrics: the server counts with relaxed atomics (ServerStats), and a
/// scrape reads them and brings the swift-metrics gauges and counters (PrometheusMetricsFactory)
/// up to date, then writes the registry. The step latency histograms are the server's own atomic
/// buckets, written after the registry in the same format.
final class DaemonMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    /// What the last scrape saw: counter values (to increment by the difference) and per-world
    /// instance steps with their time (steps per second between two scrapes).
    private let last = Mutex<(counters: [String: UInt64], steps: [String: (UInt64, ContinuousClock.Instant)])>(([:], [:]))
    /// One scrape at a time (the deltas above).
    private let scraping = Mutex<Void>(())

    static let adaptationLabel = "metasim_adaptation_duration_seconds"

    init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.durationHistogramBuckets[Self.adaptationLabel] = [
            .milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300),
        ]
        factory = f
    }

    /// The whole exposition, read from `monitor` now.
    func scrape(_ monitor: ServerMonitor) -> String {
        scraping.withLock { _ in
            update(monitor)
            var text = registry.emitToString()
            text += Self.latencyHistograms(monitor)
            return text
        }
    }

    private func gauge(_ name: String, _ value: Double, _ dimensions: [(String, String)] = []) {
        Gauge(label: name, dimensions: dimensions, factory: factory).record(value)
    }

    /// A counter brought up to `value` (the server's counters only grow).
    private func counter(_ name: String, _ value: UInt64, _ dimensions: [(String, String)] = []) {
        let key = name + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
        let delta = last.withLock { l -> UInt64 in
            let before = l.counters[key] ?? 0
            l.counters[key] = max(before, value)
            return value > before ? value - before : 0
        }
        let c = Counter(label: name, dimensions: dimensions, factory: factory)
        if delta > 0 { c.increment(by: Int64(clamping: delta)) } else { c.increment(by: Int64(0)) }
    }

    private func update(_ monitor: ServerMonitor) {
        let c = monitor.counters
        gauge("metasim_uptime_seconds", c.uptimeSeconds)
        gauge("metasim_connections", Double(c.connections))
        gauge("metasim_sessions", Double(c.sessions))
        gauge("metasim_instances", Double(c.instances))
        gauge("metasim_observers", Double(c.observers))
        gauge("metasim_worlds", Double(c.worlds))
        gauge("metasim_policies", Double(c.policies))
        gauge("metasim_adaptations_running", Double(c.adaptationsRunning))
        gauge("metasim_adaptations_waiting", Double(c.adaptationsWaiting))
        gauge("metasim_draining", c.draining ? 1 : 0)
        counter("metasim_requests_total", c.requests)
        counter("metasim_steps_total", c.steps)
        counter("metasim_deadlines_exceeded_total", c.deadlinesExceeded)
        counter("metasim_requests_cancelled_total", c.requestsCancelled)
        for (code, n) in monitor.errors { counter("metasim_errors_total", n, [("code", code)]) }
        for (limit, n) in monitor.refusals { counter("metasim_refusals_total", n, [("limit", limit)]) }
        counter("metasim_adaptations_total", c.adaptations)
        let timer = Metrics.Timer(label: Self.adaptationLabel, dimensions: [], factory: factory)
        for seconds in monitor.stats.takeAdaptationDurations() { timer.recordNanoseconds(Int64(seconds * 1e9)) }
        if let rss = Self.residentBytes() { gauge("metasim_resident_memory_bytes", Double(rss)) }

        // Per world: sessions, instance steps and steps per second since the last scrape.
        var sessionsByWorld: [String: Int] = [:]
        for s in monitor.sessions() { sessionsByWorld[s.world, default: 0] += 1 }
        let now = ContinuousClock.now
        for (world, stats) in monitor.stats.worldStats {
            let steps = stats.instanceSteps.load(ordering: .relaxed)
            counter("metasim_world_steps_total", steps, [("world", world)])
            counter("metasim_world_batch_steps_total", stats.batchSteps.load(ordering: .relaxed), [("world", world)])
            gauge("metasim_world_sessions", Double(sessionsByWorld[world] ?? 0), [("world", world)])
            let rate = last.withLock { l -> Double in
                defer { l.steps[world] = (steps, now) }
                guard let (before, at) = l.steps[world] else { return 0 }
                let dt = (now - at) / .seconds(1)
                return dt > 0 ? Double(steps &- before) / dt : 0
            }
            gauge("metasim_world_steps_per_second", rate, [("world", world)])
        }
    }

    /// `metasim_step_latency_seconds{world}`: the server's buckets of batch step latency.
    static func latencyHistograms(_ monitor: ServerMonitor) -> String {
        let worlds = monitor.stats.worldStats
        guard !worlds.isEmpty else { return "" }
        let name = "metasim_step_latency_seconds"
        var out = "# HELP \(name) Time of one batch step of a session (all its instances), by world.\n# TYPE \(name) histogram\n"
        let bounds = WorldStats.bucketMicroseconds.map { Self.number(Double($0) / 1e6) } + ["+Inf"]
        for (world, stats) in worlds {
            let w = escape(world)
            let cumulative = stats.cumulativeBuckets
            for (le, n) in zip(bounds, cumulative) { out += "\(name)_bucket{world=\"\(w)\",le=\"\(le)\"} \(n)\n" }
            out += "\(name)_sum{world=\"\(w)\"} \(Self.number(Double(stats.latencyNanoseconds.load(ordering: .relaxed)) / 1e9))\n"
            out += "\(name)_count{world=\"\(w)\"} \(cumulative.last ?? 0)\n"
        }
        return out
    }

    private static func number(_ v: Double) -> String { String(format: "%.9g", v) }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Resident memory from /proc/self/statm (pages × page size); nil where there is none.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
