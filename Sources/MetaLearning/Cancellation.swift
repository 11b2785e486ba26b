import Synchronization

/// A flag another thread sets to stop long work (an adaptation whose client went away): the
/// work looks at it between steps and stops early.
public final class Cancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .releasing) }

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}
