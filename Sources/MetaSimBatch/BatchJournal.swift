import Foundation
import MetaSimCore
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The append-only record of completed units (`journal.log` in the output folder): one line per
/// unit, `CHECKSUM JSON\n`, with the FNV-1a of the JSON in 16 hex digits. Each line goes out in
/// one `write` and is fsynced before the unit counts as done, so a kill at any moment leaves
/// whole lines plus at most one torn tail, which `load` detects (no newline, or a checksum that
/// does not match) and drops.
public final class BatchJournal: Sendable {
    public let path: String
    private let fd: Int32
    private let lock = Mutex(())

    /// What a journal file holds: the units read, and how many trailing bytes were torn.
    public struct Contents: Sendable {
        public var results: [UnitResult]
        /// Length of the valid prefix.
        public var validBytes: Int
        /// Bytes after it (a torn tail) that `open` cuts off.
        public var tornBytes: Int
    }

    /// Opens for appending after cutting the file to `validBytes` (drops a torn tail).
    public init(path: String, validBytes: Int) throws(BatchError) {
        self.path = path
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BatchError.io(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(validBytes)) == 0, fsync(fd) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw BatchError.io(path: path, message: "cannot truncate: \(message)")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends units, each line in one `write`, then fsyncs once (group commit): they count as
    /// done only after this returns. Thread-safe.
    public func append(_ results: [UnitResult]) throws(BatchError) {
        let lines = results.map(Self.encode)
        let error: String? = lock.withLock { _ in
            for line in lines {
                var offset = 0
                while offset < line.count {
                    let n = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, line.count - offset) }
                    if n < 0 {
                        if errno == EINTR { continue }
                        return "write failed: \(String(cString: strerror(errno)))"
                    }
                    offset += n
                }
            }
            return fsync(fd) == 0 ? nil : "fsync failed: \(String(cString: strerror(errno)))"
        }
        if let error { throw BatchError.io(path: path, message: error) }
    }

    static func encode(_ result: UnitResult) -> [UInt8] {
        let json = Array(BatchFormat.json(result).utf8)
        return Array(hex(fnv1a64(json)).utf8) + [UInt8(ascii: " ")] + json + [UInt8(ascii: "\n")]
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// Reads a journal; a missing file is an empty journal. Reading stops at the first line that
    /// is not whole and intact.
    public static func load(path: String) throws(BatchError) -> Contents {
        guard FileManager.default.fileExists(atPath: path) else { return Contents(results: [], validBytes: 0, tornBytes: 0) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BatchError.io(path: path, message: "cannot read the journal")
        }
        let bytes = [UInt8](data)
        var results: [UnitResult] = []
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else { break }
            let line = bytes[start..<newline]
            guard line.count > 17, line[start + 16] == UInt8(ascii: " "),
                  let sum = UInt64(String(decoding: line.prefix(16), as: UTF8.self), radix: 16) else { break }
            let json = Array(line.dropFirst(17))
            guard fnv1a64(json) == sum, let r = try? BatchFormat.decoder.decode(UnitResult.self, from: Data(json)) else { break }
            results.append(r)
            start = newline + 1
        }
        return Contents(results: results, validBytes: start, tornBytes: bytes.count - start)
    }
}
