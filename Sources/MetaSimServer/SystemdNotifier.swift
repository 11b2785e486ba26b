import Logging
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3) without libsystemd: state lines (`READY=1`, `STATUS=...`, `WATCHDOG=1`,
/// `RELOADING=1`, `STOPPING=1`) sent as one datagram to the `AF_UNIX` socket named by
/// `NOTIFY_SOCKET` (a path, or an abstract address written `@name`). Sending never blocks and
/// a lost message is only logged: the service manager's bookkeeping must not stall the server.
public final class SystemdNotifier: Sendable {
    /// `NOTIFY_SOCKET` as given.
    public let address: String
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when the watchdog is meant for
    /// this process (`WATCHDOG_PID` unset or ours); nil when there is no watchdog.
    public let watchdogInterval: Duration?
    private let fd: Int32
    private let addressBytes: [UInt8]
    private let logger: Logger

    /// Nil when `NOTIFY_SOCKET` is unset or empty (not run by a service manager that listens),
    /// or names an address this implementation does not speak (vsock; logged).
    public init?(environment: [String: String], pid: pid_t = getpid(), logger: Logger) {
        guard let address = environment["NOTIFY_SOCKET"], !address.isEmpty else { return nil }
        guard let bytes = Self.socketAddress(address) else {
            logger.warning("NOTIFY_SOCKET=\(address): not an AF_UNIX path or @abstract name; not notifying")
            return nil
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            logger.warning("NOTIFY_SOCKET: socket(): \(String(cString: strerror(errno))); not notifying")
            return nil
        }
        self.address = address
        self.fd = fd
        addressBytes = bytes
        self.logger = logger
        watchdogInterval = Self.watchdogInterval(environment: environment, pid: pid)
    }

    deinit { close(fd) }

    /// The bytes of `sun_path` for `NOTIFY_SOCKET` (a leading NUL for an abstract `@name`),
    /// nil for anything else or a name too long for `sun_path`.
    public static func socketAddress(_ address: String) -> [UInt8]? {
        var bytes = Array(address.utf8)
        switch bytes.first {
        case UInt8(ascii: "/"): bytes.append(0)
        case UInt8(ascii: "@"): bytes[0] = 0
        default: return nil
        }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard bytes.count > 1, bytes.count <= capacity else { return nil }
        return bytes
    }

    /// Half of `WATCHDOG_USEC` when `WATCHDOG_PID` is unset or `pid`; nil otherwise.
    public static func watchdogInterval(environment: [String: String], pid: pid_t) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty, owner != String(pid) { return nil }
        return .microseconds(Int64(min(usec, UInt64(Int64.max / 1000)) / 2))
    }

    /// Sends the state lines as one datagram. Returns whether it was sent.
    @discardableResult
    public func notify(_ lines: String...) -> Bool { notify(lines) }

    @discardableResult
    public func notify(_ lines: [String]) -> Bool {
        let message = Array(lines.joined(separator: "\n").utf8)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: addressBytes) }
        // A path's terminating NUL is not part of the address length; an abstract name's bytes all are.
        let pathLength = addressBytes.first == 0 ? addressBytes.count : addressBytes.count - 1
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathLength)
        let sent = message.withUnsafeBytes { buffer in
            withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, length)
                }
            }
        }
        if sent < 0 {
            logger.debug("sd_notify to \(address) failed: \(String(cString: strerror(errno)))")
            return false
        }
        return true
    }

    /// `MONOTONIC_USEC=` for `RELOADING=1` (what `Type=notify-reload` expects).
    public static func monotonicField() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return "MONOTONIC_USEC=\(UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000)"
    }
}
