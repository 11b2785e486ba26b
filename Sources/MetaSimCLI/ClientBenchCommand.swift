import ArgumentParser
import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

/// `metasim client bench`: stepping over the socket against stepping in process, with the same
/// world, batch, threads, seed and actions, and a raw Unix-socket echo of the same message sizes
/// as the floor of any round trip. Medians of `--repeat` runs, in one process. Within a run the
/// two sides step in alternating blocks (`--block` batch steps; ABBA order), so that the
/// machine's drifts in speed, which last longer than a block, fall on both alike.
struct ClientBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Steps per second over the socket against in-process stepping and a raw socket echo.")
    @OptionGroup var client: ClientOptions
    @OptionGroup var catalog: CatalogOptions
    @Option(help: "Catalog world name (the server must have it too).") var world: String
    @Option(help: "Instances per session.") var batch = 1
    @Option(help: "Threads stepping the batch.") var threads = 1
    @Option(help: "Environment steps timed per run (over all instances).") var steps = 100_000
    @Option(help: "Runs; the median is reported.") var `repeat` = 3
    @Option(help: "Batch steps per block: in a run, in-process and socket stepping alternate in blocks of this many (ABBA order; 0: one block each).")
    var block = 100
    @Option(help: "Batch seed.") var seed: UInt64 = 0
    @Flag(help: "Print one JSON object.") var json = false

    struct Report: Encodable {
        let world: String
        let batch: Int
        let threads: Int
        let steps: Int
        /// How the client's step reads waited: "sleep", "anticipate" (the default: sleeping until
        /// shortly before the reply is due, where that pays), or "look" (--spin-microseconds).
        let wait: String
        let in_process_steps_per_second: Double
        let socket_steps_per_second: Double
        /// The median over runs of each run's in-process time over its socket time (the two
        /// measured in alternating blocks).
        let socket_over_in_process: Double
        let step_microseconds: Double
        let round_trip_microseconds: Double
        let echo_round_trip_microseconds: Double
        /// The same echo with both ends looking for the next message for up to 500 µs before
        /// sleeping (as a client with --spin-microseconds 500 does): the floor without wake-ups.
        let looking_echo_round_trip_microseconds: Double
        /// The same echo between two threads of one process.
        let thread_echo_round_trip_microseconds: Double
        let ping_round_trip_microseconds: Double
        /// round trip / (2 × echo + step), against the echo that waits as the client does
        /// (looking with --spin-microseconds, else sleeping): the single-instance target is at most 1.
        let round_trip_budget_ratio: Double
    }

    func run() throws {
        let d = try catalog.definition(world)
        let program: WorldProgram
        do { program = try WorldProgram(definition: d, task: try d.nominalTask()) } catch { throw CLIError(error.description) }
        let local: WorldBatch
        do { local = try WorldBatch(program: program, count: batch, threads: threads, seed: seed) } catch { throw CLIError(error.description) }
        let discrete = local.specs.discreteActions != nil
        var policy = BaselinePolicy(.random, specs: local.specs, seed: seed)
        let bank: [[Float]] = (0..<64).map { _ in (0..<batch).flatMap { _ in policy.act() } }
        let intBank: [[Int32]] = bank.map { $0.map { Int32($0) } }
        let iterations = max(1, steps / batch)

        let c = try client.connect()
        let s = try call { try c.open(OpenRequest(world: world, batch: batch, threads: threads, seed: seed)) }
        guard s.observations == Array(local.observations) else {
            throw CLIError("the server's first observations differ from in-process ones: different world files?")
        }

        // Both sides take the same actions in the same order (`bank[k & 63]` at batch step k of
        // the run), so the two batches stay in the same states block after block.
        func inProcess(_ steps: Range<Int>) -> Double {
            let t0 = now()
            for k in steps {
                bank[k & 63].withUnsafeBufferPointer { local.actions.baseAddress!.update(from: $0.baseAddress!, count: $0.count) }
                local.step()
            }
            return now() - t0
        }
        func overSocket(_ steps: Range<Int>) throws -> Double {
            let t0 = now()
            for k in steps {
                if discrete { try call { try s.step(indices: intBank[k & 63]) } } else { try call { try s.step(bank[k & 63]) } }
            }
            return now() - t0
        }
        func ping(_ n: Int) throws -> Double {
            let t0 = now()
            for _ in 0..<n { _ = try call { try c.ping() } }
            return now() - t0
        }
        let requestBytes = 4 + 12 + StepRequestLayout(session: 0, count: batch, dtype: discrete ? .int32 : .float32,
                                                      actionSize: local.actionCount).size
        let replyBytes = 4 + 12 + StepReplyLayout(count: batch, observationSize: local.observationCount, ended: 0).size

        var local_t: [Double] = [], socket_t: [Double] = [], echo_t: [Double] = [], looking_echo_t: [Double] = []
        var thread_echo_t: [Double] = [], ping_t: [Double] = []
        /// One run: the time each side took for `iterations` batch steps, stepped in alternating blocks.
        func interleaved() throws -> (local: Double, socket: Double) {
            let size = block > 0 ? block : iterations
            var local = 0.0, remote = 0.0
            for (i, start) in stride(from: 0, to: iterations, by: size).enumerated() {
                let steps = start..<min(start + size, iterations)
                if i % 4 == 0 || i % 4 == 3 {
                    local += inProcess(steps); remote += try overSocket(steps)
                } else {
                    remote += try overSocket(steps); local += inProcess(steps)
                }
            }
            return (local, remote)
        }
        _ = try interleaved()  // warm up
        for _ in 0..<max(1, `repeat`) {
            let (l, r) = try interleaved()
            local_t.append(l)
            socket_t.append(r)
            echo_t.append(try EchoProcess.roundTrips(iterations, request: requestBytes, reply: replyBytes, look: false))
            looking_echo_t.append(try EchoProcess.roundTrips(iterations, request: requestBytes, reply: replyBytes, look: true))
            thread_echo_t.append(try EchoPair.roundTrips(iterations, request: requestBytes, reply: replyBytes))
            ping_t.append(try ping(iterations))
        }
        // The same actions in the same order: the two batches end where they started together.
        guard s.observations == Array(local.observations) else {
            throw CLIError("the server's observations diverged from the in-process ones after the runs")
        }
        try call { try s.close() }
        let n = Double(iterations)
        let stepUS = median(local_t) / n * 1e6
        let rttUS = median(socket_t) / n * 1e6
        let echoUS = median(echo_t) / n * 1e6
        let lookingEchoUS = median(looking_echo_t) / n * 1e6
        let w = s.waits
        let wait = c.spinMicroseconds > 0 ? "look \(c.spinMicroseconds) µs"
            : c.anticipatesSteps ? "anticipate (of \(w.total) reads, \(w.anticipated) woke on their timer and found the reply, \(w.early) were woken by it, \(w.late) late, \(w.slept) slept)" : "sleep"
        let report = Report(world: world, batch: batch, threads: threads, steps: iterations * batch, wait: wait,
                            in_process_steps_per_second: n * Double(batch) / median(local_t),
                            socket_steps_per_second: n * Double(batch) / median(socket_t),
                            socket_over_in_process: median(zip(local_t, socket_t).map { $0 / $1 }),
                            step_microseconds: stepUS, round_trip_microseconds: rttUS, echo_round_trip_microseconds: echoUS,
                            looking_echo_round_trip_microseconds: lookingEchoUS,
                            thread_echo_round_trip_microseconds: median(thread_echo_t) / n * 1e6,
                            ping_round_trip_microseconds: median(ping_t) / n * 1e6,
                            round_trip_budget_ratio: rttUS / (2 * (c.spinMicroseconds > 0 ? lookingEchoUS : echoUS) + stepUS))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("""
                \(world), batch \(batch), \(threads) thread(s), \(report.steps) steps, median of \(`repeat`), \(block > 0 ? "blocks of \(block) batch steps" : "one block each"), reads: \(wait)
                  in process      \(Int(report.in_process_steps_per_second)) steps/s  (\(fmt(stepUS)) µs per batch step)
                  over the socket \(Int(report.socket_steps_per_second)) steps/s  (\(fmt(rttUS)) µs per round trip)
                  socket / in-process: \(fmt(report.socket_over_in_process))
                  raw echo of the same sizes: \(fmt(echoUS)) µs to another process (\(fmt(lookingEchoUS)) µs looking before sleeping), \(fmt(report.thread_echo_round_trip_microseconds)) µs between threads; protocol ping: \(fmt(report.ping_round_trip_microseconds)) µs
                  round trip / (2 × echo + step), the echo waiting as this client does: \(fmt(report.round_trip_budget_ratio))
                """)
        }
    }

    private func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    private func fmt(_ x: Double) -> String { String(format: "%.2f", x) }
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// `metasim client echo-server`: the floor of a daemon round trip, a blocking echo over a Unix
/// socket in another process (as the daemon is): reads `request` bytes, writes `reply` bytes back,
/// for one connection (with `--look`, each read looks for its bytes before sleeping). Used by
/// `metasim client bench`.
struct ClientEchoServer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-server", shouldDisplay: false)
    @Option var socket: String
    @Option var request: Int
    @Option var reply: Int
    @Flag var look = false

    func run() throws {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(socket.utf8)) }
        unlink(socket)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0, listen(fd, 1) == 0 else { throw CLIError("echo-server: cannot listen on \(socket)") }
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        let c = accept(fd, nil, nil)
        unlink(socket)
        let inBuf = UnsafeMutableRawPointer.allocate(byteCount: request, alignment: 16)
        let outBuf = UnsafeMutableRawPointer.allocate(byteCount: reply, alignment: 16)
        while EchoPair.readAll(c, inBuf, request, look: look), EchoPair.writeAll(c, outBuf, reply) {}
        close(c)
        close(fd)
    }
}

