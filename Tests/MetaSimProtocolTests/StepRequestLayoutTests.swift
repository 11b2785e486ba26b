import MetaSimProtocol
import Testing

/// StepRequestLayout.parse reads step request data a client sent, against the shape of the session
/// it names: every header is refused with the first thing wrong in it, or fits, never traps.
@Suite struct StepRequestLayoutTests {
    /// A session of 3 instances with 2 float32 actions each.
    static let continuous = StepRequestLayout(session: 7, count: 3, dtype: .float32, actionSize: 2)
    /// A session of 3 instances of a discrete world (one int32 index each).
    static let discrete = StepRequestLayout(session: 9, count: 3, dtype: .int32, actionSize: 1)

    /// Step data field by field, as docs/protocol.md lays it out: u32 session, count, dtype,
    /// reserved, then `values` 4-byte words.
    static func data(session: UInt32, count: UInt32, dtype: UInt32, reserved: UInt32 = 0, values: [UInt32]) -> [UInt8] {
        var bytes: [UInt8] = []
        for word in [session, count, dtype, reserved] + values { withUnsafeBytes(of: word.littleEndian) { bytes += $0 } }
        return bytes
    }

    static func parse(_ bytes: [UInt8], expecting layout: StepRequestLayout) -> Result<StepRequestLayout, StepRequestError> {
        bytes.withUnsafeBytes { p in Result { () throws(StepRequestError) in try StepRequestLayout.parse(p, expecting: layout) } }
    }

