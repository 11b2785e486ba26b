import Synchronization

/// A flag another thread sets to stop long work: building a batch, the settle steps of a reset,
/// an adaptation's episodes. The work looks at it between instances and steps (a relaxed-cost
/// atomic load) and stops early: a world's reset throws `WorldError.cancelled`, an adaptation
/// returns what it has so far.
///
/// `reason` is whatever small positive code the canceller chose (the server uses it to tell a
/// deadline from a client gone away); the first cancel wins. An owner that reuses one flag for
/// successive pieces of work clears it with `rearm()` between them, when nothing can cancel it.
public final class Cancellation: Sendable {
    private let state = Atomic<Int>(0)

    public init() {}

    /// Stops the work (reason 1, unless another reason came first).
    public func cancel() { cancel(reason: 1) }

    /// Stops the work with a reason code (> 0); false if it was already cancelled.
    @discardableResult
    public func cancel(reason: Int) -> Bool {
        precondition(reason > 0, "a cancellation reason is positive")
        return state.compareExchange(expected: 0, desired: reason, ordering: .acquiringAndReleasing).exchanged
    }

    public var isCancelled: Bool { state.load(ordering: .acquiring) != 0 }

    /// The reason code of the cancellation; 0 while the work may go on.
    public var reason: Int { state.load(ordering: .acquiring) }

    /// Clears the flag for the next piece of work.
    public func rearm() { state.store(0, ordering: .releasing) }
}
