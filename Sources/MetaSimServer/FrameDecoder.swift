import MetaSimProtocol

/// One request frame as read off a connection: its header and views of its metadata and data
/// in the connection's read buffer (valid until the connection reads again).
struct InboundFrame {
    var header: FrameHeader
    var meta: UnsafeRawBufferPointer
    var data: UnsafeRawBufferPointer
}

/// A length prefix the stream cannot continue after.
struct FramingViolation: Error {
    var id: UInt32
    var code: ErrorCode
    var message: String
}

/// A connection's receive buffer and the frames in it. A length above the maximum, or below the
/// header's size, is a framing violation (the connection gets a fatal error and is closed).
/// Metadata running past its frame is the request's problem, not the stream's: that frame comes
/// out with `metaLength == UInt32.max`, answered with `bad_frame`, and the stream goes on.
struct FrameDecoder: ~Copyable {
    let maxFrame: Int
    private(set) var buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(maxFrame: Int) {
        self.maxFrame = maxFrame
        buffer = .allocate(byteCount: 1 << 16, alignment: 16)
    }

    deinit { buffer.deallocate() }

    var hasBufferedBytes: Bool { end > start }

    /// Free space at the end of the buffer for the next receive (compacting or growing first).
    mutating func spaceForReceive() -> UnsafeMutableRawBufferPointer {
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

    mutating func didReceive(_ n: Int) { end += n }

    /// The next whole frame (consumed), or nil if it has not all arrived.
    mutating func next() throws(FramingViolation) -> InboundFrame? {
        let bytes = UnsafeRawBufferPointer(buffer)
        guard end - start >= 4 else { return nil }
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
            return InboundFrame(header: header, meta: UnsafeRawBufferPointer(start: nil, count: 0), data: UnsafeRawBufferPointer(start: nil, count: 0))
        }
        let m = Int(header.metaLength)
        return InboundFrame(header: header, meta: UnsafeRawBufferPointer(rebasing: body[..<m]),
                            data: UnsafeRawBufferPointer(rebasing: body[m...]))
    }
}
