import Synchronization

/// A flag another thread sets to stop long work: building a batch, the settle steps of a reset,
/// and the long work of layers above that pass it down. The work looks at it between instances
/// and steps (one atomic load) and stops early: a world's reset throws `WorldError.cancelled`;
/// other work returns what it has so far.
///
/// `reason` is whatever small code (1...255) the canceller chose (the server tells a deadline
/// from a client gone away by it); the first cancel wins. An owner that reuses one flag for
/// successive pieces of work clears it with `rearm()` between them; each `rearm` starts a new
/// `generation`, and `cancel(reason:generation:)` stops only the piece of work it was meant
/// for, never the next one.
public final class Cancellation: Sendable {
    /// The low 8 bits: the reason (0: not cancelled); the rest: the generation.
    private let state = Atomic<Int>(0)

    public init() {}

    /// Stops the work (reason 1, unless another reason came first).
    public func cancel() { cancel(reason: 1) }

    /// Stops the work with a reason code (1...255); false if it was already cancelled.
    @discardableResult
    public func cancel(reason: Int) -> Bool {
        precondition((1...255).contains(reason), "a cancellation reason is in 1...255")
        var s = state.load(ordering: .acquiring)
        while s & 0xFF == 0 {
            let (done, now) = state.compareExchange(expected: s, desired: s | reason, ordering: .sequentiallyConsistent)
            if done { return true }
            s = now
        }
        return false
    }

    /// Stops the work of `generation` only: false if it was cancelled already or the flag has
    /// been rearmed since (that work is over).
    @discardableResult
    public func cancel(reason: Int, generation: Int) -> Bool {
        precondition((1...255).contains(reason), "a cancellation reason is in 1...255")
        let expected = generation << 8
        return state.compareExchange(expected: expected, desired: expected | reason, ordering: .sequentiallyConsistent).exchanged
    }

    public var isCancelled: Bool { state.load(ordering: .acquiring) & 0xFF != 0 }

    /// The reason code of the cancellation; 0 while the work may go on.
    public var reason: Int { state.load(ordering: .acquiring) & 0xFF }

    /// Counts the rearms.
    public var generation: Int { state.load(ordering: .acquiring) >> 8 }

    /// Clears the flag for the next piece of work (only the flag's owner calls this); returns
    /// the new generation.
    @discardableResult
    public func rearm() -> Int {
        let next = (state.load(ordering: .relaxed) >> 8) &+ 1
        state.store((next << 8) & ~0xFF, ordering: .sequentiallyConsistent)
        return next
    }
}
