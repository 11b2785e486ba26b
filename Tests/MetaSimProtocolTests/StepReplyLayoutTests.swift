import MetaSimProtocol
import Testing

/// StepReplyLayout.parse reads a header a server sent: any header must be refused or fit the
/// data, never trap (found by FuzzProtocol; Fuzz/regressions/FuzzProtocol/step-reply-header-overflow).
@Suite struct StepReplyLayoutTests {
    /// Step reply data: the 16-byte header, then `extra` zero bytes.
    static func data(session: UInt32 = 1, count: UInt32, observationSize: UInt32, ended: UInt32, extra: Int = 0) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16 + extra)
        bytes.withUnsafeMutableBytes { p in
            p.storeLE(session, at: 0)
            p.storeLE(count, at: 4)
            p.storeLE(observationSize, at: 8)
            p.storeLE(ended, at: 12)
        }
        return bytes
    }

    @Test("a header announcing 2^32-1 instances of 2^32-1 observations is refused, not a trap",
          arguments: [(UInt32.max, UInt32.max, UInt32(0)), (UInt32.max, UInt32.max, UInt32.max), (1 << 31, 1 << 31, 1 << 31),
                      (1, UInt32.max, 1), (UInt32.max, 1, 0), (0, UInt32.max, 0)])
    func hugeHeaders(count: UInt32, observationSize: UInt32, ended: UInt32) {
        let bytes = Self.data(count: count, observationSize: observationSize, ended: ended, extra: 64)
        let parsed = bytes.withUnsafeBytes { StepReplyLayout.parse($0) }
        #expect(parsed == nil)
    }

    @Test("a reply the server writes still parses, its layout where the server put it")
    func validReply() throws {
        let layout = StepReplyLayout(count: 3, observationSize: 5, ended: 2)
        var bytes = [UInt8](repeating: 0, count: layout.size)
        bytes.withUnsafeMutableBytes { layout.writeHeader(session: 7, into: $0) }
        let parsed = try #require(bytes.withUnsafeBytes { StepReplyLayout.parse($0) })
        #expect(parsed.session == 7)
        #expect(parsed.layout == layout)
        // A world with no observations, and an empty batch, parse too.
        for (count, size) in [(4, 0), (0, 9)] {
            let l = StepReplyLayout(count: count, observationSize: size, ended: 0)
            var b = [UInt8](repeating: 0, count: l.size)
            b.withUnsafeMutableBytes { l.writeHeader(session: 1, into: $0) }
            #expect(b.withUnsafeBytes { StepReplyLayout.parse($0) }?.layout == l)
        }
    }
}