/// Runs `metasim client echo-server` as a child process and times `n` round trips to it.
enum EchoProcess {
    static func roundTrips(_ n: Int, request: Int, reply: Int, look: Bool) throws -> Double {
        let path = "/tmp/metasim-echo-\(getpid()).sock"
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        child.arguments = ["client", "echo-server", "--socket", path, "--request", "\(request)", "--reply", "\(reply)"] + (look ? ["--look"] : [])
        let out = Pipe()
        child.standardOutput = out
        try child.run()
        _ = out.fileHandleForReading.availableData  // "ready"
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0 else { child.terminate(); throw CLIError("cannot connect to the echo server") }
        let a = UnsafeMutableRawPointer.allocate(byteCount: request, alignment: 16)
        let b = UnsafeMutableRawPointer.allocate(byteCount: reply, alignment: 16)
        defer { a.deallocate(); b.deallocate() }
        for _ in 0..<min(n, 1000) { _ = EchoPair.writeAll(fd, a, request) && EchoPair.readAll(fd, b, reply, look: look) }  // warm up
        let t0 = now()
        for _ in 0..<n {
            guard EchoPair.writeAll(fd, a, request), EchoPair.readAll(fd, b, reply, look: look) else { throw CLIError("echo failed") }
        }
        let seconds = now() - t0
        close(fd)
        child.waitUntilExit()
        return seconds
    }
}

