#if canImport(Glibc)
import Glibc
#endif

/// systemd socket activation (sd_listen_fds(3) without libsystemd): the listening sockets a
/// service manager passes from fd 3 on, described by `LISTEN_PID` (must be this process),
/// `LISTEN_FDS` (how many) and `LISTEN_FDNAMES` (colon-separated names, `FileDescriptorName=`).
public enum SocketActivation {
    /// The first passed descriptor (`SD_LISTEN_FDS_START`).
    public static let firstDescriptor: Int32 = 3
    /// The name the daemon looks for among several passed sockets (`FileDescriptorName=metasim`).
    public static let descriptorName = "metasim"

    /// An inherited listening socket.
    public struct Socket: Sendable, Equatable {
        public var descriptor: Int32
        public var name: String?
        /// The socket's path (`getsockname`), for the logs; nil when unnamed or abstract.
        public var path: String?
    }

    /// Which passed descriptor to use, from the environment alone: nil when nothing was passed
    /// to this process; the one named `name`, else the only one.
    public static func select(environment: [String: String], pid: pid_t, name: String = descriptorName)
        throws(ServerError) -> (descriptor: Int32, name: String?)?
    {
        guard let listenPID = environment["LISTEN_PID"], let countText = environment["LISTEN_FDS"] else { return nil }
        guard listenPID == String(pid) else { return nil }  // meant for a parent or a child, not us
        guard let count = Int(countText), count >= 0 else {
            throw .activation("LISTEN_FDS=\(countText) is not a count")
        }
        guard count > 0 else { return nil }
        let names = environment["LISTEN_FDNAMES"].map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
        if let names, let index = names.firstIndex(of: name), index < count {
            return (firstDescriptor + Int32(index), name)
        }
        guard count == 1 else {
            throw .activation("\(count) sockets were passed (LISTEN_FDNAMES=\(environment["LISTEN_FDNAMES"] ?? "")) and none is named \(name)")
        }
        return (firstDescriptor, names?.first)
    }

    /// The inherited listening socket, checked (an `AF_UNIX` stream socket that listens), with
    /// every passed descriptor marked close-on-exec and `LISTEN_*` removed from the environment
    /// so that children do not take them for theirs. Nil when the process was not socket-activated.
    public static func inheritedSocket(environment: [String: String], pid: pid_t = getpid(), name: String = descriptorName)
        throws(ServerError) -> Socket?
    {
        guard let (fd, fdName) = try select(environment: environment, pid: pid, name: name) else { return nil }
        let count = Int32(environment["LISTEN_FDS"] ?? "0") ?? 0
        for passed in firstDescriptor..<(firstDescriptor + count) {
            let flags = fcntl(passed, F_GETFD)
            if flags >= 0 { _ = fcntl(passed, F_SETFD, flags | FD_CLOEXEC) }
        }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")

        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else {
            throw .activation("fd \(fd) is not a socket")
        }
        func option(_ name: Int32) -> Int32? {
            var value: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &size) == 0 ? value : nil
        }
        guard option(SO_DOMAIN) == AF_UNIX, option(SO_TYPE) == Int32(SOCK_STREAM.rawValue) else {
            throw .activation("fd \(fd) is not an AF_UNIX stream socket (ListenStream= with a path)")
        }
        guard option(SO_ACCEPTCONN) == 1 else { throw .activation("fd \(fd) is not listening") }
        return Socket(descriptor: fd, name: fdName, path: boundPath(fd))
    }

    static func boundPath(_ fd: Int32) -> String? {
        var addr = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let r = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard r == 0 else { return nil }
        let bytes = withUnsafeBytes(of: addr.sun_path) { Array($0) }
        guard let first = bytes.first, first != 0 else { return nil }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}
