import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes a whole file so that a crash or kill never leaves it half-written: the bytes go to a
/// temporary file in the same folder, which is fsynced and then renamed over the target (and the
/// folder fsynced, so the rename itself is durable). Every temp+rename writer of metasim, in this
/// module and the ones above it, goes through here.
///
/// The temporary file's name is unique to the write (`.NAME.tmp-PID-COUNTER-RANDOM`: process,
/// per-process counter, 64 random bits), and it is created with `O_CREAT | O_EXCL | O_NOFOLLOW`:
/// two writers of one target, in one process or several, never share or truncate each other's
/// temporary file, and a file or symlink planted at the temporary name is never opened or
/// followed (creation fails and another name is tried). `rename` replaces a symlink at the
/// target itself rather than writing through it.
public enum AtomicFile {
    public struct WriteError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let message: String
        public var description: String { "\(path): error: \(message)" }
    }

    private static let counter = Atomic<UInt64>(0)

    /// A fresh temporary name for `name` (a file name, no folder).
    public static func temporaryName(for name: String) -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        let random = String(UInt64.random(in: .min ... .max), radix: 16)
        return ".\(name).tmp-\(getpid())-\(n)-\(random)"
    }

    /// Whether `name` is an `AtomicFile` temporary file (a write in progress, or of a killed process).
    public static func isTemporary(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".tmp-")
    }

    /// The process that created temporary file `name` (nil if the name does not say).
    public static func temporaryOwner(_ name: String) -> pid_t? {
        guard isTemporary(name), let r = name.range(of: ".tmp-", options: .backwards) else { return nil }
        return pid_t(name[r.upperBound...].split(separator: "-").first ?? "")
    }

    /// Whether temporary file `name` was left by a process that no longer runs.
    public static func isStaleTemporary(_ name: String) -> Bool {
        guard let pid = temporaryOwner(name), pid > 0 else { return false }
        return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Writes `data` to `path` atomically; the file gets `mode` (less the umask).
    public static func write(_ data: [UInt8], to path: String, mode: mode_t = 0o644) throws(WriteError) {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        var temp = ""
        var fd: Int32 = -1
        // A name taken (planted, or an astronomically unlikely collision): try another.
        for _ in 0..<8 {
            temp = "\(dir)/\(temporaryName(for: url.lastPathComponent))"
            fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
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
