import MetaSimCore
import MetaSimProtocol

extension Connection {
    /// `set_task`: a session's worlds rebuilt on another task of their family.
    func setTask(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        let r = try meta(SetTaskRequest.self, frame, keys: SetTaskRequest.keys)
        let session = try ownedSession(r.session)
        let task = try Self.task(session.definition, seed: r.taskSeed, params: r.params ?? [:])
        let program = try Self.program(session.definition, task)
        // The new batch is built while the old one is alive: reserve for it first, release
        // the old reservation once it is replaced (or the new one if building fails).
        let bytes = try Budget.check(program, count: session.batchCount, core.configuration)
        try Budget.reserve(bytes, in: core.memory, core.configuration)
        do { try session.setTask(program, seed: r.seed ?? session.seed) } catch {
            core.memory.release(bytes)
            if case .cancelled = error { throw RequestFailure(.cancelled, "building the worlds cut short: the session keeps its previous task") }
            throw Self.failure(error)
        }
        core.memory.release(session.reservedBytes)
        session.reservedBytes = bytes
        session.withObservationBytes { reply(.setTask, id: id, session.reply, data: $0) }
        session.publish(event: "task")
    }
}
