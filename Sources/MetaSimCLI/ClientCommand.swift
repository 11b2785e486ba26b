import ArgumentParser
import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol

/// `metasim client ...`: a few manual operations against a running metasimd.
struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Talk to a running metasimd over its socket.",
        subcommands: [ClientStatus.self, ClientWorlds.self, ClientPolicies.self, ClientRun.self, ClientBench.self, ClientEchoServer.self])
}

struct ClientOptions: ParsableArguments {
    @Option(help: "The daemon's socket (default: $METASIM_SOCKET, else /run/metasim/metasim.sock).")
    var socket: String?
    @Option(help: "Microseconds a read looks for the reply before sleeping in the kernel (0: do not look first; 500 halves a small round trip when a core is free).")
    var spinMicroseconds = 0
    @Flag(inversion: .prefixedNo, help: "Step reads sleep until shortly before the reply is due, then look, where that shortens the round trip (a core to spare).")
    var anticipate = true

    var path: String { socket ?? ProcessInfo.processInfo.environment["METASIM_SOCKET"] ?? "/run/metasim/metasim.sock" }

    func connect() throws -> MetaSimConnection {
        let c: MetaSimConnection
        do { c = try MetaSimConnection(socketPath: path, client: "metasim-cli") } catch { throw CLIError(error.description) }
        c.spinMicroseconds = max(0, spinMicroseconds)
        c.anticipatesSteps = anticipate
        return c
    }
}

/// Runs a client call, turning its error into a CLI error.
func call<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as ClientError { throw CLIError(error.description) }
}

struct ClientStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The server's status.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        let c = try client.connect()
        let s = try call { try c.status() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(s), as: UTF8.self))
    }
}

struct ClientWorlds: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "worlds", abstract: "The server's world catalog.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        let c = try client.connect()
        var table = TextTable(["world", "kind", "obs", "action", "family parameters"])
        for w in try call({ try c.listWorlds() }) {
            table.add([w.name, w.kind, "\(w.observation.count)", w.discreteActions.map { "discrete(\($0))" } ?? "\(w.action.count)",
                       w.parameters.map { "\($0.name) ~ \($0.distribution)" }.joined(separator: ", ")])
        }
        print(table.render(), terminator: "")
    }
}

struct ClientPolicies: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policies", abstract: "The policies the server serves (list_policies), and the files it rejected.")
    @OptionGroup var client: ClientOptions

    func run() throws {
        let c = try client.connect()
        let list = try call { try c.listPolicies() }
        var table = TextTable(["policy", "world", "algorithm", "inner loop", "horizon", "use"])
        for p in list.policies {
            let algorithm = p.algorithm + (p.proximal.map { " (ProMP: \($0.epochs) epochs, clip \($0.clip))" } ?? "")
            let rates = p.inner.learningRates.map { String(format: "%.4g", $0) }.joined(separator: ", ")
            let use = p.adaptedTaskSeed.map { "adapted to task \($0)" }
                ?? (p.adaptFirst == true ? "adapt first" : p.adaptFirst == false ? "act as is" : "-")
            let trained = p.inner.trainedSteps.map { " (meta-trained for \($0))" } ?? ""
            table.add([p.name, p.world, algorithm, "\(p.inner.steps) × \(p.inner.episodes) episodes, lr \(rates)" + trained,
                       p.trainingHorizon.map(String.init) ?? "world's", use])
        }
        print(table.render(), terminator: "")
        for r in list.rejected { print("rejected \(r.file): \(r.error)") }
    }
}

struct ClientRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Open a world on the server and step random episodes.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Catalog world name.") var world: String
    @Option(help: "Episodes to finish.") var episodes = 1
    @Option(help: "Instances in the session.") var batch = 1
    @Option(help: "Batch (episode) seed.") var seed: UInt64 = 0
    @Option(name: .customLong("task-seed"), help: "Sample the task from this seed (default: nominal).") var taskSeed: UInt64?

    func run() throws {
        let c = try client.connect()
        let s = try call { try c.open(OpenRequest(world: world, batch: batch, taskSeed: taskSeed, seed: seed)) }
        var rng = SeededGenerator(seed: seed)
        var finished = 0
        var table = TextTable(["episode", "instance", "return", "length"])
        while finished < episodes {
            if let n = s.info.discreteActions {
                try call { try s.step(indices: (0..<s.count).map { _ in Int32.random(in: 0..<Int32(n), using: &rng) }) }
            } else {
                let low = s.info.action.lowBounds, high = s.info.action.highBounds
                var actions: [Float] = []
                for _ in 0..<s.count {
                    for j in 0..<s.actionSize { actions.append(Float(Double.random(in: low[j]...high[j], using: &rng))) }
                }
                try call { try s.step(actions) }
            }
            for (k, i) in s.endedIndices.enumerated() where finished < episodes {
                finished += 1
                table.add(["\(finished)", "\(i)", String(format: "%.3f", s.endedReturns[k]), "\(s.endedLengths[k])"])
            }
        }
        try call { try s.close() }
        print("world \(world) on \(client.path): session \(s.id), \(s.count) instances")
        print(table.render(), terminator: "")
    }
}
