#if canImport(Glibc)
import Glibc
#endif

/// The socket file's life: a stale file from a previous run is replaced, a live server's or a
/// file that is not a socket is left alone (an error), the new one gets its mode, and it is
/// removed on exit if it is still ours.
enum SocketFile {
    static func prepare(_ path: String) throws(ServerError) {
        guard path.utf8.count < 108 else {
            throw ServerError.socket(path: path, message: "the path is \(path.utf8.count) bytes; Unix socket paths hold at most 107")
        }
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw ServerError.socket(path: path, message: "exists and is not a socket; not replacing it")
        }
        if isListening(path) {
            throw ServerError.socket(path: path, message: "another server is listening on this socket")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw ServerError.socket(path: path, message: "cannot remove the stale socket: \(String(cString: strerror(errno)))")
        }
    }

    /// Whether something accepts connections on the socket at `path`.
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            let bytes = Array(path.utf8)
            p.copyBytes(from: bytes.prefix(p.count - 1))
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return r == 0
    }

    static func setMode(_ path: String, _ mode: mode_t) throws(ServerError) {
        guard chmod(path, mode) == 0 else {
            throw ServerError.socket(path: path, message: "chmod: \(String(cString: strerror(errno)))")
        }
    }

    /// The file's identity, to remove only our own socket on exit.
    static func identity(_ path: String) -> (UInt, UInt)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt(st.st_dev), UInt(st.st_ino))
    }

    static func remove(_ path: String, ifIdentity id: (UInt, UInt)?) {
        guard let id, let now = identity(path), now == id else { return }
        unlink(path)
    }
}
