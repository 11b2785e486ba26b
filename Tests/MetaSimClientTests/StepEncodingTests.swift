@testable import MetaSimClient
import MetaSimProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The step requests `RemoteSession` sends, read by a stand-in server (a socket of the test's own,
/// no daemon): they parse with `StepRequestLayout.parse` against the session's shape, as the
/// daemon reads them, and the client reads the stand-in's reply.
@Suite("Step requests as the client sends them")
struct StepEncodingTests {
    /// A listening Unix socket in a fresh temporary folder.
    static func listen() throws -> (fd: Int32, path: String) {
        var template = Array("/tmp/msc-XXXXXX".utf8CString)
        let folder = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        let path = folder + "/s.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && Glibc.listen(fd, 1) == 0)
        return (fd, path)
    }

    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            try #require(n > 0)
            offset += n
        }
    }

    /// The next frame from `fd`: its header and data.
    static func receiveFrame(_ fd: Int32) throws -> (header: FrameHeader, meta: [UInt8], data: [UInt8]) {
        var reader = FrameReader(maxFrame: 1 << 20)
        while true {
            if let frame = try reader.next() { return (frame.header, Array(frame.meta), Array(frame.data)) }
            let space = reader.spaceForReceive()
            let n = recv(fd, space.baseAddress, space.count, 0)
            try #require(n > 0, "the client closed the socket before a whole frame")
            reader.didReceive(n)
        }
    }

    static func spec(_ name: String, _ size: Int) -> WireTensorSpec {
        WireTensorSpec(name: name, shape: [size], dtype: "float32", low: Array(repeating: -1, count: size),
                       high: Array(repeating: 1, count: size), entries: (0..<size).map { "\(name)\($0)" })
    }

    @Test("a continuous step (float32) and a discrete step (int32) parse back with the session's shape, actions bit for bit",
          arguments: [false, true])
    func roundTrip(discrete: Bool) throws {
        let (listener, path) = try Self.listen()
        defer {
            close(listener)
            unlink(path)
            rmdir(String(path.dropLast("/s.sock".count)))
        }
        let connection = try MetaSimConnection(socketPath: path, greet: false)
        let peer = accept(listener, nil, nil)
        try #require(peer >= 0)
        defer { close(peer) }
        let count = 3, observationSize = 2
        let info = SessionReply(session: 41, world: "stand-in", batch: count, threads: 1, autoReset: true,
                                observation: Self.spec("o", observationSize), action: Self.spec("a", 2),
                                discreteActions: discrete ? 4 : nil, task: TaskInfo(seed: nil, params: [:]), seed: 0)
        let session = RemoteSession(connection: connection, reply: info, observations: [UInt8](repeating: 0, count: 4 * count * observationSize))

        // The reply is in the socket before the request goes out: the client's first request id
        // is 1 (no hello). Rewards 0.5, 1.5, 2.5; observations 10...15; no episode ended.
        let replyLayout = StepReplyLayout(count: count, observationSize: observationSize, ended: 0)
        var replyData = [UInt8](repeating: 0, count: replyLayout.size)
        replyData.withUnsafeMutableBytes { p in
            replyLayout.writeHeader(session: 41, into: p)
            for i in 0..<count { p.storeBytes(of: Double(i) + 0.5, toByteOffset: replyLayout.rewards + 8 * i, as: Double.self) }
            for k in 0..<(count * observationSize) {
                p.storeBytes(of: Float(10 + k), toByteOffset: replyLayout.observations + 4 * k, as: Float.self)
            }
        }
        var w = FrameWriter(capacity: 256)
        let f = w.beginFrame(kind: MessageKind.step.rawValue, flags: .response, id: 1, meta: [])
        replyData.withUnsafeBytes { w.append($0) }
        w.endFrame(f)
        try Self.sendAll(peer, w.bytes)

        let floats: [Float] = [0.5, -1, 0.25, .leastNonzeroMagnitude, -0.125, 1]
        let indices: [Int32] = [0, 3, 1]
        if discrete { try session.step(indices: indices) } else { try session.step(floats) }
        #expect(session.rewards == [0.5, 1.5, 2.5])
        #expect(session.observations == (0..<6).map { Float(10 + $0) })

        let request = try Self.receiveFrame(peer)
        #expect(request.header.kind == MessageKind.step.rawValue && request.header.id == 1 && request.header.flags.isEmpty)
        #expect(request.meta.isEmpty)
        let expected = StepRequestLayout(session: 41, count: count, dtype: discrete ? .int32 : .float32, actionSize: session.actionSize)
        let layout = try request.data.withUnsafeBytes { p throws(StepRequestError) in try StepRequestLayout.parse(p, expecting: expected) }
        #expect(layout == expected)
        // The reserved word is 0 (docs/protocol.md); then the actions as they were given.
        #expect(request.data[12..<16].allSatisfy { $0 == 0 })
        let actions = Array(request.data[StepRequestLayout.headerSize...])
        if discrete {
            #expect(actions == indices.flatMap { i in withUnsafeBytes(of: i.littleEndian) { Array($0) } })
        } else {
            #expect(actions == floats.flatMap { x in withUnsafeBytes(of: x.bitPattern.littleEndian) { Array($0) } })
        }
    }
}
