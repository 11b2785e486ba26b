import Dispatch
import MetaSimProtocol

/// A session's observers and the subscription requests waiting for its owner, shared with
/// other connections' threads under `Session.links`.
struct ObserverLinks {
    var closed = false
    var observers: [ObserverLink] = []
    var pending: [Subscription] = []
    /// Pose watchers (the web view): a frame of instance 0's body poses, at most every
    /// `PoseWatcher.intervalMilliseconds`, offered without waiting (a full watcher misses it).
    var watchers: [PoseWatcher] = []
    var lastPoses: Int64 = 0
}

struct ObserverLink {
    let connection: Connection
    let requestID: UInt32
    var dropped = 0
}

/// An observe request waiting for the session's owner to answer it (the owner takes a consistent
/// snapshot between two of its steps).
final class Subscription: @unchecked Sendable {
    let connection: Connection
    let requestID: UInt32
    let answered = DispatchSemaphore(value: 0)
    /// The observe reply frame, or nil if the session closed first.
    var reply: [UInt8]?

    init(connection: Connection, requestID: UInt32) {
        self.connection = connection
        self.requestID = requestID
    }
}

/// Observers: other connections that receive a session's stream (resets, steps with their
/// actions, new tasks, the close). Events go to each observer connection's outbox; an observer
/// whose outbox is full (it does not read fast enough) misses events and is told how many.
extension Session {
    /// From an observer's thread: asks the owner for a subscription. False if the session closed.
    func requestSubscription(_ s: Subscription) -> Bool {
        let queued = links.withLock { l -> Bool in
            guard !l.closed else { return false }
            l.pending.append(s)
            return true
        }
        if queued { owner.wake() }
        return queued
    }

    /// On the owner's thread, between steps: answers waiting subscriptions.
    func serviceSubscriptions() {
        let waiting = links.withLock { l -> [Subscription] in
            defer { l.pending.removeAll() }
            return l.pending
        }
        for s in waiting {
            var w = FrameWriter(capacity: 1024 + 4 * batch.observations.count)
            let f = w.beginFrame(kind: MessageKind.observe.rawValue, flags: .response, id: s.requestID, meta: MetaCoding.encode(reply))
            w.append(UnsafeRawBufferPointer(batch.observations))
            w.endFrame(f)
            s.reply = Array(w.bytes)
            links.withLock { $0.observers.append(ObserverLink(connection: s.connection, requestID: s.requestID)) }
            observerCount.value.add(1, ordering: .relaxed)
            s.answered.signal()
        }
    }

    /// From any thread: unsubscribes `connection`. True if it was subscribed.
    @discardableResult
    func removeObserver(_ connection: Connection) -> Bool {
        let removed = links.withLock { l -> Int in
            let before = l.observers.count
            l.observers.removeAll { $0.connection === connection }
            return before - l.observers.count
        }
        observerCount.value.subtract(removed, ordering: .relaxed)
        return removed > 0
    }

    var hasObservers: Bool { links.withLock { !$0.observers.isEmpty || !$0.pending.isEmpty || !$0.watchers.isEmpty } }

    /// A reset or task event: the observations.
    func publish(event: String) {
        serviceSubscriptions()
        guard hasObservers else { return }
        var w = FrameWriter(capacity: 256 + 4 * batch.observations.count)
        let f = w.beginFrame(kind: MessageKind.observe.rawValue, flags: .event, id: 0,
                             meta: MetaCoding.encode(ObserverEvent(event: event, session: id)))
        w.append(UnsafeRawBufferPointer(batch.observations))
        w.endFrame(f)
        deliver(Array(w.bytes))
    }

    /// A step event: the step reply's data followed by the actions (float32, or int32 indices).
    func publishStep(replyData: UnsafeRawBufferPointer) {
        serviceSubscriptions()
        let (observed, watched) = links.withLock { (!$0.observers.isEmpty, !$0.watchers.isEmpty) }
        if watched { publishPoses() }
        guard observed else { return }
        let actionBytes = 4 * (discreteActions == nil ? batch.actions.count : batch.count)
        var w = FrameWriter(capacity: 64 + stepEventMeta.count + replyData.count + actionBytes)
        let f = w.beginFrame(kind: MessageKind.observe.rawValue, flags: .event, id: 0, meta: stepEventMeta)
        w.append(replyData)
        appendActions(into: &w)
        w.endFrame(f)
        deliver(Array(w.bytes))
    }

    /// The session closed: answers waiting subscriptions with nothing and ends every stream.
    func publishClosed() {
        let (observers, pending) = links.withLock { l -> ([ObserverLink], [Subscription]) in
            l.closed = true
            defer { l.observers.removeAll(); l.pending.removeAll() }
            return (l.observers, l.pending)
        }
        for s in pending { s.answered.signal() }
        for w in links.withLock({ $0.watchers }) { w.finish() }
        observerCount.value.subtract(observers.count, ordering: .relaxed)
        let meta = MetaCoding.encode(ObserverEvent(event: "closed", session: id))
        for o in observers {
            var w = FrameWriter(capacity: 128)
            let f = w.beginFrame(kind: MessageKind.observe.rawValue, flags: [.event, .final], id: o.requestID, meta: meta)
            w.endFrame(f)
            _ = o.connection.enqueue(Array(w.bytes), force: true)
        }
    }

    /// Sends `frame` (its id patched per observer) to every observer that has room for it.
    private func deliver(_ frame: [UInt8]) {
        links.withLock { l in
            for k in l.observers.indices {
                let o = l.observers[k]
                if o.dropped > 0 {
                    var w = FrameWriter(capacity: 128)
                    let f = w.beginFrame(kind: MessageKind.observe.rawValue, flags: .event, id: o.requestID,
                                         meta: MetaCoding.encode(ObserverEvent(event: "dropped", session: id, count: o.dropped)))
                    w.endFrame(f)
                    if o.connection.enqueue(Array(w.bytes)) { l.observers[k].dropped = 0 } else {
                        l.observers[k].dropped += 1
                        continue
                    }
                }
                var copy = frame
                copy.withUnsafeMutableBytes { UnsafeMutableRawBufferPointer($0).storeLE(o.requestID, at: 8) }
                if !o.connection.enqueue(copy) { l.observers[k].dropped += 1 }
            }
        }
    }
}
