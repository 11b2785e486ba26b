import MetaSimProtocol
import NIOCore

/// One request frame as read off a connection: its header and views of its metadata and data
/// (slices of the read buffer: no copy).
struct InboundFrame {
    var header: FrameHeader
    var meta: ByteBuffer
    var data: ByteBuffer
    /// Read after the server began draining: refused with `shutting_down`.
    var afterDrain = false
}

/// A length prefix the stream cannot continue after.
struct FramingViolation: Error {
    var id: UInt32
    var code: ErrorCode
    var message: String
}

/// Splits the byte stream into frames. A length above the maximum, or below the header's size,
/// is a framing violation: the connection gets a fatal error response and is closed. Metadata
/// running past its frame is the request's problem, not the stream's: that frame comes out with
/// `metaLength == UInt32.max`, which the handler answers with `bad_frame`, and the stream goes on.
struct FrameDecoder {
    let maxFrame: Int

    /// The next whole frame at the front of `buffer` (consumed), or nil if it has not all arrived.
    func next(_ buffer: inout ByteBuffer) throws(FramingViolation) -> InboundFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            return nil
        }
        let id = buffer.getInteger(at: buffer.readerIndex + 8, endianness: .little, as: UInt32.self) ?? 0
        if Int(length) > maxFrame {
            throw FramingViolation(id: id, code: .frameTooLarge,
                                   message: "frame of \(length) bytes exceeds the maximum of \(maxFrame)")
        }
        if Int(length) < FrameHeader.size {
            throw FramingViolation(id: id, code: .badFrame,
                                   message: "frame of \(length) bytes is shorter than the \(FrameHeader.size)-byte header")
        }
        guard buffer.readableBytes >= FrameHeader.prefixSize + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: FrameHeader.prefixSize)
        var frame = buffer.readSlice(length: Int(length))!
        var header = frame.withUnsafeReadableBytes { FrameHeader($0) }
        frame.moveReaderIndex(forwardBy: FrameHeader.size)
        guard Int(header.metaLength) <= frame.readableBytes else {
            header.metaLength = UInt32.max
            return InboundFrame(header: header, meta: ByteBuffer(), data: ByteBuffer())
        }
        let meta = frame.readSlice(length: Int(header.metaLength))!
        return InboundFrame(header: header, meta: meta, data: frame)
    }
}
