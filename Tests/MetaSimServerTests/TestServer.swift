import Foundation
import Logging
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Testing

/// The repository's world catalog.
let worldsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("worlds").path

/// A fresh socket path in a private temporary folder (short enough for sun_path).
func temporarySocketPath(_ name: String = "d") -> String {
    let dir = "/tmp/msd-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir + "/\(name).sock"
}

/// A real server on a temporary socket, in this process; `stop()` drains it like SIGTERM.
final class TestServer: @unchecked Sendable {
    let path: String
    let server: MetaSimServer
    private var runTask: _Concurrency.Task<Void, any Error>?

    init(configure: (inout ServerConfiguration) -> Void = { _ in }) async throws {
        path = temporarySocketPath()
        var configuration = ServerConfiguration(socketPath: path, worldsRoot: worldsRoot)
        configure(&configuration)
        var logger = Logger(label: "test-metasimd")
        logger.logLevel = .warning
        server = MetaSimServer(configuration: configuration, logger: logger)
        let server = self.server
        runTask = _Concurrency.Task { try await server.run() }
        // Ready when a client can say hello (waiting without blocking a cooperative thread).
        let start = Date()
        while true {
            do {
                _ = try MetaSimConnection(socketPath: path)
                break
            } catch {
                if Date().timeIntervalSince(start) > 60 { throw error }
                try await _Concurrency.Task.sleep(for: .milliseconds(20))
            }
        }
    }

    func connect(_ name: String = "test") throws -> MetaSimConnection {
        try MetaSimConnection(socketPath: path, client: name)
    }

    func stop() async throws {
        server.shutdown()
        try await runTask?.value
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
    }
}

/// Random actions for a session, from a seeded generator (the same on both sides of a comparison).
func randomActions(_ specs: WorldSpecs, count: Int, rng: inout SeededGenerator) -> [Float] {
    if let n = specs.discreteActions {
        return (0..<count).map { _ in Float(Int.random(in: 0..<n, using: &rng)) }
    }
    var out: [Float] = []
    for _ in 0..<count {
        for j in 0..<specs.action.count {
            out.append(Float(Double.random(in: specs.action.low[j]...specs.action.high[j], using: &rng)))
        }
    }
    return out
}

/// The same world stepped in this process, for comparison with the server's results.
func localBatch(_ world: String, count: Int, seed: UInt64, taskSeed: UInt64? = nil, autoReset: Bool = true) throws -> WorldBatch {
    let d = try WorldCatalog.resolve(world, root: worldsRoot)
    let task = try taskSeed.map { try d.sampleTask(seed: $0) } ?? d.nominalTask()
    return try WorldBatch(program: WorldProgram(definition: d, task: task), count: count, threads: 1, seed: seed, autoReset: autoReset)
}

/// Steps the remote session with `actions` (floats; indices for discrete worlds).
func step(_ s: RemoteSession, _ actions: [Float]) throws {
    if s.info.discreteActions != nil { try s.step(indices: actions.map { Int32($0) }) } else { try s.step(actions) }
}
