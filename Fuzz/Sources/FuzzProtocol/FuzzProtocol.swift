// libFuzzer target: the daemon's request handling from raw bytes on its socket. Each input is
// the byte stream one client sends: a real `Connection` of a real `ServerCore` (the catalog in
// worlds/, a few shipped policies) reads it from a Unix socket pair through its `FrameReader`,
// decodes every frame and its metadata (MetaCoding, the step and record layouts) and answers
// in its own loop, until the client's end is closed; the answers are read and dropped. Limits
// are small (batch 8, 2 threads, 1 adapt step, 4 episodes) so that one input stays cheap. Each
// input has a server of its own (sharing the loaded catalog), so session ids start at 1.
//
// The same bytes are also parsed as a client parses answers (StepReplyLayout.parse).
//
// Fuzz/corpus/FuzzProtocol holds request streams written by Fuzz/make_corpus.py; they start with
// `hello`, as every connection must.
// `make fuzz` builds it for libFuzzer; a plain build replays the inputs it is given (FuzzSupport).
// See docs/fuzzing.md.
#if FUZZING || DEBUG
import FuzzSupport
import Foundation
import Logging
import MetaLearning
import MetaSimProtocol
@testable import MetaSimServer
#if canImport(Glibc)
import Glibc
#endif

/// The repository (worlds/, policies/): METASIM_ROOT, or where this file was compiled.
let root: String = ProcessInfo.processInfo.environment["METASIM_ROOT"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

/// The process's own policies folder (`save_policy` writes there).
let policyFolder: String = {
    var template = Array("/tmp/metasim-fuzz-XXXXXX".utf8CString)
    guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
        fatalError("mkdtemp failed")
    }
    return dir
}()

/// The catalog, policies and limits, loaded once; each input gets a fresh `ServerCore` over them
/// (session ids then start at 1, so that a stream can name the sessions it opens).
let shared: (configuration: ServerConfiguration, directory: WorldDirectory, policies: PolicyCatalog) = {
    // Client-saved policies go to a private folder seeded with a few shipped ones (removed at exit).
    let dir = policyFolder
    atexit { try? FileManager.default.removeItem(atPath: policyFolder) }
    for name in ["point-nav", "cartpole", "track-racer"] {
        try? FileManager.default.copyItem(atPath: "\(root)/policies/\(name).safetensors", toPath: "\(dir)/\(name).safetensors")
    }
    var configuration = ServerConfiguration(socketPath: "\(dir)/unused.sock", worldsRoot: "\(root)/worlds")
    configuration.policiesRoot = dir
    configuration.maxFrame = 1 << 20
    configuration.maxSessionsPerConnection = 4
    configuration.maxBatch = 8
    configuration.maxThreadsPerSession = 2
    configuration.idleTimeout = nil
    configuration.maxAdaptations = 1
    configuration.maxAdaptSteps = 1
    configuration.maxAdaptEpisodes = 2
    configuration.maxRunEpisodes = 4
    configuration.maxRecordedTransitions = 10_000
    let directory = WorldDirectory(root: "\(root)/worlds", logger: logger)
    guard !directory.ordered.isEmpty else { fatalError("no worlds under \(root)/worlds (set METASIM_ROOT)") }
    let policies: PolicyCatalog
    do { policies = try PolicyCatalog.load(folder: dir, logger: logger) } catch { fatalError("policies: \(error)") }
    return (configuration, directory, policies)
}()

/// METASIM_FUZZ_TRACE=1: print every answer's header and metadata (to see what an input does).
let trace = ProcessInfo.processInfo.environment["METASIM_FUZZ_TRACE"] != nil

/// The client's end: writes the input and reads the answers (so that neither side blocks the
/// other), then closes its sending side once every whole frame it sent has been answered (or
/// after a second without answers): the connection then sees the end of its stream, as when a
/// client hangs up, and returns. Waiting for the answers first lets adaptations finish instead of
/// being cancelled by the hang-up.
final class Client: @unchecked Sendable {
    let fd: Int32
    let bytes: [UInt8]
    let done = DispatchSemaphore(value: 0)
    var received: [UInt8] = []

    init(fd: Int32, bytes: [UInt8]) {
        self.fd = fd
        self.bytes = bytes
    }

