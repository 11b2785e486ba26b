/// One frame as read off a connection: its header and views of its metadata and data in the
/// reader's buffer (valid until the reader receives again).
public struct FrameView {
    public var header: FrameHeader
    public var meta: UnsafeRawBufferPointer
    public var data: UnsafeRawBufferPointer

    public init(header: FrameHeader, meta: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) {
        self.header = header
        self.meta = meta
        self.data = data
    }
}

/// A length prefix the stream cannot continue after.
public struct FramingViolation: Error, Sendable {
    public var id: UInt32
    public var code: ErrorCode
    public var message: String
}

/// A connection's receive buffer and the frames in it, for the server and the client alike:
/// receive into `spaceForReceive()`, report with `didReceive`, take frames with `next()`. A length
/// above the maximum, or below the header's size, is a framing violation (the stream cannot go
/// on). Metadata running past its frame is the frame's problem, not the stream's: that frame
/// comes out with `metaLength == UInt32.max` (the server answers it with `bad_frame`).
///
/// The buffer grows to hold the largest frame; once that frame has been taken and nothing is
/// left unread, a buffer above `shrinkAbove` goes back to `initialCapacity` (the `next()` that
/// finds the buffer empty does it), so a connection that once received a 16 MiB frame does not
/// keep 32 MiB. Frames up to `shrinkAbove` never cause an allocation once the buffer has grown.
public struct FrameReader: ~Copyable {
    public let maxFrame: Int
    /// The buffer's size at the start and after a large frame.
    public let initialCapacity: Int
    /// A buffer larger than this is given back when it is empty.
    public let shrinkAbove: Int
    private(set) var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    public init(maxFrame: Int, initialCapacity: Int = 1 << 16, shrinkAbove: Int = 1 << 20) {
        self.maxFrame = maxFrame
        self.initialCapacity = max(initialCapacity, 16)
        self.shrinkAbove = max(shrinkAbove, self.initialCapacity)
        buffer = .allocate(byteCount: self.initialCapacity, alignment: 16)
    }

    /// The buffer's current size in bytes.
    public var capacity: Int { buffer.count }

    deinit { buffer.deallocate() }

    /// Free space at the end of the buffer for the next receive (compacting or growing first).
    public mutating func spaceForReceive() -> UnsafeMutableRawBufferPointer {
        if start == end { start = 0; end = 0 }
        if end == buffer.count {
            let unread = end - start
            // Grow when one frame needs more than the buffer; otherwise move unread bytes down.
            var size = buffer.count
            if unread >= 4 {
                let length = Int(UnsafeRawBufferPointer(buffer).loadLE(UInt32.self, at: start))
                while size < 4 + min(length, maxFrame) { size *= 2 }
            }
            if size > buffer.count {
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
                bigger.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: unread)
                buffer.deallocate()
                buffer = bigger
            } else if start > 0 {
                buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: unread)
            }
            start = 0
            end = unread
        }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[end...])
    }

    public mutating func didReceive(_ n: Int) { end += n }

    /// Gives back an empty buffer grown past `shrinkAbove` (back to `initialCapacity`).
    private mutating func shrink() {
        buffer.deallocate()
        buffer = .allocate(byteCount: initialCapacity, alignment: 16)
        start = 0
        end = 0
    }

    /// The next whole frame (consumed), or nil if it has not all arrived. Views of the frame
    /// returned before are valid until the next call (an empty, oversized buffer is given back).
    public mutating func next() throws(FramingViolation) -> FrameView? {
        guard end - start >= 4 else {
            if start == end, buffer.count > shrinkAbove { shrink() }
            return nil
        }
        let bytes = UnsafeRawBufferPointer(buffer)
        let length = Int(bytes.loadLE(UInt32.self, at: start))
        let id = end - start >= 12 ? bytes.loadLE(UInt32.self, at: start + 8) : 0
        if length > maxFrame {
            throw FramingViolation(id: id, code: .frameTooLarge, message: "frame of \(length) bytes exceeds the maximum of \(maxFrame)")
        }
        if length < FrameHeader.size {
            throw FramingViolation(id: id, code: .badFrame, message: "frame of \(length) bytes is shorter than the \(FrameHeader.size)-byte header")
        }
        guard end - start >= 4 + length else { return nil }
        let frame = UnsafeRawBufferPointer(rebasing: bytes[(start + 4)..<(start + 4 + length)])
        start += 4 + length
        var header = FrameHeader(frame)
        let body = UnsafeRawBufferPointer(rebasing: frame[FrameHeader.size...])
        guard Int(header.metaLength) <= body.count else {
            header.metaLength = UInt32.max
            return FrameView(header: header, meta: UnsafeRawBufferPointer(start: nil, count: 0), data: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let m = Int(header.metaLength)
        return FrameView(header: header, meta: UnsafeRawBufferPointer(rebasing: body[..<m]),
                            data: UnsafeRawBufferPointer(rebasing: body[m...]))
    }
}
