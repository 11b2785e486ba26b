/// Packed binary data of step requests and replies (docs/protocol.md). Little-endian; every
/// array starts at an offset that is a multiple of its element size.

/// The element type of a step's actions.
public enum ActionDType: UInt32, Sendable {
    case float32 = 1
    case int32 = 2

    public var name: String { self == .float32 ? "float32" : "int32" }
}

/// Step request data:
///
///     u32 session, u32 count, u32 dtype (1 float32, 2 int32), u32 reserved (0)
///     actions: count × action_size float32, or count int32 (discrete worlds)
public struct StepRequestLayout: Sendable, Equatable {
    public static let headerSize = 16
    public var session: UInt32
    public var count: Int
    public var dtype: ActionDType
    public var actionSize: Int

    public init(session: UInt32, count: Int, dtype: ActionDType, actionSize: Int) {
        self.session = session
        self.count = count
        self.dtype = dtype
        self.actionSize = actionSize
    }

    /// Values in the actions array (a discrete world has one int32 per instance).
    public var valueCount: Int { dtype == .int32 ? count : count * actionSize }
    public var size: Int { Self.headerSize + 4 * valueCount }

    public func writeHeader(into p: UnsafeMutableRawBufferPointer) {
        p.storeLE(session, at: 0)
        p.storeLE(UInt32(count), at: 4)
        p.storeLE(dtype.rawValue, at: 8)
        p.storeLE(UInt32(0), at: 12)
    }

    /// The session step request data names (its first field), nil if the data is shorter than
    /// that. A server reads it first: the session's shape is what `parse` checks the rest against.
    public static func session(in data: UnsafeRawBufferPointer) -> UInt32? {
        data.count >= 4 ? data.loadLE(UInt32.self, at: 0) : nil
    }

    /// Reads step request data for a session whose shape is `expected` (its id, batch size, dtype
    /// and action size) and checks it, in this order: the header is complete, names that session,
    /// a known dtype, that dtype and that count, and the data is exactly as long as they need.
    /// Returns the data's layout (`expected`); the reserved field is not looked at. Nothing the
    /// data says is multiplied before it is checked, and `expected`'s size is computed checked:
    /// any data, with any expectation, is refused or fits, never traps.
    public static func parse(_ data: UnsafeRawBufferPointer, expecting expected: StepRequestLayout) throws(StepRequestError) -> StepRequestLayout {
        guard data.count >= headerSize else { throw .truncated(bytes: data.count) }
        let session = data.loadLE(UInt32.self, at: 0)
        let count = data.loadLE(UInt32.self, at: 4)
        let rawDType = data.loadLE(UInt32.self, at: 8)
        guard session == expected.session else { throw .otherSession(session) }
        guard let dtype = ActionDType(rawValue: rawDType) else { throw .unknownDType(rawDType) }
        guard dtype == expected.dtype else { throw .wrongDType(dtype) }
        guard Int(count) == expected.count else { throw .wrongCount(count) }
        let size = checkedSize(count: expected.count, dtype: dtype, actionSize: expected.actionSize)
        guard let size, data.count == size else { throw .wrongSize(bytes: data.count, expected: size) }
        return expected
    }

    /// `size`, nil if it overflows (or a count or action size is negative).
    static func checkedSize(count: Int, dtype: ActionDType, actionSize: Int) -> Int? {
        guard count >= 0, actionSize >= 0 else { return nil }
        var values = count
        if dtype == .float32 {
            let (v, overflow) = count.multipliedReportingOverflow(by: actionSize)
            guard !overflow else { return nil }
            values = v
        }
        let (bytes, overflow) = values.multipliedReportingOverflow(by: 4)
        guard !overflow, bytes <= Int.max - headerSize else { return nil }
        return headerSize + bytes
    }
}

