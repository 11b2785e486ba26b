import CMetaSimIO
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Gives the memory that closed sessions and connections freed back to the system.
///
/// glibc's malloc keeps freed memory in its arenas (one per thread that allocates, up to
/// `M_ARENA_MAX`, by default 8 per core) and returns it only from the top of a heap: the
/// worlds of a closed session, freed in the middle of an arena that is still in use, stay
/// resident. Measured on a soak with open/close churn (Benchmarks/README.md, "Soak"): 154 MB
/// resident with 1.4 MB in use once the clients had gone, 46 MB after one `malloc_trim(0)`.
/// So after a close (`noteFreed`) this waits `delay` for more closes to coalesce, then calls
/// `malloc_trim(0)` once, on its own thread: the closing connection does not wait for it, and
/// steps (which allocate nothing) are not slowed; at most one trim per `delay`.
final class MemoryReclaimer: @unchecked Sendable {
    let delay: Duration
    private let logger: Logger
    private let condition = NSCondition()
    /// Closes since the last trim; `stopping`: the thread ends. Both guarded by `condition`.
    private var pending = 0
    private var stopping = false
    private var running = false
    /// Trims done (for tests and the debug log).
    let trims = Atomic<Int>(0)

    init(delay: Duration = .seconds(1), logger: Logger) {
        self.delay = delay
        self.logger = logger
    }

    /// Something that held memory was freed (a session or a connection closed).
    func noteFreed() {
        condition.lock()
        pending += 1
        condition.signal()
        condition.unlock()
    }

    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !running else { return }
        running = true
        stopping = false
        let thread = Thread { [self] in loop() }
        thread.name = "metasimd-reclaim"
        thread.stackSize = 1 << 18
        thread.start()
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        let seconds = delay.inSeconds
        condition.lock()
        while true {
            while pending == 0, !stopping { condition.wait() }
            if stopping { break }
            // Let the closes that follow this one arrive (a client closing several sessions).
            let deadline = Date(timeIntervalSinceNow: seconds)
            while !stopping, condition.wait(until: deadline) {}
            if stopping { break }
            let closes = pending
            pending = 0
            condition.unlock()
            let start = Socket.monotonicMicroseconds()
            let released = metasim_malloc_trim()
            let micros = Socket.monotonicMicroseconds() - start
            trims.add(1, ordering: .relaxed)
            logger.debug("malloc_trim after \(closes) closes", metadata: ["released": "\(released != 0)", "microseconds": "\(micros)"])
            condition.lock()
        }
        running = false
        condition.unlock()
    }
}
