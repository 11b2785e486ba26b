import ArgumentParser
import Foundation
import Logging
import MetaSimServer
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// `metasimd`: the metasim daemon. Serves the world catalog over protocol v1 on a Unix-domain
/// socket (docs/protocol.md). Foreground; logs to stderr; SIGTERM or SIGINT drains and exits 0.
@main
struct MetaSimDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metasimd",
        abstract: "The metasim daemon: worlds served over a Unix-domain socket (protocol v1).",
        version: MetaSimServer.version
    )

    static let defaultSocket = "/run/metasim/metasim.sock"
    static let defaultConfig = "/etc/metasim/metasimd.yaml"

    @Option(help: "The socket to listen on (default: the configuration's, else \(defaultSocket)).")
    var socket: String?

    @Option(help: "The world catalog folder (default: the configuration's, else the catalog search).")
    var worlds: String?

    @Option(help: "Configuration file (default: \(defaultConfig) if it exists).")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Close connections idle this many seconds (0: never).")
    var idleTimeout: Double?

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of: \(ConfigurationFile.logLevels.joined(separator: ", "))")
        }
        if let idleTimeout, idleTimeout < 0 { throw ValidationError("--idle-timeout must be >= 0") }
    }

    func run() async throws {
        var file = ConfigurationFile()
        let configPath = config ?? (FileManager.default.fileExists(atPath: Self.defaultConfig) ? Self.defaultConfig : nil)
        if let configPath {
            do { file = try ConfigurationFile.load(contentsOfFile: configPath) } catch {
                FileHandle.standardError.write(Data((error.description + "\n").utf8))
                throw ExitCode(78)  // EX_CONFIG
            }
        }
        var settings = ServerConfiguration(socketPath: Self.defaultSocket)
        file.apply(to: &settings)
        if let socket { settings.socketPath = socket }
        if let worlds { settings.worldsRoot = worlds }
        if let idleTimeout { settings.idleTimeout = idleTimeout == 0 ? nil : .milliseconds(Int64(idleTimeout * 1000)) }

        let level = Logger.Level(rawValue: logLevel ?? file.logLevel ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "metasimd")
        raiseFileLimit(logger: logger)
        let server = MetaSimServer(configuration: settings, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch let error as ServerError {
            logger.critical("\(error.description)")
            throw ExitCode(1)
        }
    }
}

/// Each connection is a file descriptor: raise the soft limit to the hard one so the daemon can
/// hold its configured connections (the soft limit is often 1024).
func raiseFileLimit(logger: Logger) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
    let old = limit.rlim_cur
    limit.rlim_cur = limit.rlim_max
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
        logger.debug("open file limit raised from \(old) to \(limit.rlim_cur)")
    }
}
