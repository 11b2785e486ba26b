import MetaSimCore
import Synchronization

/// What a session is doing, for the web view: its task, its policy and the returns of its
/// adaptation or episodes, live. Written by the owner's thread (and an adaptation's worker).
package struct SessionActivity: Sendable {
    package var program: WorldProgram
    package var seed: UInt64
    package var policy: String?
    package var adaptedSteps = 0
    /// "idle", "adapting", "running episodes".
    package var state = "idle"
    /// Inner steps the adaptation in progress (or the last one) asked for.
    package var adaptSteps = 0
    /// The adaptation in progress (or the last one): (inner step, episodes so far, mean return).
    package var adaptPoints: [AdaptPoint] = []
    /// The episodes of the run in progress (or the last one): (index, return), the last 10,000.
    package var episodePoints: [EpisodePoint] = []

    package struct AdaptPoint: Sendable, Encodable {
        package var step: Int
        package var episodes: Int
        package var meanReturn: Double
    }

    package struct EpisodePoint: Sendable, Encodable {
        package var index: Int
        package var `return`: Double
    }

    static let episodePointLimit = 10_000
}

extension Session {
    func beginActivity(_ state: String, adaptSteps: Int = 0) {
        activity.withLock { a in
            a.state = state
            if state == "adapting" {
                a.adaptSteps = adaptSteps
                a.adaptPoints.removeAll()
            } else {
                a.episodePoints.removeAll()
            }
        }
    }

    func endActivity() { activity.withLock { $0.state = "idle" } }

    func noteAdaptStep(_ step: Int, episodes: Int, meanReturn: Double) {
        activity.withLock { $0.adaptPoints.append(.init(step: step, episodes: episodes, meanReturn: meanReturn)) }
    }

    func noteEpisode(index: Int, return value: Double) {
        activity.withLock { a in
            if a.episodePoints.count >= SessionActivity.episodePointLimit { a.episodePoints.removeFirst(a.episodePoints.count / 2) }
            a.episodePoints.append(.init(index: index, return: value))
        }
    }

    // MARK: Pose watchers

    /// Adds a watcher (from any thread). False if the session has closed.
    func addWatcher(_ w: PoseWatcher) -> Bool {
        links.withLock { l in
            guard !l.closed else { return false }
            l.watchers.append(w)
            return true
        }
    }

    func removeWatcher(_ w: PoseWatcher) {
        links.withLock { $0.watchers.removeAll { $0 === w } }
    }

    /// On the owner's thread after a step: instance 0's poses to every watcher, at most every
    /// `PoseWatcher.interval` (the step itself never waits for a watcher).
    func publishPoses() {
        let now = Socket.monotonicMilliseconds()
        let watchers = links.withLock { l -> [PoseWatcher] in
            guard now - l.lastPoses >= PoseWatcher.intervalMilliseconds else { return [] }
            l.lastPoses = now
            return l.watchers
        }
        guard !watchers.isEmpty else { return }
        let world = batch.world(0)
        var poses: [Float] = []
        poses.reserveCapacity(3 * world.dynamicBodyCount)
        world.appendDynamicPoses(to: &poses)
        let frame = PoseFrame(taskSeed: task.seed, episodeSeed: world.episodeSeed, episodeStep: world.episodeLength,
                              episodeReturn: world.episodeReturn, poses: poses)
        for w in watchers { w.offer(frame) }
    }
}

/// One frame of the live view: instance 0's dynamic body poses (x, y, angle each).
package struct PoseFrame: Sendable {
    package var taskSeed: UInt64?
    package var episodeSeed: UInt64
    package var episodeStep: Int
    package var episodeReturn: Double
    package var poses: [Float]
}

/// A consumer of a session's pose frames with a bounded buffer: `offer` never blocks; frames
/// that do not fit are dropped and counted, as observers' are.
package final class PoseWatcher: Sendable {
    package static let intervalMilliseconds: Int64 = 33
    package static let capacity = 8
    private let continuation: AsyncStream<PoseFrame>.Continuation
    package let frames: AsyncStream<PoseFrame>
    private let droppedCount = Atomic<Int>(0)

    package init() {
        (frames, continuation) = AsyncStream.makeStream(of: PoseFrame.self, bufferingPolicy: .bufferingOldest(Self.capacity))
    }

    /// Frames dropped so far because the consumer had `capacity` frames unread.
    package var dropped: Int { droppedCount.load(ordering: .relaxed) }

    func offer(_ frame: PoseFrame) {
        if case .dropped = continuation.yield(frame) { droppedCount.add(1, ordering: .relaxed) }
    }

    /// The session closed: the stream ends.
    func finish() { continuation.finish() }
}