/// Why step request data does not fit the session it is for (`StepRequestLayout.parse`).
public enum StepRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Shorter than the 16-byte header.
    case truncated(bytes: Int)
    /// The header names another session.
    case otherSession(UInt32)
    /// A dtype code that is neither 1 (float32) nor 2 (int32).
    case unknownDType(UInt32)
    /// A dtype the session does not take.
    case wrongDType(ActionDType)
    /// A count that is not the session's batch size.
    case wrongCount(UInt32)
    /// Data that is not as long as the session's actions need (`expected`: nil if that size
    /// overflows).
    case wrongSize(bytes: Int, expected: Int?)

    public var description: String {
        switch self {
        case .truncated(let bytes): "step data of \(bytes) bytes is shorter than its \(StepRequestLayout.headerSize)-byte header"
        case .otherSession(let session): "step data names session \(session)"
        case .unknownDType(let code): "unknown action dtype code \(code) (1 float32, 2 int32)"
        case .wrongDType(let dtype): "step data of \(dtype.name) actions"
        case .wrongCount(let count): "step data for \(count) instances"
        case .wrongSize(let bytes, let expected?): "step data is \(bytes) bytes; its session's actions need \(expected)"
        case .wrongSize(let bytes, nil): "step data is \(bytes) bytes; its session's actions need more than any data holds"
        }
    }
}

/// Step reply data for `count` instances with `observationSize` values each, of which `ended`
/// finished an episode this step:
///
///     u32 session, u32 count, u32 observation_size, u32 ended
///     f64 rewards[count]
///     f32 observations[count × observation_size]   (with auto-reset: the new episodes' first)
///     u8  terminated[count], u8 truncated[count]    (then zero padding to a multiple of 8)
///     u32 ended_index[ended]                        (then zero padding to a multiple of 8)
///     f64 ended_return[ended]
///     u32 ended_length[ended]
///     f32 final_observations[ended × observation_size]
public struct StepReplyLayout: Sendable, Equatable {
    public static let headerSize = 16
    public let count: Int
    public let observationSize: Int
    public let ended: Int

    public let rewards: Int
    public let observations: Int
    public let terminated: Int
    public let truncated: Int
    public let endedIndex: Int
    public let endedReturn: Int
    public let endedLength: Int
    public let finalObservations: Int
    public let size: Int

    public init(count: Int, observationSize: Int, ended: Int) {
        self.count = count
        self.observationSize = observationSize
        self.ended = ended
        func align8(_ x: Int) -> Int { (x + 7) & ~7 }
        rewards = Self.headerSize
        observations = rewards + 8 * count
        terminated = observations + 4 * count * observationSize
        truncated = terminated + count
        endedIndex = align8(truncated + count)
        endedReturn = align8(endedIndex + 4 * ended)
        endedLength = endedReturn + 8 * ended
        finalObservations = endedLength + 4 * ended
        size = finalObservations + 4 * ended * observationSize
    }

    /// Reads the header of reply data and checks that the data is exactly as long as it says.
    public static func parse(_ p: UnsafeRawBufferPointer) -> (session: UInt32, layout: StepReplyLayout)? {
        guard p.count >= headerSize else { return nil }
        let session = p.loadLE(UInt32.self, at: 0)
        let count = Int(p.loadLE(UInt32.self, at: 4))
        let obs = Int(p.loadLE(UInt32.self, at: 8))
        let ended = Int(p.loadLE(UInt32.self, at: 12))
        guard ended <= count else { return nil }
        // The data holds 8 bytes of reward per instance and 4 per observation value: bound both
        // by its size before the layout multiplies them, so that no header overflows (a count and
        // an observation size near 2^32 did, and trapped the client).
        guard count <= p.count / 8, count == 0 || observationsFit(count: count, size: obs, in: p.count) else { return nil }
        let layout = StepReplyLayout(count: count, observationSize: obs, ended: ended)
        guard layout.size == p.count else { return nil }
        return (session, layout)
    }

    /// Whether `count` × `size` float32 observations fit in `bytes` (`count` > 0).
    static func observationsFit(count: Int, size: Int, in bytes: Int) -> Bool {
        size <= bytes / 4 / count
    }

    public func writeHeader(session: UInt32, into p: UnsafeMutableRawBufferPointer) {
        p.storeLE(session, at: 0)
        p.storeLE(UInt32(count), at: 4)
        p.storeLE(UInt32(observationSize), at: 8)
        p.storeLE(UInt32(ended), at: 12)
    }
}
