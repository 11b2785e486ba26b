import ArgumentParser
import Foundation
import Logging
import MetaSimServer
import MetaSimWeb
import ServiceLifecycle
import UnixSignals
#if canImport(Glibc)
import Glibc
#endif

/// `metasimd`: the metasim daemon. Serves the world catalog over protocol v1 on a Unix-domain
/// socket (docs/protocol.md), its own or one inherited from systemd (socket activation).
/// Foreground; logs to stderr (journald-friendly); tells systemd about readiness, status,
/// reloads and stopping (`NOTIFY_SOCKET`) and pings its watchdog; SIGHUP reloads the
/// configuration, the catalog and the policies folder; SIGTERM or SIGINT drains and exits 0.
/// See docs/operations.md.
@main
struct MetaSimDaemon: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metasimd",
        abstract: "The metasim daemon: worlds and meta-policies served over a Unix-domain socket (protocol 1.1).",
        discussion: """
            Under systemd: socket activation (LISTEN_FDS, a socket named "metasim" or the only one), \
            readiness, status and watchdog (NOTIFY_SOCKET, WATCHDOG_USEC). SIGHUP reloads the \
            configuration, the world catalog and the policies folder; SIGTERM drains and exits 0.
            """,
        version: MetaSimServer.version
    )

    static let defaultSocket = "/run/metasim/metasim.sock"
    static let defaultConfig = "/etc/metasim/metasimd.yaml"

    @Option(help: "The socket to listen on when not socket-activated (default: the configuration's, else \(defaultSocket)).")
    var socket: String?

    @Option(help: "The world catalog folder (default: the configuration's, else the catalog search).")
    var worlds: String?

    @Option(help: "The policies folder: its NAME.safetensors checkpoints are served (absent: none) (default: the configuration's, else \(ServerConfiguration.defaultPolicies)).")
    var policies: String?

    @Option(help: "Where save_policy writes, served beside the policies folder (default: the configuration's, else \(ServerConfiguration.defaultSavedPolicies)).")
    var savedPolicies: String?

    @Option(help: "Configuration file (default: \(defaultConfig) if it exists); read again on SIGHUP.")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Close connections idle this many seconds (0: never).")
    var idleTimeout: Double?

    @Option(help: "Serve the web view and /metrics on HOST:PORT (default: the configuration's http section; off).")
    var http: String?

    @Flag(help: "Allow --http on an address other than loopback (logged as a warning).")
    var httpAllowRemote = false

    func validate() throws {
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of: \(ConfigurationFile.logLevels.joined(separator: ", "))")
        }
        if let idleTimeout, idleTimeout < 0 { throw ValidationError("--idle-timeout must be >= 0") }
        if let http, HTTPSettings.parse(http) == nil { throw ValidationError("--http takes HOST:PORT (127.0.0.1:9464, [::1]:9464)") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let level = LogLevelSetting(Logger.Level(rawValue: logLevel ?? "info") ?? .info)
        let journal = JournalLogHandler.stderrIsJournal(environment: environment)
        LoggingSystem.bootstrap { label in JournalLogHandler(label: label, setting: level, journal: journal) }
        let logger = Logger(label: "metasimd")

        let options = Settings(socket: socket, worlds: worlds, policies: policies, savedPolicies: savedPolicies, config: config,
                               logLevel: logLevel, idleTimeout: idleTimeout, http: http, httpAllowRemote: httpAllowRemote)
        var settings: ServerConfiguration
        var httpSettings: HTTPSettings?
        do {
            let loaded = try options.load()
            settings = loaded.configuration
            level.level = loaded.level
            httpSettings = loaded.http
        } catch {
            for line in error.lines { logger.error("\(line)") }
            throw ExitCode(78)  // EX_CONFIG
        }
        do {
            if let inherited = try SocketActivation.inheritedSocket(environment: environment) {
                settings.inheritedSocket = inherited.descriptor
            }
        } catch {
            logger.critical("\(error.description)")
            throw ExitCode(1)
        }

        raiseFileLimit(logger: logger)
        let notifier = SystemdNotifier(environment: environment, logger: logger)
        let server = MetaSimServer(configuration: settings, logger: logger, notifier: notifier)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let reloader = ReloadService(hangups: hangups, server: server, settings: options, level: level)
        var web: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let httpSettings {
            let service = WebService(settings: httpSettings, server: server, logger: logger)
            do {
                try service.check()
                web = [.init(service: service, successTerminationBehavior: .ignore)]
            } catch {
                if case .settings = error {
                    logger.error("\(error.description)")
                    throw ExitCode(78)
                }
                guard httpSettings.onPortInUse == .continue else {
                    logger.critical("\(error.description); not starting (http.on_port_in_use: refuse)")
                    throw ExitCode(1)
                }
                logger.error("\(error.description); starting without the web view (http.on_port_in_use: continue)")
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup),
            ] + web + [
                // Shut down first (services stop in reverse order): no reload during the drain.
                .init(service: reloader, successTerminationBehavior: .ignore),
                .init(service: StopGuard(server: server, logger: logger), successTerminationBehavior: .ignore),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
            if server.abandonedConnections > 0 {
                // Threads still in work that does not stop (logged by the server): exit without them.
                logger.critical("hard exit: \(server.abandonedConnections) connections still busy after the drain timeout and its grace period")
                hardExit(1)
            }
        } catch let error as ServerError {
            for line in error.lines { logger.critical("\(line)") }
            switch error {
            case .configuration, .policies: throw ExitCode(78)
            default: throw ExitCode(1)
            }
        }
    }
}

