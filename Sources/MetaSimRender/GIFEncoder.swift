import CGIF
import MetaSimCore

/// An animated GIF of RGB frames, encoded by giflib (Debian `libgif-dev`): each frame's colours
/// reduced to at most 256 by giflib's median-cut quantizer (`GifQuantizeBuffer`), as the frame's
/// own colour table, with a frame delay and an endless loop (the NETSCAPE2.0 extension).
public struct GIFEncoder {
    public let width: Int
    public let height: Int
    /// Time each frame is shown, in hundredths of a second (at least 2: viewers slow down less).
    public let delayCentiseconds: Int
    private var frames: [[UInt8]] = []

    public init(width: Int, height: Int, delayCentiseconds: Int) throws(RenderError) {
        // GIF's screen size is 16 bits a side; RenderSpec's limits are tighter.
        if let problem = RenderSpec.sizeProblem(width: width, height: height) { throw .badSize(problem) }
        self.width = width
        self.height = height
        self.delayCentiseconds = min(max(delayCentiseconds, 2), 65_535)
    }

    public var frameCount: Int { frames.count }

    /// Adds a frame (width × height × 3 bytes, R G B, rows from the top).
    public mutating func add(rgb: [UInt8]) throws(RenderError) {
        guard rgb.count == width * height * 3 else { throw .bufferSize(expected: width * height * 3, found: rgb.count) }
        frames.append(rgb)
    }

    /// The GIF file's bytes.
    public func encode() throws(RenderError) -> [UInt8] {
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        var error: Int32 = 0
        let writer: OutputFunc = { gif, data, length in
            guard let gif, let data, length > 0, let user = gif.pointee.UserData else { return 0 }
            Unmanaged<Sink>.fromOpaque(user).takeUnretainedValue().bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
            return length
        }
        guard let gif = EGifOpen(Unmanaged.passUnretained(sink).toOpaque(), writer, &error) else {
            throw .gif(Self.message(error))
        }
        var closed = false
        defer { if !closed { var e: Int32 = 0; EGifCloseFile(gif, &e) } }
        func check(_ result: Int32) throws(RenderError) {
            if result != GIF_OK { throw .gif(Self.message(gif.pointee.Error)) }
        }
        EGifSetGifVersion(gif, true)
        try check(EGifPutScreenDesc(gif, Int32(width), Int32(height), 8, 0, nil))
        // Loop for ever: NETSCAPE2.0, sub-block 1, loop count 0.
        try check(EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE))
        var netscape = Array("NETSCAPE2.0".utf8)
        try check(EGifPutExtensionBlock(gif, 11, &netscape))
        var loop: [UInt8] = [1, 0, 0]
        try check(EGifPutExtensionBlock(gif, 3, &loop))
        try check(EGifPutExtensionTrailer(gif))

        let n = width * height
        var red = [UInt8](repeating: 0, count: n), green = red, blue = red, indices = red
        var control = GraphicsControlBlock(DisposalMode: DISPOSE_DO_NOT, UserInputFlag: false, DelayTime: Int32(delayCentiseconds),
                                           TransparentColor: NO_TRANSPARENT_COLOR)
        var extensionBytes = [UInt8](repeating: 0, count: 4)
        let extensionLength = EGifGCBToExtension(&control, &extensionBytes)
        for rgb in frames {
            for i in 0..<n { red[i] = rgb[3 * i]; green[i] = rgb[3 * i + 1]; blue[i] = rgb[3 * i + 2] }
            var colours = [GifColorType](repeating: GifColorType(), count: 256)
            var count: Int32 = 256
            guard GifQuantizeBuffer(UInt32(width), UInt32(height), &count, &red, &green, &blue, &indices, &colours) == GIF_OK else {
                throw .gif("the quantizer refused a frame")
            }
            // A colour table has a power-of-two size; GifMakeMapObject copies the colours.
            var tableSize: Int32 = 2
            while tableSize < count { tableSize *= 2 }
            guard let map = GifMakeMapObject(tableSize, &colours) else { throw .gif("no colour map") }
            defer { GifFreeMapObject(map) }
            try check(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, Int32(extensionLength), &extensionBytes))
            try check(EGifPutImageDesc(gif, 0, 0, Int32(width), Int32(height), false, map))
            try check(EGifPutLine(gif, &indices, Int32(n)))
        }
        closed = true
        guard EGifCloseFile(gif, &error) == GIF_OK else { throw .gif(Self.message(error)) }
        return withExtendedLifetime(sink) { sink.bytes }
    }

    static func message(_ code: Int32) -> String {
        GifErrorString(code).map { String(cString: $0) } ?? "error \(code)"
    }
}
