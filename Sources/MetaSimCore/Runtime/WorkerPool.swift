import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A fixed set of threads that run one job together: `run()` has every participant k in
/// 0..<threads execute `job(k)` (participant 0 is the calling thread) and returns when all are
/// done. Workers spin briefly, then sleep on a condition, so a batch step costs no thread
/// creation and no allocation.
final class WorkerPool: @unchecked Sendable {
    let threads: Int
    private let job: @Sendable (Int) -> Void
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var workers: [Thread] = []

    init(threads: Int, job: @escaping @Sendable (Int) -> Void) {
        self.threads = max(1, threads)
        self.job = job
        for k in 1..<self.threads {
            let thread = Thread { [unowned self] in self.work(k) }
            thread.name = "metasim-worker-\(k)"
            thread.stackSize = 1 << 20
            workers.append(thread)
            thread.start()
        }
    }

    /// Stops the workers (they finish nothing new); called by the owner before release.
    func shutdown() {
        guard threads > 1, !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        condition.lock()
        generation.add(1, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
        while pending.load(ordering: .acquiring) > -(threads - 1) { sched_yield() }
    }

    func run() {
        guard threads > 1 else { job(0); return }
        pending.store(threads - 1, ordering: .relaxed)
        condition.lock()
        generation.add(1, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
        job(0)
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins > 4096 { sched_yield() }
        }
    }

    /// How long an idle worker stays awake (yielding its core to any other runnable thread)
    /// before it sleeps: long enough to span the gap between two steps of a client that steps
    /// over a socket, so that a step does not pay a thread wake-up.
    static let awakeNanoseconds: UInt64 = 300_000

    private func work(_ k: Int) {
        var seen = 0
        while true {
            var spins = 0
            var since: UInt64 = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                guard spins > 2_000 else { continue }
                // Awake but polite: other threads (a client on the same core) run first.
                sched_yield()
                if spins & 63 == 0 {
                    let now = monotonicNanoseconds()
                    if since == 0 { since = now }
                    if now - since < Self.awakeNanoseconds { continue }
                    condition.lock()
                    while generation.load(ordering: .acquiring) == seen { condition.wait() }
                    condition.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) {
                pending.subtract(1, ordering: .releasing)
                return
            }
            job(k)
            pending.subtract(1, ordering: .releasing)
        }
    }
}

@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}
