import MetaSimCore
import MetaSimProtocol

#if _endian(big)
#error("the protocol's packed arrays are copied as host memory: a big-endian host needs byte swapping")
#endif

extension Session {
    /// Checks step data against the session and copies the actions into the batch. A rejected
    /// step changes nothing.
    func loadActions(_ data: UnsafeRawBufferPointer) throws(RequestFailure) {
        let expected = StepRequestLayout(session: id, count: batch.count, dtype: discreteActions == nil ? .float32 : .int32,
                                         actionSize: batch.actionCount)
        let count: Int
        do { count = try StepRequestLayout.parse(data, expecting: expected).count } catch {
            switch error {
            case .truncated(let bytes):
                throw RequestFailure(.badShape, "step data of \(bytes) bytes is shorter than its 16-byte header")
            case .otherSession(let session):
                throw RequestFailure(.badRequest, "step data names session \(session), the request is for session \(id)")
            case .unknownDType(let code):
                throw RequestFailure(.badDtype, "unknown action dtype code \(code) (1 float32, 2 int32)")
            case .wrongDType(let dtype):
                throw RequestFailure(.badDtype, "world '\(worldName)' takes \(expected.dtype.name) actions, got \(dtype.name)")
            case .wrongCount(let count):
                throw RequestFailure(.badShape, "step for \(count) instances, the session has \(batch.count)")
            case .wrongSize(let bytes, _):
                let per = expected.dtype == .int32 ? "1 int32" : "\(batch.actionCount) float32"
                throw RequestFailure(.badShape, "step data is \(bytes) bytes; \(expected.count) instances × \(per) needs \(expected.size)")
            }
        }
        if let failure { throw RequestFailure(.worldFailed, "\(failure) (reset the session)") }
        if !autoReset {
            for i in 0..<count where batch.needsReset(i) {
                throw RequestFailure(.episodeEnded, "instance \(i)'s episode has ended: reset it (or open with auto_reset)")
            }
        }
        let values = UnsafeRawBufferPointer(rebasing: data[StepRequestLayout.headerSize...])
        if let n = discreteActions {
            for i in 0..<count {
                let a = values.loadLE(Int32.self, at: 4 * i)
                guard a >= 0, Int(a) < n else {
                    throw RequestFailure(.badAction, "instance \(i): discrete action \(a) is not in 0..<\(n)")
                }
            }
            for i in 0..<count { batch.actions[i] = Float(values.loadLE(Int32.self, at: 4 * i)) }
        } else {
            let a = batch.actionCount
            for k in 0..<(count * a) {
                let v = values.loadUnaligned(fromByteOffset: 4 * k, as: Float.self)
                guard v.isFinite else {
                    throw RequestFailure(.badAction, "instance \(k / a), action '\(batch.specs.action.entries[k % a])': \(v) is not finite")
                }
            }
            UnsafeMutableRawBufferPointer(batch.actions).copyMemory(from: values)
        }
    }

    /// Steps the batch with the actions in its buffer; the instances that ended are the first
    /// (returned count) entries of `endedScratch`.
    func stepBatch() -> Int {
        let start = Socket.monotonicNanoseconds()
        batch.step()
        worldStats.record(instances: batch.count, nanoseconds: Socket.monotonicNanoseconds() - start)
        instanceSteps.add(UInt64(batch.count), ordering: .relaxed)
        var ended = 0
        for i in 0..<batch.count where batch.terminated[i] | batch.truncated[i] != 0 {
            endedScratch[ended] = Int32(i)
            ended += 1
        }
        for i in 0..<batch.count where batch.failed[i] != 0 {
            failure = "instance \(i): " + (batch.failure(of: i)?.description ?? "failed to build its next episode")
        }
        // A recurrent policy's next input reads these rewards and episode ends (a policy taken out
        // of the session, as run_episodes does, is told by its holder).
        if binding?.recurrent != nil { binding!.noteStep(batch: batch) }
        return ended
    }

    /// Appends the step reply data of the last `stepBatch` to an open frame; returns where it starts.
    func appendStepData(ended: Int, into out: inout FrameWriter) -> Int {
        let layout = StepReplyLayout(count: batch.count, observationSize: batch.observationCount, ended: ended)
        let at = out.appendZeros(layout.size)
        writeStepData(layout, into: out.region(at, layout.size))
        return at
    }

    /// Appends the batch's actions as the protocol sends them (float32, or int32 indices).
    func appendActions(into out: inout FrameWriter) {
        if discreteActions == nil {
            out.append(UnsafeRawBufferPointer(batch.actions))
        } else {
            for i in 0..<batch.count { out.append(Int32(batch.actions[i])) }
        }
    }

    func writeStepData(_ layout: StepReplyLayout, into p: UnsafeMutableRawBufferPointer) {
        let n = batch.count, o = batch.observationCount
        layout.writeHeader(session: id, into: p)
        p.baseAddress!.advanced(by: layout.rewards).copyMemory(from: batch.rewards.baseAddress!, byteCount: 8 * n)
        p.baseAddress!.advanced(by: layout.observations).copyMemory(from: batch.observations.baseAddress!, byteCount: 4 * n * o)
        p.baseAddress!.advanced(by: layout.terminated).copyMemory(from: batch.terminated.baseAddress!, byteCount: n)
        p.baseAddress!.advanced(by: layout.truncated).copyMemory(from: batch.truncated.baseAddress!, byteCount: n)
        for k in 0..<layout.ended {
            let i = Int(endedScratch[k])
            p.storeLE(UInt32(i), at: layout.endedIndex + 4 * k)
            p.storeBytes(of: batch.finishedReturns[i], toByteOffset: layout.endedReturn + 8 * k, as: Double.self)
            p.storeLE(UInt32(batch.finishedLengths[i]), at: layout.endedLength + 4 * k)
            p.baseAddress!.advanced(by: layout.finalObservations + 4 * k * o)
                .copyMemory(from: batch.finalObservations.baseAddress! + i * o, byteCount: 4 * o)
        }
    }
}
