import MetaSimProtocol
import Testing

/// Frame buffers grown for a large message go back to their usual size (issue 27: after two
/// 16 MiB pings each idle connection kept 32 MB). The daemon's side: MetaSimServerTests'
/// DaemonMemoryTests.
@Suite("Frame buffers shrink back")
struct FrameBufferTests {
    /// One frame of `payload` bytes of data (a ping), as the wire carries it.
    static func pingFrame(id: UInt32, payload: Int) -> [UInt8] {
        var w = FrameWriter(capacity: 64)
        let start = w.beginFrame(kind: MessageKind.ping.rawValue, flags: [], id: id, meta: [])
        _ = w.appendZeros(payload)
        w.endFrame(start)
        return Array(w.bytes)
    }

    /// Feeds `bytes` to the reader in receives of at most `chunk` bytes, taking frames as they
    /// complete; returns the frames' data sizes.
    static func feed(_ reader: inout FrameReader, _ bytes: [UInt8], chunk: Int = 1 << 16) throws -> [Int] {
        var sizes: [Int] = []
        var offset = 0
        while offset < bytes.count {
            let space = reader.spaceForReceive()
            let n = min(space.count, chunk, bytes.count - offset)
            bytes.withUnsafeBytes { space.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
            reader.didReceive(n)
            offset += n
            while let frame = try reader.next() { sizes.append(frame.data.count) }
        }
        return sizes
    }

    @Test("the reader grows for a 5 MiB frame and is back to its initial size once it is taken")
    func readerShrinks() throws {
        var reader = FrameReader(maxFrame: 16 << 20)
        let initial = reader.capacity
        #expect(try Self.feed(&reader, Self.pingFrame(id: 1, payload: 5 << 20)) == [5 << 20])
        #expect(reader.capacity == initial)
        // A small frame after it reads as before.
        #expect(try Self.feed(&reader, Self.pingFrame(id: 2, payload: 100)) == [100])
        #expect(reader.capacity == initial)
    }

    @Test("the reader keeps a buffer that still holds part of the next frame")
    func readerKeepsUnread() throws {
        var reader = FrameReader(maxFrame: 16 << 20)
        let big = Self.pingFrame(id: 1, payload: 3 << 20)
        let small = Self.pingFrame(id: 2, payload: 1000)
        // The big frame and half of the small one arrive together: nothing may be lost.
        let first = big + small[..<500]
        #expect(try Self.feed(&reader, Array(first)) == [3 << 20])
        #expect(try Self.feed(&reader, Array(small[500...])) == [1000])
        #expect(reader.capacity == reader.initialCapacity)
    }

    @Test("frames up to the threshold keep the grown buffer: no allocation per frame")
    func readerKeepsModerateBuffer() throws {
        var reader = FrameReader(maxFrame: 16 << 20)
        _ = try Self.feed(&reader, Self.pingFrame(id: 1, payload: 600 << 10))
        let grown = reader.capacity
        #expect(grown > reader.initialCapacity && grown <= reader.shrinkAbove)
        for id in 2..<20 { _ = try Self.feed(&reader, Self.pingFrame(id: UInt32(id), payload: 600 << 10)) }
        #expect(reader.capacity == grown)
    }

    @Test("the writer goes back to its initial size after a large message, and keeps its storage for small ones")
    func writerShrinks() {
        var w = FrameWriter(capacity: 1 << 16)
        let start = w.beginFrame(kind: 2, flags: .response, id: 1, meta: [])
        _ = w.appendZeros(16 << 20)
        w.endFrame(start)
        #expect(w.capacity >= 16 << 20)
        w.removeAll()
        #expect(w.capacity == 1 << 16)
        let base = w.storage.baseAddress
        for id in 0..<100 {
            let f = w.beginFrame(kind: 19, flags: .response, id: UInt32(id), meta: [])
            _ = w.appendZeros(40_000)
            w.endFrame(f)
            w.removeAll()
        }
        #expect(w.storage.baseAddress == base, "ordinary frames reallocated the writer's storage")
    }
}
