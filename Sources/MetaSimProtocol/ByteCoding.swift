/// Little-endian loads and stores on raw memory, without alignment requirements.
extension UnsafeRawBufferPointer {
    @inline(__always)
    public func loadLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    public func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }
}

/// A growable byte buffer for building frames, reused across frames so that a hot loop does not
/// allocate once it has reached its working size.
public struct FrameWriter: ~Copyable {
    public private(set) var storage: UnsafeMutableRawBufferPointer
    public private(set) var count = 0
    /// The storage's size at the start and after a large message.
    public let initialCapacity: Int
    /// Storage larger than this is given back by `removeAll()`.
    public let shrinkAbove: Int

    public init(capacity: Int = 4096, shrinkAbove: Int = 1 << 20) {
        initialCapacity = max(capacity, 64)
        self.shrinkAbove = max(shrinkAbove, initialCapacity)
        storage = .allocate(byteCount: initialCapacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }

    /// The storage's current size in bytes.
    public var capacity: Int { storage.count }

    /// Empties the writer; storage grown past `shrinkAbove` (a large message) goes back to
    /// `initialCapacity`, so it is not kept for the life of a connection. Smaller storage is
    /// kept: ordinary frames cause no allocation.
    public mutating func removeAll() {
        count = 0
        if storage.count > shrinkAbove {
            storage.deallocate()
            storage = .allocate(byteCount: initialCapacity, alignment: 16)
        }
    }

    public mutating func reserve(_ extra: Int) {
        let needed = count + extra
        guard needed > storage.count else { return }
        var size = storage.count
        while size < needed { size *= 2 }
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<count]))
        storage.deallocate()
        storage = bigger
    }

    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        storage.storeLE(value, at: count)
        count += MemoryLayout<T>.size
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if !bytes.isEmpty {
            UnsafeMutableRawBufferPointer(rebasing: storage[count..<(count + bytes.count)]).copyMemory(from: bytes)
        }
        count += bytes.count
    }

    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Appends `n` zero bytes and returns their offset, for writing in place.
    public mutating func appendZeros(_ n: Int) -> Int {
        reserve(n)
        let at = count
        if n > 0 { UnsafeMutableRawBufferPointer(rebasing: storage[at..<(at + n)]).initializeMemory(as: UInt8.self, repeating: 0) }
        count += n
        return at
    }

    /// Writable access to bytes already appended.
    public func region(_ offset: Int, _ length: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: storage[offset..<(offset + length)])
    }

    /// Starts a frame: length prefix (patched by `endFrame`) and header. Returns the frame's offset.
    public mutating func beginFrame(kind: UInt16, flags: FrameFlags, id: UInt32, meta: [UInt8]) -> Int {
        let start = count
        append(UInt32(0))
        append(kind)
        append(flags.rawValue)
        append(id)
        append(UInt32(meta.count))
        append(meta)
        return start
    }

    /// Drops the frame begun at `start` (and anything after it): its request failed while its
    /// data was being written in place.
    public mutating func discardFrame(_ start: Int) {
        precondition(start >= 0 && start <= count, "discardFrame: \(start) is not in 0...\(count)")
        count = start
    }

    /// Patches the length prefix of the frame that starts at `start`.
    public mutating func endFrame(_ start: Int) {
        storage.storeLE(UInt32(count - start - FrameHeader.prefixSize), at: start)
    }
}
