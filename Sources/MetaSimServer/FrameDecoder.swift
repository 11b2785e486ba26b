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
/// running past its frame is the request's problem, not the stream's: that frame becomes a
/// `bad_frame` error and the stream goes on.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = InboundFrame
    let maxFrame: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            return .needMoreData
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
        guard buffer.readableBytes >= FrameHeader.prefixSize + Int(length) else {
            // Reserve once for the whole frame rather than growing repeatedly.
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: FrameHeader.prefixSize)
        var frame = buffer.readSlice(length: Int(length))!
        let header = frame.withUnsafeReadableBytes { FrameHeader($0) }
        frame.moveReaderIndex(forwardBy: FrameHeader.size)
        let metaLength = Int(header.metaLength)
        if metaLength > frame.readableBytes {
            // Deliver it with an empty meta and the flag the handler turns into bad_frame.
            var h = header
            h.metaLength = UInt32.max
            context.fireChannelRead(wrapInboundOut(InboundFrame(header: h, meta: ByteBuffer(), data: ByteBuffer())))
            return .continue
        }
        let meta = frame.readSlice(length: metaLength)!
        context.fireChannelRead(wrapInboundOut(InboundFrame(header: header, meta: meta, data: frame)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // Complete frames are still served; a partial one at EOF is dropped with the connection.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