    @Test("writeHeader puts the fields where docs/protocol.md says, and parse reads them back", arguments: [continuous, discrete])
    func roundTrip(layout: StepRequestLayout) throws {
        var bytes = [UInt8](repeating: 0xAB, count: layout.size)
        bytes.withUnsafeMutableBytes { layout.writeHeader(into: UnsafeMutableRawBufferPointer(rebasing: $0[..<StepRequestLayout.headerSize])) }
        #expect(Array(bytes[..<16]) == Array(Self.data(session: layout.session, count: UInt32(layout.count),
                                                       dtype: layout.dtype.rawValue, values: [])))
        #expect(try Self.parse(bytes, expecting: layout).get() == layout)
        #expect(bytes.withUnsafeBytes { StepRequestLayout.session(in: $0) } == layout.session)
    }

    @Test("the reserved field is not looked at (a v1 server accepts any value there)")
    func reservedIgnored() throws {
        let bytes = Self.data(session: 7, count: 3, dtype: 1, reserved: 0xFFFF_FFFF, values: Array(repeating: 0, count: 6))
        #expect(try Self.parse(bytes, expecting: Self.continuous).get() == Self.continuous)
    }

    @Test("the session is read from data too short for the rest of the header, not from less than 4 bytes")
    func sessionPeek() {
        #expect([UInt8]([1, 0, 0]).withUnsafeBytes { StepRequestLayout.session(in: $0) } == nil)
        #expect([UInt8]([0x78, 0x56, 0x34, 0x12]).withUnsafeBytes { StepRequestLayout.session(in: $0) } == 0x1234_5678)
    }

    struct Hostile: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let expecting: StepRequestLayout
        let error: StepRequestError
        var testDescription: String { name }
    }

    static let hostile: [Hostile] = [
        Hostile(name: "empty", bytes: [], expecting: continuous, error: .truncated(bytes: 0)),
        Hostile(name: "3 bytes", bytes: [7, 0, 0], expecting: continuous, error: .truncated(bytes: 3)),
        Hostile(name: "15 bytes: the header less one", bytes: Array(data(session: 7, count: 3, dtype: 1, values: []).prefix(15)),
                expecting: continuous, error: .truncated(bytes: 15)),
        Hostile(name: "another session", bytes: data(session: 8, count: 3, dtype: 1, values: Array(repeating: 0, count: 6)),
                expecting: continuous, error: .otherSession(8)),
        Hostile(name: "dtype 0", bytes: data(session: 7, count: 3, dtype: 0, values: Array(repeating: 0, count: 6)),
                expecting: continuous, error: .unknownDType(0)),
        Hostile(name: "dtype 2^32-1", bytes: data(session: 7, count: 3, dtype: .max, values: []),
                expecting: continuous, error: .unknownDType(.max)),
        Hostile(name: "int32 actions for a continuous session", bytes: data(session: 7, count: 3, dtype: 2, values: [0, 1, 2]),
                expecting: continuous, error: .wrongDType(.int32)),
        Hostile(name: "float32 actions for a discrete session", bytes: data(session: 9, count: 3, dtype: 1, values: [0, 1, 2]),
                expecting: discrete, error: .wrongDType(.float32)),
        Hostile(name: "count 2^32-1", bytes: data(session: 7, count: .max, dtype: 1, values: Array(repeating: 0, count: 6)),
                expecting: continuous, error: .wrongCount(.max)),
        Hostile(name: "count 2^31 with no actions", bytes: data(session: 9, count: 1 << 31, dtype: 2, values: []),
                expecting: discrete, error: .wrongCount(1 << 31)),
        Hostile(name: "count 0", bytes: data(session: 7, count: 0, dtype: 1, values: []),
                expecting: continuous, error: .wrongCount(0)),
        Hostile(name: "one float32 short", bytes: data(session: 7, count: 3, dtype: 1, values: Array(repeating: 0, count: 5)),
                expecting: continuous, error: .wrongSize(bytes: 36, expected: 40)),
        Hostile(name: "one float32 over", bytes: data(session: 7, count: 3, dtype: 1, values: Array(repeating: 0, count: 7)),
                expecting: continuous, error: .wrongSize(bytes: 44, expected: 40)),
        Hostile(name: "one stray byte", bytes: data(session: 9, count: 3, dtype: 2, values: [0, 1, 2]) + [0],
                expecting: discrete, error: .wrongSize(bytes: 29, expected: 28)),
        Hostile(name: "the header alone", bytes: data(session: 9, count: 3, dtype: 2, values: []),
                expecting: discrete, error: .wrongSize(bytes: 16, expected: 28)),
        // Several things wrong: the first in parse's order is what is reported.
        Hostile(name: "another session and an unknown dtype", bytes: data(session: 1, count: 3, dtype: 5, values: []),
                expecting: continuous, error: .otherSession(1)),
        Hostile(name: "an unknown dtype and a wrong count", bytes: data(session: 7, count: 4, dtype: 5, values: []),
                expecting: continuous, error: .unknownDType(5)),
        Hostile(name: "a wrong dtype and a wrong count", bytes: data(session: 7, count: 4, dtype: 2, values: [0, 0, 0, 0]),
                expecting: continuous, error: .wrongDType(.int32)),
        Hostile(name: "a wrong count and sized for it", bytes: data(session: 7, count: 2, dtype: 1, values: [0, 0, 0, 0]),
                expecting: continuous, error: .wrongCount(2)),
    ]

    @Test("hostile step data is refused with the first thing wrong in it", arguments: hostile)
    func hostileData(_ c: Hostile) {
        #expect(throws: c.error) { try Self.parse(c.bytes, expecting: c.expecting).get() }
    }

    @Test("a shape whose size overflows refuses every data instead of trapping",
          arguments: [StepRequestLayout(session: 1, count: Int(UInt32.max), dtype: .float32, actionSize: Int.max / 2),
                      StepRequestLayout(session: 1, count: Int(UInt32.max), dtype: .float32, actionSize: 1 << 61),
                      StepRequestLayout(session: 1, count: 5, dtype: .float32, actionSize: -1)])
    func overflowingShape(_ layout: StepRequestLayout) {
        let bytes = Self.data(session: 1, count: UInt32(truncatingIfNeeded: layout.count), dtype: 1, values: [0, 0, 0, 0])
        #expect(throws: StepRequestError.wrongSize(bytes: 32, expected: nil)) { try Self.parse(bytes, expecting: layout).get() }
    }

    @Test("2^32-1 discrete actions: the size is computed, not overflowed, and 16 bytes do not fit it")
    func largestDiscreteCount() {
        let layout = StepRequestLayout(session: 1, count: Int(UInt32.max), dtype: .int32, actionSize: 1)
        let bytes = Self.data(session: 1, count: .max, dtype: 2, values: [])
        #expect(throws: StepRequestError.wrongSize(bytes: 16, expected: 16 + 4 * Int(UInt32.max))) {
            try Self.parse(bytes, expecting: layout).get()
        }
    }
}
