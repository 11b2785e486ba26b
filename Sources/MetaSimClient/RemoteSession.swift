import MetaSimProtocol

/// A session open on the daemon: N instances of one world. After each call, the arrays hold the
/// latest results (reused from call to call: no allocation per step).
public final class RemoteSession {
    public let connection: MetaSimConnection
    public private(set) var info: SessionReply
    public var id: UInt32 { info.session }
    public var count: Int { info.batch }
    public var observationSize: Int { info.observation.count }
    /// Values per instance in a step's actions: the action size, or 1 for a discrete index.
    public var actionSize: Int { info.discreteActions == nil ? info.action.count : 1 }

    /// count × observationSize: the latest observations (after auto-reset: the new episode's).
    public private(set) var observations: [Float]
    public private(set) var rewards: [Double]
    public private(set) var terminated: [UInt8]
    public private(set) var truncated: [UInt8]
    /// Instances whose episode ended in the latest step, their return, length, last observation.
    public private(set) var endedIndices: [Int] = []
    public private(set) var endedReturns: [Double] = []
    public private(set) var endedLengths: [Int] = []
    public private(set) var finalObservations: [Float] = []
    /// When step replies arrive, and how to wait for the next one.
    var replyTimer: ReplyTimer
    /// How this session's step reads have waited (see `MetaSimConnection.anticipatesSteps`; with
    /// `spinMicroseconds` > 0 every read counts as slept).
    public private(set) var waits = StepWaits()

    init(connection: MetaSimConnection, reply: SessionReply, observations data: [UInt8]) {
        self.connection = connection
        info = reply
        replyTimer = ReplyTimer(spareCore: reply.threads < MetaSimConnection.cores)
        observations = floats(data)
        rewards = Array(repeating: 0, count: reply.batch)
        terminated = Array(repeating: 0, count: reply.batch)
        truncated = Array(repeating: 0, count: reply.batch)
        endedIndices.reserveCapacity(reply.batch)
        endedReturns.reserveCapacity(reply.batch)
        endedLengths.reserveCapacity(reply.batch)
        finalObservations.reserveCapacity(reply.batch * reply.observation.count)
    }

    /// One step of every instance: count × actionSize float32 (continuous worlds).
    public func step(_ actions: [Float]) throws(ClientError) {
        try withBytes(actions) { p throws(ClientError) in try step(raw: p, dtype: .float32) }
    }

    /// One step of every instance of a discrete world: one index per instance.
    public func step(indices: [Int32]) throws(ClientError) {
        try withBytes(indices) { p throws(ClientError) in try step(raw: p, dtype: .int32) }
    }

    /// One step with packed little-endian actions of `dtype` (as the protocol sends them).
    public func step(raw actions: UnsafeRawBufferPointer, dtype: ActionDType) throws(ClientError) {
        let c = connection
        let requestID = c.makeID()
        c.writer.removeAll()
        let start = c.writer.beginFrame(kind: MessageKind.step.rawValue, flags: [], id: requestID, meta: [])
        let layout = StepRequestLayout(session: id, count: count, dtype: dtype, actionSize: actionSize)
        let header = c.writer.appendZeros(StepRequestLayout.headerSize)
        layout.writeHeader(into: c.writer.region(header, StepRequestLayout.headerSize))
        c.writer.append(actions)
        c.writer.endFrame(start)
        let sentAt = MetaSimConnection.microseconds()
        try c.writeAll(c.writer.bytes)
        let timed = c.spinMicroseconds == 0, anticipate = timed && c.anticipatesSteps
        if timed { c.nextPlan = anticipate ? replyTimer.plan(sentAt: sentAt) : replyTimer.sleepingPlan }
        c.lastOutcome = nil
        defer { c.nextPlan = .block }  // unused if the reply was already read
        try c.awaitResponse(requestID)
        let roundTrip = MetaSimConnection.microseconds() - sentAt
        if anticipate { replyTimer.record(roundTrip: roundTrip, outcome: c.lastOutcome) } else if timed { replyTimer.recordSleeping(roundTrip: roundTrip) }
        waits.count(c.lastOutcome)
        try read(c.lastData)
    }

    private func read(_ p: UnsafeRawBufferPointer) throws(ClientError) {
        guard let (session, layout) = StepReplyLayout.parse(p), session == id, layout.count == count,
              layout.observationSize == observationSize else {
            throw .protocolViolation("step reply does not match session \(id)")
        }
        let n = count, o = observationSize
        rewards.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: p[layout.rewards..<(layout.rewards + 8 * n)])) }
        observations.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: p[layout.observations..<(layout.observations + 4 * n * o)])) }
        terminated.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: p[layout.terminated..<(layout.terminated + n)])) }
        truncated.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: p[layout.truncated..<(layout.truncated + n)])) }
        endedIndices.removeAll(keepingCapacity: true)
        endedReturns.removeAll(keepingCapacity: true)
        endedLengths.removeAll(keepingCapacity: true)
        finalObservations.removeAll(keepingCapacity: true)
        for k in 0..<layout.ended {
            endedIndices.append(Int(p.loadLE(UInt32.self, at: layout.endedIndex + 4 * k)))
            endedReturns.append(p.loadUnaligned(fromByteOffset: layout.endedReturn + 8 * k, as: Double.self))
            endedLengths.append(Int(p.loadLE(UInt32.self, at: layout.endedLength + 4 * k)))
            for j in 0..<o {
                finalObservations.append(p.loadUnaligned(fromByteOffset: layout.finalObservations + 4 * (k * o + j), as: Float.self))
            }
        }
    }

    /// Resets all instances (or `instances`): to `seeds`, to a batch `seed`, or to each one's
    /// next episode.
    public func reset(instances: [Int]? = nil, seeds: [UInt64]? = nil, seed: UInt64? = nil) throws(ClientError) {
        let (_, data) = try connection.request(.reset, meta: ResetRequest(session: id, instances: instances, seeds: seeds, seed: seed),
                                               as: SessionRequest.self)
        observations = floats(data)
        for i in 0..<count where instances == nil || instances!.contains(i) { terminated[i] = 0; truncated[i] = 0 }
    }

    /// A new world of the family: the task `taskSeed` samples (or the nominal one) with `params`.
    public func setTask(taskSeed: UInt64? = nil, params: [String: Double]? = nil, seed: UInt64? = nil) throws(ClientError) {
        let (reply, data) = try connection.request(.setTask, meta: SetTaskRequest(session: id, taskSeed: taskSeed, params: params, seed: seed),
                                                   as: SessionReply.self)
        info = reply
        observations = floats(data)
    }

    public func close() throws(ClientError) {
        _ = try connection.request(.close, meta: SessionRequest(session: id), as: SessionRequest.self)
    }
}

/// How a session's step reads waited for their replies.
public struct StepWaits: Sendable, Equatable {
    /// Reads that slept until the reply came (no anticipation, or it was not due yet).
    public var slept = 0
    /// Anticipating reads that woke on their timer and found the reply by looking.
    public var anticipated = 0
    /// Anticipating reads whose reply came before their timer (woken by it, as a sleeper is).
    public var early = 0
    /// Anticipating reads that looked for their whole budget, or lost the core, then slept.
    public var late = 0

    public var total: Int { slept + anticipated + early + late }

    mutating func count(_ outcome: WaitOutcome?) {
        switch outcome {
        case nil: slept += 1
        case .looked: anticipated += 1
        case .early: early += 1
        case .late: late += 1
        }
    }
}
