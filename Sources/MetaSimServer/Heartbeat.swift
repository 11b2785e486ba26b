import Foundation
import Logging
import Synchronization

/// The service manager's periodic messages: `WATCHDOG=1` (at half of `WATCHDOG_USEC`) and
/// `STATUS=` (sessions and load, when it changed). A ping is sent only if the accepting loop
/// has gone round within the interval and the server's shared state answers (the status reads
/// it under its locks): a wedged daemon stops the pings, and systemd's watchdog restarts it.
final class Heartbeat: Sendable {
    /// Status updates without a watchdog.
    static let defaultInterval = Duration.seconds(5)

    let notifier: SystemdNotifier
    let core: ServerCore
    let interval: Duration
    let logger: Logger
    private struct State {
        var missed = 0
        var steps: UInt64 = 0
        var time = ContinuousClock.now
        var stepsPerSecond = 0.0
        var lastStatus = ""
    }
    private let state = Mutex(State())
    private let running = Atomic<Bool>(false)

    init(notifier: SystemdNotifier, core: ServerCore, logger: Logger) {
        self.notifier = notifier
        self.core = core
        self.logger = logger
        interval = notifier.watchdogInterval ?? Self.defaultInterval
    }

    var intervalMilliseconds: Int64 { interval.inMilliseconds }

    func start() {
        running.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            while running.load(ordering: .acquiring) {
                Thread.sleep(forTimeInterval: interval.inSeconds)
                if running.load(ordering: .acquiring) { beat() }
            }
        }
        thread.name = "metasimd-heartbeat"
        thread.start()
    }

    func stop() { running.store(false, ordering: .releasing) }

    private func beat() {
        let since = Socket.monotonicMilliseconds() - core.acceptorTurn.load(ordering: .acquiring)
        if since > intervalMilliseconds {
            let missed = state.withLock { s -> Int in
                s.missed += 1
                return s.missed
            }
            if missed == 1 { logger.warning("the accepting loop has not turned for \(since) ms: watchdog pings paused") }
            return
        }
        let status = statusLine()
        let changed = state.withLock { s -> Bool in
            if s.missed > 0 { logger.notice("the accepting loop turns again: watchdog pings resumed") }
            s.missed = 0
            defer { s.lastStatus = status }
            return s.lastStatus != status
        }
        var lines: [String] = []
        if notifier.watchdogInterval != nil { lines.append("WATCHDOG=1") }
        if changed { lines.append("STATUS=\(status)") }
        if !lines.isEmpty { notifier.notify(lines) }
    }

    /// Sends `lines` with the current `STATUS=` (READY=1 at start and after a reload).
    func announce(_ lines: String...) {
        let status = statusLine()
        state.withLock { $0.lastStatus = status }
        notifier.notify(lines + ["STATUS=\(status)"])
    }

    /// `13 worlds; 2 connections; 1 session (16 instances); 0 observers; 1520 steps/s`.
    func statusLine() -> String {
        let now = ContinuousClock.now
        let steps = core.stepCount.load(ordering: .relaxed)
        let rate = state.withLock { s -> Double in
            let elapsed = (now - s.time).inSeconds
            if elapsed >= 0.25 {
                s.stepsPerSecond = Double(steps &- s.steps) / elapsed
                s.steps = steps
                s.time = now
            }
            return s.stepsPerSecond
        }
        let (sessions, instances) = core.sessionLoad()
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
        return [
            count(core.directory.ordered.count, "world"),
            count(core.connectionCount, "connection"),
            count(sessions, "session") + " (" + count(instances, "instance") + ")",
            count(core.observerCount.value.load(ordering: .relaxed), "observer"),
            "\(Int(rate.rounded())) steps/s",
        ].joined(separator: "; ")
    }
}
