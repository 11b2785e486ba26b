import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a whole file so that a crash or kill never leaves it half-written: the bytes go to a
/// temporary file in the same folder, which is fsynced and then renamed over the target (and the
/// folder fsynced, so the rename itself is durable).
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let message: String
        public var description: String { "\(path): error: \(message)" }
    }

    public static func write(_ data: [UInt8], to path: String) throws(WriteError) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let temp = "\(dir)/.\(url.lastPathComponent).tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError(path: path, message: "cannot create \(temp): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, data.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let message = String(cString: strerror(errno))
                close(fd); unlink(temp)
                throw WriteError(path: path, message: "write failed: \(message)")
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd); unlink(temp)
            throw WriteError(path: path, message: "fsync failed: \(message)")
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temp)
            throw WriteError(path: path, message: "rename failed: \(message)")
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    public static func write(_ text: String, to path: String) throws(WriteError) {
        try write(Array(text.utf8), to: path)
    }
}