/// A blocking echo over a Unix stream socket pair between two threads of this process, `request`
/// bytes one way and `reply` bytes back (a lower floor than another process: no address-space switch).
enum EchoPair {
    static func roundTrips(_ n: Int, request: Int, reply: Int) throws -> Double {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw CLIError("socketpair failed") }
        let (a, b) = (fds[0], fds[1])
        let server = Thread {
            let inBuf = UnsafeMutableRawPointer.allocate(byteCount: request, alignment: 16)
            let outBuf = UnsafeMutableRawPointer.allocate(byteCount: reply, alignment: 16)
            defer { inBuf.deallocate(); outBuf.deallocate() }
            for _ in 0..<n {
                guard readAll(b, inBuf, request), writeAll(b, outBuf, reply) else { return }
            }
        }
        server.start()
        let out = UnsafeMutableRawPointer.allocate(byteCount: request, alignment: 16)
        let back = UnsafeMutableRawPointer.allocate(byteCount: reply, alignment: 16)
        defer { out.deallocate(); back.deallocate(); close(a); close(b) }
        let t0 = now()
        for _ in 0..<n {
            guard writeAll(a, out, request), readAll(a, back, reply) else { throw CLIError("echo failed") }
        }
        return now() - t0
    }

    /// Reads `n` bytes; with `look`, each read looks as the daemon and the shipped clients do.
    static func readAll(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int, look: Bool = false) -> Bool {
        var done = 0
        while done < n {
            let r = look ? lookThenReceive(fd, p + done, n - done) : recv(fd, p + done, n - done, 0)
            if r <= 0 { return false }
            done += r
        }
        return true
    }

    /// One recv that looks without sleeping for up to 500 µs (yielding between looks), then blocks.
    static func lookThenReceive(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Int {
        let start = now()
        while now() - start < 500e-6 {
            let r = recv(fd, p, n, Int32(MSG_DONTWAIT))
            if r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK) { return r }
            sched_yield()
        }
        return recv(fd, p, n, 0)
    }

    static func writeAll(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Bool {
        var done = 0
        while done < n {
            let r = send(fd, p + done, n - done, Int32(MSG_NOSIGNAL))
            if r <= 0 { return false }
            done += r
        }
        return true
    }
}
