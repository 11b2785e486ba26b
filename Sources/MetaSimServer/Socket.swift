#if canImport(Glibc)
import Glibc
#endif

/// Thin, EINTR-safe wrappers over the POSIX socket calls the server makes.
enum Socket {
    /// Sends all of `p` (blocking). False if the peer is gone.
    static func sendAll(_ fd: Int32, _ p: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < p.count {
            let n = send(fd, p.baseAddress! + done, p.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += n
        }
        return true
    }

    enum Received { case bytes(Int), wouldBlock, closed }

    /// One receive into `p` without blocking.
    static func receive(_ fd: Int32, into p: UnsafeMutableRawBufferPointer) -> Received {
        while true {
            let n = recv(fd, p.baseAddress!, p.count, Int32(MSG_DONTWAIT))
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .closed
        }
    }

    /// Waits until `fds` are ready (or `timeout` milliseconds, -1 forever); returns their revents.
    static func poll(_ fds: inout [pollfd], timeout: Int32) -> Int32 {
        while true {
            let r = Glibc.poll(&fds, nfds_t(fds.count), timeout)
            if r < 0, errno == EINTR { continue }
            return r
        }
    }

    /// A wake-up channel for a thread blocked in `poll`: a non-blocking pipe (read end, write end).
    static func makeWakePipe() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return (-1, -1) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }

    static func signal(_ writeEnd: Int32) {
        var one: UInt8 = 1
        _ = write(writeEnd, &one, 1)  // a full pipe already means "wake up"
    }

    static func drain(_ readEnd: Int32) {
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &bytes, { read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
    }

    static func monotonicMicroseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000 + Int64(t.tv_nsec) / 1000
    }

    static func monotonicNanoseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }

    static func monotonicMilliseconds() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
    }
}
