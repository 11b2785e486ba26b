import MetaSimProtocol
import NIOCore

extension ByteBuffer {
    /// Appends one frame: length prefix, header, `meta`, then `dataSize` bytes that `data`
    /// writes in place (no intermediate copy).
    mutating func writeFrame(kind: UInt16, flags: FrameFlags, id: UInt32, meta: [UInt8], dataSize: Int = 0,
                             data: (UnsafeMutableRawBufferPointer) -> Void = { _ in }) {
        let length = FrameHeader.size + meta.count + dataSize
        reserveCapacity(minimumWritableBytes: FrameHeader.prefixSize + length)
        writeInteger(UInt32(length), endianness: .little)
        writeInteger(kind, endianness: .little)
        writeInteger(flags.rawValue, endianness: .little)
        writeInteger(id, endianness: .little)
        writeInteger(UInt32(meta.count), endianness: .little)
        writeBytes(meta)
        if dataSize > 0 {
            writeWithUnsafeMutableBytes(minimumWritableBytes: dataSize) { p in
                let region = UnsafeMutableRawBufferPointer(rebasing: p[0..<dataSize])
                region.initializeMemory(as: UInt8.self, repeating: 0)
                data(region)
                return dataSize
            }
        }
    }

    mutating func writeFrame(kind: UInt16, flags: FrameFlags, id: UInt32, meta: [UInt8], data: UnsafeRawBufferPointer) {
        writeFrame(kind: kind, flags: flags, id: id, meta: meta, dataSize: data.count) { $0.copyMemory(from: data) }
    }
}
