import Foundation
import MetaSimClient

/// A metasimd started by the CLI on a private socket (the demo, the policy benchmark), stopped
/// with SIGTERM (it drains and exits 0).
final class PrivateDaemon {
    let folder: String
    let socket: String
    private let process = Process()
    private var stopped = false

    init(binary: String?, worlds: String, policies: String) throws {
        let path = binary ?? DemoCommand.sibling("metasimd")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CLIError("\(path): metasimd is not there (build it: swift build -c release --product metasimd, or give --daemon)")
        }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("metasim-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        socket = folder + "/metasim.sock"
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--socket", socket, "--worlds", worlds, "--policies", policies, "--log-level", "warning", "--idle-timeout", "0"]
        try process.run()
    }

    deinit {
        if !stopped {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func connect(_ client: String) throws -> MetaSimConnection {
        do { return try MetaSimConnection(socketPath: socket, client: client, retryFor: 30) } catch { throw CLIError(error.description) }
    }

    /// SIGTERM, then waits; throws unless it exited 0.
    func stop() throws {
        process.terminate()
        process.waitUntilExit()
        stopped = true
        guard process.terminationStatus == 0 else { throw CLIError("metasimd exited with status \(process.terminationStatus)") }
    }
}
