#if canImport(Glibc)
import Glibc
#endif
import CMetaSimIO
import MetaSimProtocol

/// A blocking connection to metasimd over its Unix-domain socket (protocol v1). Made for hot
/// loops: one reused send buffer and one reused receive buffer, no allocation per step once
/// they have their size. Not thread-safe: one thread per connection.
///
///     let c = try MetaSimConnection(socketPath: "/run/metasim/metasim.sock")
///     let s = try c.open(OpenRequest(world: "lunar-lander", batch: 16, seed: 1))
///     try s.step(actions)        // s.rewards, s.observations, s.terminated, s.truncated
public final class MetaSimConnection {
    public let socketPath: String
    public private(set) var hello: HelloReply!
    let fd: Int32
    private var nextID: UInt32 = 1
    var writer = FrameWriter(capacity: 1 << 16)
    private var reader = FrameReader(maxFrame: 1 << 30)
    /// The last frame read (its views are valid until the next read).
    private var last = FrameView(header: FrameHeader(kind: 0, flags: [], id: 0, metaLength: 0),
                                 meta: UnsafeRawBufferPointer(start: nil, count: 0), data: UnsafeRawBufferPointer(start: nil, count: 0))
    var lastHeader: FrameHeader { last.header }
    /// Events received while waiting for a response (observer streams), oldest first.
    public var pendingEvents: [ReceivedFrame] = []
    /// How long a read looks for the reply (yielding the core to other threads) before it
    /// sleeps in the kernel; 0 (the default): do not look first. A sleeping reader pays a thread
    /// wake-up per reply (about 20 µs on a virtual machine, more than a small step): with a
    /// core to spare, looking (e.g. 500) halves a single-instance round trip, for up to this
    /// much CPU per reply. On a machine whose cores are all busy it does not pay: a look that
    /// loses the core makes the reads sleep at once for a while (see `receive`).
    public var spinMicroseconds: Int = 0
    /// Whether a step's read sleeps only until shortly before its reply is due and then looks
    /// for it, where that measurably shortens the round trip (see `ReplyTimer`: it pays when the
    /// session's stepping threads leave a core free). On by default; it changes no result, only
    /// when the reader wakes. Off, or while it does not pay, a step read sleeps in recv or in
    /// poll by its round trip (`WaitPlan`). Ignored while `spinMicroseconds` > 0.
    public var anticipatesSteps = true
    /// The plan for the next read that has to wait, and what it found (set by `RemoteSession`).
    var nextPlan: WaitPlan = .block
    var lastOutcome: WaitOutcome?
    /// This machine's online cores (a Unix-socket server runs on it too).
    static let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Connects and says hello (unless `greet` is false: tests of the handshake). With
    /// `retryFor` > 0, retries a refused or missing socket for that many seconds (a daemon that
    /// is still starting).
    public init(socketPath: String, client: String = "metasim-swift", retryFor seconds: Double = 0,
                protocol version: ProtocolVersion = .current, greet: Bool = true) throws(ClientError) {
        self.socketPath = socketPath
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + seconds
        var fd: Int32 = -1
        while true {
            do {
                fd = try Self.connect(socketPath)
                break
            } catch {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                if Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 >= end {
                    throw error
                }
                usleep(10_000)
            }
        }
        self.fd = fd
        guard greet else { return }
        hello = try request(.hello, meta: HelloRequest(protocol: version, client: client), as: HelloReply.self).meta
    }

    deinit {
        close(fd)
    }

    static func connect(_ path: String) throws(ClientError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect(path: path, message: String(cString: strerror(errno))) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw .connect(path: path, message: "socket path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw .connect(path: path, message: message)
        }
        return fd
    }

    // MARK: Raw frames

    /// A new request id (ids start at 1 and increase).
    public func makeID() -> UInt32 {
        defer { nextID = nextID == UInt32.max ? 1 : nextID + 1 }
        return nextID
    }

    /// Sends one frame (for pipelining and tests; `request` sends and waits).
    public func send(kind: UInt16, id: UInt32, meta: [UInt8], data: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) throws(ClientError) {
        writer.removeAll()
        let start = writer.beginFrame(kind: kind, flags: [], id: id, meta: meta)
        writer.append(data)
        writer.endFrame(start)
        try writeAll(writer.bytes)
    }

    /// Sends raw bytes as they are (tests of hostile input).
    public func sendRaw(_ bytes: [UInt8]) throws(ClientError) {
        try withBytes(bytes) { p throws(ClientError) in try writeAll(p) }
    }

