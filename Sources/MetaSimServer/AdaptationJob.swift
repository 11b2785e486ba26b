import Foundation
import MetaLearning
import MetaSimCore
import MetaSimProtocol
import Synchronization

/// Caps the adaptations running at once over the whole server; the rest wait their turn.
final class AdaptationGate: Sendable {
    private let state = Mutex<(running: Int, waiting: Int)>((0, 0))

    /// Waits for a free slot (false if cancelled while waiting).
    func acquire(limit: Int, cancel: Cancellation) -> Bool {
        state.withLock { $0.waiting += 1 }
        defer { state.withLock { $0.waiting -= 1 } }
        while true {
            let got = state.withLock { s -> Bool in
                guard s.running < limit else { return false }
                s.running += 1
                return true
            }
            if got { return true }
            if cancel.isCancelled { return false }
            usleep(2_000)
        }
    }

    func release() { state.withLock { $0.running -= 1 } }

    /// (running, waiting).
    var load: (Int, Int) { state.withLock { ($0.running, $0.waiting) } }
}

/// What an adaptation produced.
struct AdaptOutcome: Sendable {
    var parameters: [Double]
    var steps: Int
    var returns: [Double]
    var cancelled: Bool
}

/// One adaptation on a worker thread of its own: the owner connection's thread waits for it
/// (answering in order), forwards its progress events, and cancels it if the client goes away
/// or the server drains.
final class AdaptationJob: Sendable {
    let cancel = Cancellation()
    private let state = Mutex<(progress: [AdaptProgress], outcome: Result<AdaptOutcome, RequestFailure>?)>(([], nil))

    /// Starts `work` on a new thread once the gate lets it; `wake` is called whenever there is
    /// something to collect.
    static func start(gate: AdaptationGate, limit: Int, wake: @escaping @Sendable () -> Void,
                      work: @escaping @Sendable (AdaptationJob) -> Result<AdaptOutcome, RequestFailure>) -> AdaptationJob {
        let job = AdaptationJob()
        let thread = Thread {
            let outcome: Result<AdaptOutcome, RequestFailure>
            if gate.acquire(limit: limit, cancel: job.cancel) {
                outcome = work(job)
                gate.release()
            } else {
                outcome = .success(AdaptOutcome(parameters: [], steps: 0, returns: [], cancelled: true))
            }
            job.state.withLock { $0.outcome = outcome }
            wake()
        }
        thread.stackSize = 8 << 20
        thread.start()
        return job
    }

    func report(_ p: AdaptProgress) { state.withLock { $0.progress.append(p) } }

    /// Progress events so far (taken), and the outcome once the work is over.
    func take() -> ([AdaptProgress], Result<AdaptOutcome, RequestFailure>?) {
        state.withLock { s in
            defer { s.progress.removeAll() }
            return (s.progress, s.outcome)
        }
    }
}
