import MetaSimProtocol
import NIOCore

/// Observers: other connections that receive a session's stream (resets, steps with their
/// actions, new tasks, the close). An observer that cannot keep up (its socket's send buffer is
/// full) misses events rather than slowing the session down; it is told how many it missed.
extension Session {
    /// Subscribes `channel` and sends it the observe reply (from this loop, so that the reply
    /// precedes every event). False if the session has closed meanwhile.
    func addObserver(channel: Channel, requestID: UInt32) -> Bool {
        guard !isClosed else { return false }
        observers.append(Observer(channel: channel, requestID: requestID))
        observerCount.value.add(1, ordering: .relaxed)
        var buffer = channel.allocator.buffer(capacity: 1024 + 4 * batch.observations.count)
        withObservationBytes {
            buffer.writeFrame(kind: MessageKind.observe.rawValue, flags: .response, id: requestID,
                              meta: MetaCoding.encode(reply), data: $0)
        }
        channel.writeAndFlush(buffer, promise: nil)
        return true
    }

    /// Unsubscribes `channel`; with `final`, it gets the stream's last event (an unobserve).
    func removeObserver(channel: Channel, final requestID: UInt32? = nil) {
        let before = observers.count
        observers.removeAll { $0.channel === channel }
        observerCount.value.subtract(before - observers.count, ordering: .relaxed)
        if let requestID {
            var buffer = channel.allocator.buffer(capacity: 128)
            buffer.writeFrame(kind: MessageKind.observe.rawValue, flags: [.event, .final], id: requestID,
                              meta: MetaCoding.encode(ObserverEvent(event: "unobserved", session: id)))
            channel.writeAndFlush(buffer, promise: nil)
        }
    }

    /// A reset or task event: the observations.
    func publish(event: String) {
        guard !observers.isEmpty else { return }
        let meta = MetaCoding.encode(ObserverEvent(event: event, session: id))
        send { buffer, requestID in
            self.withObservationBytes {
                buffer.writeFrame(kind: MessageKind.observe.rawValue, flags: .event, id: requestID, meta: meta, data: $0)
            }
        }
    }

    /// A step event: the step reply's data followed by the actions (float32, or int32 indices).
    func publishStep() {
        guard !observers.isEmpty else { return }
        let replySize = replyBuffer.readableBytes - FrameHeader.prefixSize - FrameHeader.size
        let actionBytes = 4 * (discreteActions == nil ? batch.actions.count : batch.count)
        send { buffer, requestID in
            self.replyBuffer.withUnsafeReadableBytes { frame in
                let reply = UnsafeRawBufferPointer(rebasing: frame[(FrameHeader.prefixSize + FrameHeader.size)...])
                buffer.writeFrame(kind: MessageKind.observe.rawValue, flags: .event, id: requestID, meta: self.stepEventMeta,
                                  dataSize: replySize + actionBytes) { p in
                    p.copyMemory(from: reply)
                    let actions = UnsafeMutableRawBufferPointer(rebasing: p[replySize...])
                    if self.discreteActions == nil {
                        actions.copyMemory(from: UnsafeRawBufferPointer(self.batch.actions))
                    } else {
                        for i in 0..<self.batch.count { actions.storeLE(Int32(self.batch.actions[i]), at: 4 * i) }
                    }
                }
            }
        }
    }

    /// The session closed: the final event of every subscription.
    func publishClosed() {
        isClosed = true
        let meta = MetaCoding.encode(ObserverEvent(event: "closed", session: id))
        for o in observers {
            var buffer = o.channel.allocator.buffer(capacity: 128)
            buffer.writeFrame(kind: MessageKind.observe.rawValue, flags: [.event, .final], id: o.requestID, meta: meta)
            o.channel.writeAndFlush(buffer, promise: nil)
        }
        observerCount.value.subtract(observers.count, ordering: .relaxed)
        observers.removeAll()
    }

    private func send(_ write: (inout ByteBuffer, UInt32) -> Void) {
        for k in observers.indices {
            let channel = observers[k].channel
            guard channel.isWritable else {
                observers[k].dropped += 1
                continue
            }
            var buffer = channel.allocator.buffer(capacity: 256)
            if observers[k].dropped > 0 {
                buffer.writeFrame(kind: MessageKind.observe.rawValue, flags: .event, id: observers[k].requestID,
                                  meta: MetaCoding.encode(ObserverEvent(event: "dropped", session: id, count: observers[k].dropped)))
                observers[k].dropped = 0
            }
            write(&buffer, observers[k].requestID)
            channel.writeAndFlush(buffer, promise: nil)
        }
    }
}