    /// Answers the input asks for: one per whole frame, and one for a length the stream cannot
    /// continue after (the connection answers it and closes).
    var expectedAnswers: Int {
        var at = 0, frames = 0
        while at + 4 <= bytes.count {
            let length = bytes.withUnsafeBytes { Int($0.loadLE(UInt32.self, at: at)) }
            if length > shared.configuration.maxFrame || length < FrameHeader.size { return frames + 1 }
            guard at + 4 + length <= bytes.count else { break }
            frames += 1
            at += 4 + length
        }
        return frames
    }

    func run() {
        defer { done.signal() }
        let expected = expectedAnswers
        var sent = 0, answers = 0, closed = false
        var reader = FrameReader(maxFrame: Int(UInt32.max))
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        while true {
            if !closed, sent == bytes.count, answers >= expected {
                shutdown(fd, Int32(SHUT_WR))
                closed = true
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN) | (sent < bytes.count ? Int16(POLLOUT) : 0), revents: 0)
            let ready = poll(&p, 1, sent < bytes.count || closed ? -1 : 1000)
            if ready < 0, errno != EINTR { return }
            if ready == 0, !closed {
                shutdown(fd, Int32(SHUT_WR))
                closed = true
            }
            if sent < bytes.count, p.revents & Int16(POLLOUT) != 0 {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                if n > 0 { sent += n } else if n < 0, errno != EAGAIN, errno != EINTR { return }
            }
            if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let space = reader.spaceForReceive()
                let n = recv(fd, space.baseAddress!, space.count, 0)
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return }
                guard n > 0 else { continue }
                if trace { received += UnsafeRawBufferPointer(rebasing: space[..<n]) }
                reader.didReceive(n)
                while let frame = try? reader.next() {
                    if frame.header.flags.contains(.response) { answers += 1 }
                }
            }
        }
    }
}

func printAnswers(_ bytes: [UInt8]) {
    var at = 0
    while at + 16 <= bytes.count {
        let length = bytes.withUnsafeBytes { Int($0.loadLE(UInt32.self, at: at)) }
        guard at + 4 + length <= bytes.count else { break }
        let header = bytes.withUnsafeBytes { FrameHeader(UnsafeRawBufferPointer(rebasing: $0[(at + 4)...])) }
        let meta = bytes[(at + 16)..<min(at + 16 + Int(header.metaLength), at + 4 + length)]
        var line = "  <- kind \(header.kind) id \(header.id) flags \(header.flags.rawValue): \(String(decoding: meta.prefix(300), as: UTF8.self))"
        line += " [+\(length - 12 - meta.count) bytes]\n"
        FileHandle.standardError.write(Data(line.utf8))
        at += 4 + length
    }
}

/// The client's side of the same bytes, read as answers from a server: the clients parse step
/// reply data with `StepReplyLayout.parse`, which must refuse what does not fit, never trap.
func parseAsReplies(_ input: UnsafeRawBufferPointer) {
    var reader = FrameReader(maxFrame: FrameHeader.defaultMaxFrame)
    var at = 0
    while at < input.count {
        let space = reader.spaceForReceive()
        let n = min(space.count, input.count - at)
        space.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[at..<(at + n)]))
        reader.didReceive(n)
        at += n
        do {
            while let frame = try reader.next() {
                if let (_, layout) = StepReplyLayout.parse(frame.data) { precondition(layout.size == frame.data.count) }
            }
        } catch { return }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    parseAsReplies(UnsafeRawBufferPointer(start: data, count: size))
    var pair: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
        fatalError("socketpair: \(errno)")
    }
    let client = Client(fd: pair[1], bytes: Array(UnsafeBufferPointer(start: data, count: size)))
    let thread = Thread { client.run() }
    thread.start()
    // The server's side, as the accepting loop starts it: the connection closes its socket when done.
    let core = ServerCore(configuration: shared.configuration, directory: shared.directory, policies: shared.policies, logger: logger)
    let connection = Connection(fd: pair[0], core: core, logger: logger)
    guard core.register(connection) else { fatalError("connection limit") }
    connection.run()
    client.done.wait()
    close(pair[1])
    if trace { printAnswers(client.received) }
    return 0
}
#endif

@main enum FuzzProtocol {
    static func main() {
#if FUZZING || DEBUG
        fuzzMain(fuzzProtocol)
#else
        // Connection is internal to MetaSimServer: this target needs a testable (debug or fuzzing) build.
        print("FuzzProtocol: build it in debug (`swift build`) to replay inputs, or with `make fuzz` (docs/fuzzing.md)")
#endif
    }
}