/// The flags, and how they combine with the configuration file: at start and on each reload.
struct Settings: Sendable {
    var socket: String?
    var worlds: String?
    var policies: String?
    var savedPolicies: String?
    var config: String?
    var logLevel: String?
    var idleTimeout: Double?
    var http: String?
    var httpAllowRemote = false

    /// The file named by `--config`, else the default one if it exists (looked for each time).
    var configPath: String? {
        config ?? (FileManager.default.fileExists(atPath: MetaSimDaemon.defaultConfig) ? MetaSimDaemon.defaultConfig : nil)
    }

    /// Defaults, then the configuration file, then the flags.
    func load() throws(ServerError) -> (configuration: ServerConfiguration, level: Logger.Level, http: HTTPSettings?) {
        var file = ConfigurationFile()
        if let configPath { file = try ConfigurationFile.load(contentsOfFile: configPath) }
        var settings = ServerConfiguration(socketPath: MetaSimDaemon.defaultSocket)
        file.apply(to: &settings)
        if let socket { settings.socketPath = socket }
        if let worlds { settings.worldsRoot = worlds }
        if let policies { settings.policiesRoot = policies }
        if let savedPolicies { settings.savedPoliciesRoot = savedPolicies }
        if let idleTimeout { settings.idleTimeout = idleTimeout == 0 ? nil : .nanoseconds(Int64(idleTimeout * 1e9)) }
        let level = Logger.Level(rawValue: logLevel ?? file.logLevel ?? "info") ?? .info
        var httpSettings = file.http
        if let http, var flag = HTTPSettings.parse(http) {
            // The flag replaces the address and port; the file's other http settings stay.
            if let f = file.http { flag.onPortInUse = f.onPortInUse; flag.webRoot = f.webRoot; flag.batches = f.batches; flag.allowRemote = f.allowRemote }
            httpSettings = flag
        }
        if httpAllowRemote { httpSettings?.allowRemote = true }
        return (settings, level, httpSettings)
    }
}

/// SIGHUP (`systemctl reload metasimd`): the configuration, the catalog and the policies
/// folder are loaded again; a reload that fails keeps everything as it was.
struct ReloadService: Service {
    let hangups: UnixSignalsSequence
    let server: MetaSimServer
    let settings: Settings
    let level: LogLevelSetting

    func run() async {
        for await _ in hangups.cancelOnGracefulShutdown() {
            var newLevel: Logger.Level?
            let reloaded = await server.reload { () throws(ServerError) -> ServerConfiguration in
                let loaded = try settings.load()
                newLevel = loaded.level
                return loaded.configuration
            }
            if reloaded, let newLevel { level.level = newLevel }
        }
    }
}

/// The last resort of a SIGTERM: once the graceful shutdown begins, a thread of its own waits
/// for the server's stop time limit (drain timeout and grace period) and 2 s more; if the process
/// is still alive then, whatever holds it (the service group, a stuck thread), it logs and exits.
struct StopGuard: Service {
    let server: MetaSimServer
    let logger: Logger
    static let margin: Duration = .seconds(2)

    func run() async {
        do { try await gracefulShutdown() } catch { return }
        let limit = server.stopTimeLimit + Self.margin
        let logger = self.logger
        let thread = Thread {
            Thread.sleep(forTimeInterval: limit / .seconds(1))
            logger.critical("hard exit: still running \(limit) after SIGTERM (drain timeout, grace period and margin)")
            hardExit(1)
        }
        thread.name = "metasimd-stop-guard"
        thread.start()
    }
}

/// Ends the process now: no atexit handlers or destructors under threads that are still running.
func hardExit(_ status: Int32) -> Never {
    fflush(nil)
    _exit(status)
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