    func writeAll(_ p: UnsafeRawBufferPointer) throws(ClientError) {
        var done = 0
        while done < p.count {
            let n = Glibc.send(fd, p.baseAddress! + done, p.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                // The server closed the connection: what it sent before (an error response
                // saying why) is still there to read, so report it from the read side.
                if errno == EPIPE || errno == ECONNRESET { return }
                throw .io("send: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    /// Reads the next frame; `lastMeta`/`lastData` view it (valid until the next read). Reads
    /// as much as the socket has: one recv per reply in the usual case.
    func readFrame() throws(ClientError) {
        while true {
            let next: FrameView?
            do { next = try reader.next() } catch { throw .protocolViolation(error.message) }
            if let frame = next {
                guard frame.header.metaLength != UInt32.max else { throw .protocolViolation("metadata past the frame") }
                last = frame
                return
            }
            let space = reader.spaceForReceive()
            let n = receive(into: space)
            if n == 0 { throw .closed }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ECONNRESET { throw .closed }
                throw .io("recv: \(String(cString: strerror(errno)))")
            }
            reader.didReceive(n)
        }
    }

    /// One recv that waits as planned (see `WaitPlan`), or with `spinMicroseconds` looks for up
    /// to that long before sleeping. A yield that took long lost the core to another thread for a
    /// time slice (milliseconds) while the reply waited: the cores are busy, and every later look
    /// would risk the same, whereas a sleeper woken by its reply is scheduled promptly. Then the
    /// next `sleepAfterContention` reads sleep at once (and an anticipating session compares
    /// anticipating with sleeping at once: `ReplyTimer`).
    private func receive(into space: UnsafeMutableRawBufferPointer) -> Int {
        let plan = nextPlan
        nextPlan = .block
        if spinMicroseconds > 0, sleepingReads == 0 {
            if case .data(let n) = look(into: space, for: spinMicroseconds) { return n }
            return blockingReceive(into: space)
        }
        sleepingReads = max(0, sleepingReads - 1)
        switch plan {
        case .block: return blockingReceive(into: space)
        case .poll: return pollingReceive(into: space)
        case .anticipate(let wakeAt, let lookFor):
            let now = Self.microseconds()
            if wakeAt > now, metasim_wait_readable(fd, Int64(wakeAt - now) * 1000, Self.timerSlackNanoseconds) > 0 {
                lastOutcome = .early
                return pollingReceive(into: space)
            }
            let start = Self.microseconds()
            switch look(into: space, for: lookFor) {
            case .data(let n):
                lastOutcome = .looked(Self.microseconds() - start)
                return n
            case .nothing: lastOutcome = .late(contended: false)
            case .lostCore: lastOutcome = .late(contended: true)
            }
            return pollingReceive(into: space)
        }
    }

    private enum Look { case data(Int), nothing, lostCore }

    /// Looks for data for up to `microseconds`, yielding between looks: what recv returned, or
    /// that nothing came, or that a yield lost the core (then `sleepingReads` is set).
    private func look(into space: UnsafeMutableRawBufferPointer, for microseconds: Int) -> Look {
        let start = Self.microseconds()
        var before = start
        while true {
            let n = recv(fd, space.baseAddress!, space.count, Int32(MSG_DONTWAIT))
            if n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { return .data(n) }
            sched_yield()
            let after = Self.microseconds()
            if after - before > Self.contendedYieldMicroseconds {
                sleepingReads = Self.sleepAfterContention
                return .lostCore
            }
            if after - start > microseconds { return .nothing }
            before = after
        }
    }

    private func blockingReceive(into space: UnsafeMutableRawBufferPointer) -> Int {
        recv(fd, space.baseAddress!, space.count, 0)
    }

    /// Sleeps in poll until the socket is readable, then reads (see `WaitPlan.poll`).
    private func pollingReceive(into space: UnsafeMutableRawBufferPointer) -> Int {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            if poll(&p, 1, -1) < 0, errno != EINTR { return -1 }
            let n = recv(fd, space.baseAddress!, space.count, Int32(MSG_DONTWAIT))
            if n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { return n }
        }
    }

    /// The timer slack of an anticipating read's sleep (Linux lets a normal thread's sleep run
    /// up to 50 µs late unless told otherwise).
    static let timerSlackNanoseconds: Int64 = 1_000
    /// A yield longer than this lost the core to another thread's time slice.
    static let contendedYieldMicroseconds = 500
    /// Reads that sleep at once after a contended yield.
    static let sleepAfterContention = 10_000
    private var sleepingReads = 0

    static func microseconds() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t.tv_sec * 1_000_000 + t.tv_nsec / 1000
    }

    var lastMeta: UnsafeRawBufferPointer { last.meta }
    var lastData: UnsafeRawBufferPointer { last.data }

    var lastFrame: ReceivedFrame { ReceivedFrame(header: lastHeader, meta: Array(lastMeta), data: Array(lastData)) }

    /// Reads the next frame of any kind (responses and events), copied out.
    public func receive() throws(ClientError) -> ReceivedFrame {
        if !pendingEvents.isEmpty { return pendingEvents.removeFirst() }
        try readFrame()
        return lastFrame
    }

    /// Reads the next event (an observer stream's), waiting for one if none is pending.
    public func nextEvent() throws(ClientError) -> ReceivedFrame {
        if !pendingEvents.isEmpty { return pendingEvents.removeFirst() }
        while true {
            try readFrame()
            if lastHeader.flags.contains(.event) { return lastFrame }
            throw .protocolViolation("response \(lastHeader.id) with no request waiting for it")
        }
    }

    /// Waits for the response to `id` (events met on the way are queued, or given to `onEvent`
    /// when they belong to request `id`: adapt progress, run_episodes streams); throws its error.
    func awaitResponse(_ id: UInt32, streaming: Bool = false, onEvent: (ReceivedFrame) -> Void = { _ in }) throws(ClientError) {
        while true {
            try readFrame()
            if lastHeader.flags.contains(.event) {
                if streaming, lastHeader.id == id { onEvent(lastFrame) } else { pendingEvents.append(lastFrame) }
                continue
            }
            if lastHeader.flags.contains(.error) {
                let reply = (try? MetaCoding.decodeReply(ErrorReply.self, from: lastMeta))
                    ?? ErrorReply(code: .internal, message: String(decoding: lastMeta, as: UTF8.self))
                throw .server(kind: lastHeader.kind, id: lastHeader.id, reply: reply)
            }
            guard lastHeader.id == id else {
                throw .protocolViolation("expected the response to request \(id), got \(lastHeader.id)")
            }
            return
        }
    }

    // MARK: Requests

    /// Sends a request and waits for its response; returns the decoded metadata and the data.
    public func request<Reply: Decodable>(_ kind: MessageKind, meta: some Encodable, data: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                                          as: Reply.Type) throws(ClientError) -> (meta: Reply, data: [UInt8]) {
        let id = makeID()
        try send(kind: kind.rawValue, id: id, meta: MetaCoding.encode(meta), data: data)
        try awaitResponse(id)
        do {
            return (try MetaCoding.decodeReply(Reply.self, from: lastMeta), Array(lastData))
        } catch {
            throw .protocolViolation("\(kind.name) reply: \(error.message)")
        }
    }

    public func ping(_ payload: [UInt8] = []) throws(ClientError) -> [UInt8] {
        let id = makeID()
        try withBytes(payload) { p throws(ClientError) in try send(kind: MessageKind.ping.rawValue, id: id, meta: [], data: p) }
        try awaitResponse(id)
        return Array(lastData)
    }

    public func status() throws(ClientError) -> StatusReply {
        try request(.status, meta: EmptyRequest(), as: StatusReply.self).meta
    }

    public func listWorlds() throws(ClientError) -> [WorldInfo] {
        try request(.listWorlds, meta: EmptyRequest(), as: ListWorldsReply.self).meta.worlds
    }

    /// Opens a session on a catalog world or inline YAML.
    public func open(_ r: OpenRequest) throws(ClientError) -> RemoteSession {
        let (reply, data) = try request(.open, meta: r, as: SessionReply.self)
        return RemoteSession(connection: self, reply: reply, observations: data)
    }

    /// Subscribes to another connection's session; read its stream with `nextEvent()`.
    public func observe(session: UInt32) throws(ClientError) -> (reply: SessionReply, observations: [Float], requestID: UInt32) {
        let id = makeID()
        try send(kind: MessageKind.observe.rawValue, id: id, meta: MetaCoding.encode(SessionRequest(session: session)))
        try awaitResponse(id)
        do {
            let reply = try MetaCoding.decodeReply(SessionReply.self, from: lastMeta)
            return (reply, floats(lastData), id)
        } catch {
            throw .protocolViolation("observe reply: \(error.message)")
        }
    }

    public func unobserve(session: UInt32) throws(ClientError) {
        _ = try request(.unobserve, meta: SessionRequest(session: session), as: SessionRequest.self)
    }
}

/// `{}`.
public struct EmptyRequest: Codable, Sendable { public init() {} }

func floats(_ p: UnsafeRawBufferPointer) -> [Float] {
    [Float](unsafeUninitializedCapacity: p.count / 4) { out, n in
        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(rebasing: p[0..<(4 * (p.count / 4))]))
        n = p.count / 4
    }
}

func floats(_ bytes: [UInt8]) -> [Float] { bytes.withUnsafeBytes { floats($0) } }

/// `Array.withUnsafeBytes` for a body with typed throws.
func withBytes<T>(_ array: [T], _ body: (UnsafeRawBufferPointer) throws(ClientError) -> Void) throws(ClientError) {
    var failure: ClientError?
    array.withUnsafeBytes { p in
        do throws(ClientError) { try body(p) } catch { failure = error }
    }
    if let failure { throw failure }
}
