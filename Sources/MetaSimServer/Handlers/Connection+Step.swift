import MetaSimProtocol

extension Connection {
    /// `step`: one step of every instance of a session, actions in, observations and rewards out.
    func step(_ frame: FrameView) throws(RequestFailure) {
        if frame.header.metaLength != 0 { throw RequestFailure(.badRequest, "step metadata must be empty") }
        guard let sessionID = StepRequestLayout.session(in: frame.data) else {
            throw RequestFailure(.badShape, "step data of \(frame.data.count) bytes is shorter than its 16-byte header")
        }
        let session = try ownedSession(sessionID)
        try session.loadActions(frame.data)
        core.stepCount.add(UInt64(session.batchCount), ordering: .relaxed)
        let ended = session.stepBatch()
        // An auto-reset cut short (the instance is marked failed): the step is not answered.
        if work.isCancelled, session.failure != nil {
            throw RequestFailure(.cancelled, "an instance's auto-reset was cut short: the session needs a reset")
        }
        let f = out.beginFrame(kind: MessageKind.step.rawValue, flags: .response, id: frame.header.id, meta: [])
        let at = session.appendStepData(ended: ended, into: &out)
        out.endFrame(f)
        let size = out.count - at
        session.publishStep(replyData: UnsafeRawBufferPointer(rebasing: out.bytes[at..<(at + size)]))
    }
}
