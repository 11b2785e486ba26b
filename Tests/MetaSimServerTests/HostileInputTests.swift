import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import Testing

/// A frame built by hand, byte by byte (so it can be wrong in every way).
func rawFrame(kind: UInt16, flags: UInt16 = 0, id: UInt32 = 7, meta: [UInt8] = [], data: [UInt8] = [], metaLength: UInt32? = nil,
              length: UInt32? = nil) -> [UInt8] {
    var out: [UInt8] = []
    func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    put(length ?? UInt32(12 + meta.count + data.count))
    put(kind)
    put(flags)
    put(id)
    put(metaLength ?? UInt32(meta.count))
    out += meta
    out += data
    return out
}

func json(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Step data: header then float32 values (or int32 with dtype 2).
func stepData(session: UInt32, count: UInt32, dtype: UInt32 = 1, floats: [Float] = [], ints: [Int32] = []) -> [UInt8] {
    var out: [UInt8] = []
    func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
    put(session); put(count); put(dtype); put(UInt32(0))
    for f in floats { put(f.bitPattern) }
    for i in ints { put(i) }
    return out
}

struct HostileCase: CustomTestStringConvertible, Sendable {
    enum Outcome: Sendable {
        /// An error response with this code; the connection stays usable.
        case error(ErrorCode)
        /// An error response with this code, then the server closes the connection.
        case fatal(ErrorCode)
        /// The client sends part of a frame and disconnects: nothing to read.
        case clientDisconnects
    }
    let name: String
    let greet: Bool
    /// The bytes to send, given this connection's continuous session and discrete session and a
    /// session owned by another connection.
    let bytes: @Sendable (_ mine: UInt32, _ discrete: UInt32, _ other: UInt32) -> [UInt8]
    let outcome: Outcome
    var testDescription: String { name }

    init(_ name: String, greet: Bool = true, _ outcome: Outcome, _ bytes: @escaping @Sendable (UInt32, UInt32, UInt32) -> [UInt8]) {
        self.name = name
        self.greet = greet
        self.outcome = outcome
        self.bytes = bytes
    }
}

let step = MessageKind.step.rawValue
let open = MessageKind.open.rawValue

let hostileCases: [HostileCase] = [
    HostileCase("truncated frame, then disconnect", .clientDisconnects) { _, _, _ in Array(rawFrame(kind: 2, data: [UInt8](repeating: 1, count: 100)).prefix(40)) },
    HostileCase("disconnect inside the length prefix", .clientDisconnects) { _, _, _ in [0x10, 0x00] },
    HostileCase("huge length prefix (4 GiB)", .fatal(.frameTooLarge)) { _, _, _ in rawFrame(kind: 2, length: UInt32.max) },
    HostileCase("length just above the 16 MiB limit", .fatal(.frameTooLarge)) { _, _, _ in rawFrame(kind: 2, length: UInt32(16 << 20) + 1) },
    HostileCase("length shorter than the header", .fatal(.badFrame)) { _, _, _ in rawFrame(kind: 2, length: 5) },
    HostileCase("zero length", .fatal(.badFrame)) { _, _, _ in rawFrame(kind: 2, length: 0) },
    HostileCase("an HTTP request instead of frames", .fatal(.frameTooLarge)) { _, _, _ in json("GET / HTTP/1.1\r\nHost: x\r\n\r\n") },
    HostileCase("random garbage bytes", .fatal(.frameTooLarge)) { _, _, _ in
        var g = SeededGenerator(seed: 3); return [0xff, 0xff, 0xff, 0x7f] + (0..<60).map { _ in UInt8.random(in: 0...255, using: &g) } },
    HostileCase("request id 0", .error(.badRequest)) { _, _, _ in rawFrame(kind: 2, id: 0) },
    HostileCase("unknown request kind", .error(.unknownKind)) { _, _, _ in rawFrame(kind: 999) },
    HostileCase("request kind 0", .error(.unknownKind)) { _, _, _ in rawFrame(kind: 0) },
    HostileCase("a request with the response flag", .error(.badFrame)) { _, _, _ in rawFrame(kind: 2, flags: 1) },
    HostileCase("metadata length past the frame's end", .error(.badFrame)) { _, _, _ in rawFrame(kind: 3, meta: json("{}"), metaLength: 500) },
    HostileCase("metadata that is not JSON", .error(.badRequest)) { _, _, _ in rawFrame(kind: open, meta: [0xde, 0xad, 0xbe, 0xef]) },
    HostileCase("metadata that is a JSON array", .error(.badRequest)) { _, _, _ in rawFrame(kind: open, meta: json("[1,2]")) },
    HostileCase("open with an unknown key", .error(.badRequest)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"pendulum","batchsize":2}"#)) },
    HostileCase("open with a wrong type", .error(.badRequest)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"pendulum","batch":"two"}"#)) },
    HostileCase("open an unknown world", .error(.unknownWorld)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"no-such-world"}"#)) },
    HostileCase("open a world by file path", .error(.unknownWorld)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"/etc/passwd"}"#)) },
    HostileCase("open with batch 0", .error(.badRequest)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"pendulum","batch":0}"#)) },
    HostileCase("open with a batch over the limit", .error(.limitExceeded)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"pendulum","batch":1000000}"#)) },
    HostileCase("open with both world and yaml", .error(.badRequest)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"pendulum","yaml":"x: 1"}"#)) },
    HostileCase("open inline YAML that does not parse", .error(.invalidWorld)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"yaml":"a: [1, 2\n b: }"}"#)) },
    HostileCase("open with an unknown family parameter", .error(.unknownParameter)) { _, _, _ in rawFrame(kind: open, meta: json(#"{"world":"lunar-lander","params":{"gravitee":-3}}"#)) },
    HostileCase("step an unknown session", .error(.unknownSession)) { _, _, _ in rawFrame(kind: step, data: stepData(session: 99999, count: 1, floats: [0])) },
    HostileCase("step another connection's session", .error(.notOwner)) { _, _, other in rawFrame(kind: step, data: stepData(session: other, count: 2, floats: [0, 0, 0, 0])) },
    HostileCase("step with int32 actions on a continuous world", .error(.badDtype)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 2, dtype: 2, ints: [0, 1])) },
    HostileCase("step with float32 actions on a discrete world", .error(.badDtype)) { _, d, _ in rawFrame(kind: step, data: stepData(session: d, count: 2, floats: [0, 1])) },
    HostileCase("step with an unknown dtype code", .error(.badDtype)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 2, dtype: 7, floats: [0, 0, 0, 0])) },
    HostileCase("step with too few action values", .error(.badShape)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 2, floats: [0, 0, 0])) },
    HostileCase("step with too many action values", .error(.badShape)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 2, floats: [0, 0, 0, 0, 0])) },
    HostileCase("step for the wrong number of instances", .error(.badShape)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 1, floats: [0, 0])) },
    HostileCase("step data shorter than its header", .error(.badShape)) { _, _, _ in rawFrame(kind: step, data: [1, 0, 0]) },
    HostileCase("step with a NaN action", .error(.badAction)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 2, floats: [0, .nan, 0, 0])) },
    HostileCase("step with an infinite action", .error(.badAction)) { mine, _, _ in rawFrame(kind: step, data: stepData(session: mine, count: 2, floats: [0, 0, -.infinity, 0])) },
    HostileCase("step with a discrete index out of range", .error(.badAction)) { _, d, _ in rawFrame(kind: step, data: stepData(session: d, count: 2, dtype: 2, ints: [0, 4])) },
    HostileCase("step with a negative discrete index", .error(.badAction)) { _, d, _ in rawFrame(kind: step, data: stepData(session: d, count: 2, dtype: 2, ints: [-1, 0])) },
    HostileCase("step with metadata", .error(.badRequest)) { mine, _, _ in rawFrame(kind: step, meta: json("{}"), data: stepData(session: mine, count: 2, floats: [0, 0, 0, 0])) },
    HostileCase("reset an instance out of range", .error(.badRequest)) { mine, _, _ in rawFrame(kind: MessageKind.reset.rawValue, meta: json(#"{"session":\#(mine),"instances":[5]}"#)) },
    HostileCase("reset with seeds that do not match the instances", .error(.badRequest)) { mine, _, _ in rawFrame(kind: MessageKind.reset.rawValue, meta: json(#"{"session":\#(mine),"instances":[0],"seeds":[1,2]}"#)) },
    HostileCase("set_task with an unknown parameter", .error(.unknownParameter)) { mine, _, _ in rawFrame(kind: MessageKind.setTask.rawValue, meta: json(#"{"session":\#(mine),"params":{"nope":1}}"#)) },
    HostileCase("close an unknown session", .error(.unknownSession)) { _, _, _ in rawFrame(kind: MessageKind.close.rawValue, meta: json(#"{"session":4000000000}"#)) },
    HostileCase("close with a negative session id", .error(.badRequest)) { _, _, _ in rawFrame(kind: MessageKind.close.rawValue, meta: json(#"{"session":-1}"#)) },
    HostileCase("observe an unknown session", .error(.unknownSession)) { _, _, _ in rawFrame(kind: MessageKind.observe.rawValue, meta: json(#"{"session":4000000000}"#)) },
    HostileCase("status with metadata keys", .error(.badRequest)) { _, _, _ in rawFrame(kind: MessageKind.status.rawValue, meta: json(#"{"verbose":true}"#)) },
    HostileCase("a second hello", .error(.badRequest)) { _, _, _ in rawFrame(kind: 1, meta: json(#"{"protocol":[1,0]}"#)) },
    HostileCase("a request before hello", greet: false, .error(.handshakeRequired)) { _, _, _ in rawFrame(kind: 3) },
    HostileCase("hello with another major version", greet: false, .fatal(.versionMismatch)) { _, _, _ in rawFrame(kind: 1, meta: json(#"{"protocol":[2,0]}"#)) },
    HostileCase("hello with a malformed version", greet: false, .error(.badRequest)) { _, _, _ in rawFrame(kind: 1, meta: json(#"{"protocol":"1.0"}"#)) },
]

@Suite("Malformed and hostile input", .serialized)
struct HostileInputTests {
    @Test("every hostile input gets the right error or a clean close, and the server keeps serving")
    func corpus() async throws {
        #expect(hostileCases.count >= 30)
        let server = try await TestServer()
        // A bystander with a session of its own, stepped between cases.
        let bystander = try server.connect("bystander")
        let other = try bystander.open(OpenRequest(world: "pendulum", batch: 2, seed: 1))
        let reference = try localBatch("pendulum", count: 2, seed: 1)
        for c in hostileCases {
            let conn = try MetaSimConnection(socketPath: server.path, client: "hostile", greet: c.greet)
            var mine: UInt32 = 0, discrete: UInt32 = 0
            if c.greet {
                mine = try conn.open(OpenRequest(world: "lunar-lander", batch: 2, seed: 2)).id
                discrete = try conn.open(OpenRequest(world: "lunar-lander-discrete", batch: 2, seed: 2)).id
            }
            try conn.sendRaw(c.bytes(mine, discrete, other.id))
            switch c.outcome {
            case .error(let code):
                let reply = try conn.receive()
                #expect(reply.isError, "\(c.name): expected an error response")
                let error = try reply.meta.withUnsafeBytes { try MetaCoding.decodeReply(ErrorReply.self, from: $0) }
                #expect(error.code == code, "\(c.name): \(error.message)")
                #expect(!error.fatal, "\(c.name)")
                // Still usable: a ping on the same connection (after hello where there was none).
                if !c.greet { _ = try conn.request(.hello, meta: HelloRequest(), as: HelloReply.self) }
                #expect(try conn.ping([9]) == [9], "\(c.name): connection no longer usable")
            case .fatal(let code):
                let reply = try conn.receive()
                let error = try reply.meta.withUnsafeBytes { try MetaCoding.decodeReply(ErrorReply.self, from: $0) }
                #expect(error.code == code, "\(c.name): \(error.message)")
                #expect(error.fatal, "\(c.name)")
                #expect(throws: ClientError.self, "\(c.name): the server should close the connection") { _ = try conn.receive() }
            case .clientDisconnects:
                break
            }
            // The bystander is unaffected: its session steps on, identical to in-process.
            try other.step([0.3, -0.7])
            reference.actions[0] = 0.3; reference.actions[1] = -0.7
            reference.step()
            #expect(other.observations == Array(reference.observations), "\(c.name): bystander diverged")
        }
        // Every hostile connection's sessions were freed when it went away.
        try await _Concurrency.Task.sleep(for: .milliseconds(200))
        let status = try bystander.status()
        #expect(status.sessions <= 1 + 2)  // the bystander's and at most the last connection's two
        try await server.stop()
    }

    @Test("a rejected step changes nothing: the session goes on as if it never came")
    func rejectedStepHasNoEffect() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        let s = try c.open(OpenRequest(world: "lunar-lander", batch: 2, seed: 9))
        let local = try localBatch("lunar-lander", count: 2, seed: 9)
        for k in 0..<20 {
            if k % 3 == 0 {
                #expect(throws: ClientError.self) { try s.step([0.1, .nan, 0.2, 0.3]) }
            }
            let a: [Float] = [0.5, Float(k % 5) * 0.2 - 0.4, -0.3, 0.9]
            try s.step(a)
            for i in 0..<4 { local.actions[i] = a[i] }
            local.step()
            #expect(s.observations == Array(local.observations))
        }
        try await server.stop()
    }

    @Test("a client that disconnects has its sessions freed")
    func disconnectFreesSessions() async throws {
        let server = try await TestServer()
        let watcher = try server.connect()
        do {
            let c = try server.connect()
            _ = try c.open(OpenRequest(world: "bipedal-walker", batch: 8))
            _ = try c.open(OpenRequest(world: "cartpole", batch: 3))
            #expect(try watcher.status().sessions == 2)
            #expect(try watcher.status().instances == 11)
        }
        var sessions = -1
        for _ in 0..<100 {
            sessions = try watcher.status().sessions
            if sessions == 0 { break }
            try await _Concurrency.Task.sleep(for: .milliseconds(20))
        }
        #expect(sessions == 0)
        try await server.stop()
    }

    @Test("connections beyond the limit get server_busy; the others are served")
    func connectionLimit() async throws {
        let server = try await TestServer { $0.maxConnections = 4 }
        // The start-up probe's connection may still be closing: wait until it is gone.
        let first = try server.connect()
        while try first.status().connections > 1 { try await _Concurrency.Task.sleep(for: .milliseconds(10)) }
        let held = try [first] + (0..<3).map { _ in try server.connect() }
        let error = #expect(throws: ClientError.self) { _ = try server.connect() }
        #expect(error?.code == .serverBusy, "\(String(describing: error))")
        #expect(try held[0].ping([1]) == [1])
        try await server.stop()
    }
}

@Suite("Randomized frames")
struct RandomFrameTests {
    @Test("3,000 random frames (mutated valid requests) never take the server down")
    func mutatedFrames() async throws {
        let server = try await TestServer()
        let bystander = try server.connect("bystander")
        var rng = SeededGenerator(seed: 2026)
        let valid: [(UInt16, String)] = [
            (MessageKind.open.rawValue, #"{"world":"pendulum","batch":2,"seed":1}"#),
            (MessageKind.reset.rawValue, #"{"session":1,"instances":[0],"seeds":[3]}"#),
            (MessageKind.setTask.rawValue, #"{"session":1,"task_seed":4}"#),
            (MessageKind.observe.rawValue, #"{"session":1}"#),
            (MessageKind.close.rawValue, #"{"session":1}"#),
            (MessageKind.status.rawValue, ""),
            (MessageKind.listWorlds.rawValue, ""),
        ]
        var conn = try server.connect("fuzz")
        var s = try conn.open(OpenRequest(world: "lunar-lander", batch: 2))
        for k in 0..<3000 {
            var bytes: [UInt8]
            if Bool.random(using: &rng) {
                let (kind, meta) = valid[Int.random(in: 0..<valid.count, using: &rng)]
                bytes = rawFrame(kind: kind, id: UInt32(k + 1), meta: json(meta))
            } else {
                let floats = (0..<4).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
                bytes = rawFrame(kind: MessageKind.step.rawValue, id: UInt32(k + 1), data: stepData(session: s.id, count: 2, floats: floats))
            }
            // Flip a few bytes after the length prefix (the prefix itself is tested elsewhere).
            for _ in 0..<Int.random(in: 0...3, using: &rng) where bytes.count > 4 {
                bytes[Int.random(in: 4..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            try conn.sendRaw(bytes)
            // Exactly one answer per frame (or the connection was closed by a fatal one).
            if let answer = try Self.answer(conn) {
                #expect(answer.header.flags.contains(.response))
                if answer.isError, (try? answer.meta.withUnsafeBytes { try MetaCoding.decodeReply(ErrorReply.self, from: $0) })?.fatal == true {
                    #expect(throws: ClientError.self) { _ = try conn.receive() }
                    conn = try server.connect("fuzz")
                    s = try conn.open(OpenRequest(world: "lunar-lander", batch: 2))
                }
            } else {
                Issue.record("frame \(k): the server closed the connection without an answer")
                conn = try server.connect("fuzz")
                s = try conn.open(OpenRequest(world: "lunar-lander", batch: 2))
            }
        }
        #expect(try bystander.ping([1, 2]) == [1, 2])
        let other = try bystander.open(OpenRequest(world: "cartpole", batch: 1))
        _ = s
        try other.step(indices: [1])
        try await server.stop()
    }

    /// The next response (skipping events), or nil if the connection closed first.
    static func answer(_ conn: MetaSimConnection) throws(ClientError) -> ReceivedFrame? {
        do {
            var answer = try conn.receive()
            while answer.isEvent { answer = try conn.receive() }
            return answer
        } catch {
            if case .closed = error { return nil }
            throw error
        }
    }
}
