import MetaSimYAML

/// The daemon's configuration file (`/etc/metasim/metasimd.yaml`), read with the same YAML
/// loader and strict schema walk as world files: an unknown key, a wrong type or an
/// out-of-range value is an error with `path:line:column` and the key path. Every field is
/// optional; command-line flags override the file, the file overrides the defaults.
///
///     socket: /run/metasim/metasim.sock
///     worlds: /usr/share/metasim/worlds
///     policies: /var/lib/metasim/policies   # NAME.safetensors checkpoints, loaded at start and reload
///     saved_policies: /var/lib/metasim/saved-policies   # where save_policy writes (served too)
///     log_level: info              # trace, debug, info, notice, warning, error, critical
///     limits:
///       max_frame_bytes: 16777216
///       max_connections: 1024
///       max_sessions_per_connection: 16
///       max_batch: 4096
///       max_threads_per_session: 2
///       idle_timeout_seconds: 900  # 0: never
///       drain_timeout_seconds: 10
///       request_deadline_seconds: 60   # every request answered or refused within it
///       adapt_deadline_seconds: 600    # adapt and run_episodes instead
///       max_adaptations: 2         # at once, server-wide (default: the cores)
///       max_adapt_steps: 10
///       max_adapt_episodes: 1000   # per inner step
///       max_session_memory_bytes: 1073741824   # estimated, per session
///       max_memory_bytes: 4294967296           # estimated, all sessions together
///       max_reset_substeps: 2000000            # reset_steps × substeps × instances
///       max_saved_policies: 1000   # save_policy quota: checkpoints (0: saving off)
///       max_saved_policy_bytes: 1073741824   # and bytes, in the saved-policies folder
public struct ConfigurationFile: Sendable, Equatable {
    public var socket: String?
    public var worlds: String?
    public var policies: String?
    public var savedPolicies: String?
    public var logLevel: String?
    public var maxFrame: Int?
    public var maxConnections: Int?
    public var maxSessionsPerConnection: Int?
    public var maxBatch: Int?
    public var maxThreadsPerSession: Int?
    public var idleTimeoutSeconds: Double?
    public var drainTimeoutSeconds: Double?
    public var maxAdaptations: Int?
    public var maxAdaptSteps: Int?
    public var maxAdaptEpisodes: Int?
    public var requestDeadlineSeconds: Double?
    public var adaptDeadlineSeconds: Double?
    public var maxSessionMemory: Int?
    public var maxMemory: Int?
    public var maxResetSubsteps: Int?
    public var maxSavedPolicies: Int?
    public var maxSavedPolicyBytes: Int?
    /// The web view and /metrics (`http:`); nil: off.
    public var http: HTTPSettings?

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    public init() {}

    public static func load(contentsOfFile path: String) throws(ServerError) -> ConfigurationFile {
        let document: SchemaDocument
        do { document = try SchemaDocument(contentsOfFile: path) } catch {
            guard case .invalid(let diagnostics) = error else {
                throw .configuration([Diagnostic(file: path, line: 0, column: 0, keyPath: "", message: "cannot read the file as UTF-8 text")])
            }
            throw .configuration(diagnostics)
        }
        return try decode(document)
    }

    public static func parse(_ text: String, file: String) throws(ServerError) -> ConfigurationFile {
        let document: SchemaDocument
        do { document = try SchemaDocument(text: text, file: file) } catch { throw .configuration(error.diagnostics) }
        return try decode(document)
    }

    /// An empty file is the default configuration.
    private static func decode(_ document: SchemaDocument) throws(ServerError) -> ConfigurationFile {
        var config = ConfigurationFile()
        guard let root = document.root else { return config }
        let r = SchemaReader(file: document.file)
        if let top = r.mapping(root, "", allowed: ["socket", "worlds", "policies", "saved_policies", "log_level", "limits", "http"]) {
            if let n = top["http"] { config.http = decodeHTTP(r, n) }
            if let n = top["socket"] { config.socket = r.string(n, top.path("socket")) }
            if let n = top["worlds"] { config.worlds = r.string(n, top.path("worlds")) }
            if let n = top["policies"] { config.policies = r.string(n, top.path("policies")) }
            if let n = top["saved_policies"] { config.savedPolicies = r.string(n, top.path("saved_policies")) }
            if let n = top["log_level"] { config.logLevel = r.choice(n, top.path("log_level"), logLevels) }
            if let n = top["limits"], let l = r.mapping(n, "limits", allowed: [
                "max_frame_bytes", "max_connections", "max_sessions_per_connection", "max_batch",
                "max_threads_per_session", "idle_timeout_seconds", "drain_timeout_seconds",
                "max_adaptations", "max_adapt_steps", "max_adapt_episodes",
                "request_deadline_seconds", "adapt_deadline_seconds",
                "max_session_memory_bytes", "max_memory_bytes", "max_reset_substeps",
                "max_saved_policies", "max_saved_policy_bytes",
            ]) {
                if let v = l["max_session_memory_bytes"] {
                    config.maxSessionMemory = r.integer(v, l.path("max_session_memory_bytes"), min: 1 << 20, max: 1 << 50)
                }
                if let v = l["max_memory_bytes"] { config.maxMemory = r.integer(v, l.path("max_memory_bytes"), min: 1 << 20, max: 1 << 50) }
                if let v = l["max_reset_substeps"] { config.maxResetSubsteps = r.integer(v, l.path("max_reset_substeps"), min: 1, max: 1 << 40) }
                if let v = l["max_saved_policies"] { config.maxSavedPolicies = r.integer(v, l.path("max_saved_policies"), min: 0, max: 1 << 20) }
                if let v = l["max_saved_policy_bytes"] {
                    config.maxSavedPolicyBytes = r.integer(v, l.path("max_saved_policy_bytes"), min: 0, max: 1 << 50)
                }
                if let v = l["max_adaptations"] { config.maxAdaptations = r.integer(v, l.path("max_adaptations"), min: 1, max: 1024) }
                if let v = l["max_adapt_steps"] { config.maxAdaptSteps = r.integer(v, l.path("max_adapt_steps"), min: 1, max: 1000) }
                if let v = l["max_adapt_episodes"] { config.maxAdaptEpisodes = r.integer(v, l.path("max_adapt_episodes"), min: 1, max: 100_000) }
                if let v = l["max_frame_bytes"] { config.maxFrame = r.integer(v, l.path("max_frame_bytes"), min: 1024, max: 1 << 30) }
                if let v = l["max_connections"] { config.maxConnections = r.integer(v, l.path("max_connections"), min: 1, max: 1 << 20) }
                if let v = l["max_sessions_per_connection"] {
                    config.maxSessionsPerConnection = r.integer(v, l.path("max_sessions_per_connection"), min: 1, max: 1 << 16)
                }
                if let v = l["max_batch"] { config.maxBatch = r.integer(v, l.path("max_batch"), min: 1, max: 1 << 20) }
                if let v = l["max_threads_per_session"] {
                    config.maxThreadsPerSession = r.integer(v, l.path("max_threads_per_session"), min: 1, max: 1024)
                }
                if let v = l["idle_timeout_seconds"] { config.idleTimeoutSeconds = seconds(r, v, l.path("idle_timeout_seconds")) }
                if let v = l["drain_timeout_seconds"] { config.drainTimeoutSeconds = seconds(r, v, l.path("drain_timeout_seconds")) }
                if let v = l["request_deadline_seconds"] {
                    config.requestDeadlineSeconds = deadline(r, v, l.path("request_deadline_seconds"))
                }
                if let v = l["adapt_deadline_seconds"] { config.adaptDeadlineSeconds = deadline(r, v, l.path("adapt_deadline_seconds")) }
            }
        }
        if !r.diagnostics.isEmpty { throw .configuration(r.diagnostics) }
        return config
    }

    /// `http:` — `port` is required (the section turns the view on unless `enabled: false`).
    private static func decodeHTTP(_ r: SchemaReader, _ node: YAMLNode) -> HTTPSettings? {
        guard let h = r.mapping(node, "http", allowed: ["enabled", "address", "port", "allow_remote", "on_port_in_use", "web_root", "batches"]) else {
            return nil
        }
        guard let p = h["port"] else {
            r.error(node, "http", "missing key 'port' (the TCP port of the web view and /metrics)")
            return nil
        }
        guard let port = r.integer(p, h.path("port"), min: 1, max: 65535) else { return nil }
        var s = HTTPSettings(port: port)
        if let v = h["address"], let a = r.string(v, h.path("address")) { s.address = a }
        if let v = h["allow_remote"], let b = r.bool(v, h.path("allow_remote")) { s.allowRemote = b }
        if let v = h["on_port_in_use"], let c = r.choice(v, h.path("on_port_in_use"), HTTPSettings.PortInUse.allCases.map(\.rawValue)) {
            s.onPortInUse = HTTPSettings.PortInUse(rawValue: c) ?? .refuse
        }
        if let v = h["web_root"] { s.webRoot = r.string(v, h.path("web_root")) }
        if let v = h["batches"] { s.batches = r.string(v, h.path("batches")) }
        if let problem = s.problem { r.error(node, "http", problem) }
        if let v = h["enabled"], let on = r.bool(v, h.path("enabled")), !on { return nil }
        return s
    }

    private static func seconds(_ r: SchemaReader, _ node: YAMLNode, _ path: String) -> Double? {
        guard let v = r.literal(node, path) else { return nil }
        guard v >= 0, v <= 86_400 * 365 else {
            r.error(node, path, "expected seconds in 0...31536000, got \(v)")
            return nil
        }
        return v
    }

    /// A deadline: some time, at most a day (a request never goes without one).
    private static func deadline(_ r: SchemaReader, _ node: YAMLNode, _ path: String) -> Double? {
        guard let v = r.literal(node, path) else { return nil }
        guard v >= 0.01, v <= 86_400 else {
            r.error(node, path, "expected seconds in 0.01...86400 (a request always has a deadline), got \(v)")
            return nil
        }
        return v
    }

    /// Applies the file's settings to a configuration.
    public func apply(to c: inout ServerConfiguration) {
        if let socket { c.socketPath = socket }
        if let worlds { c.worldsRoot = worlds }
        if let policies { c.policiesRoot = policies }
        if let savedPolicies { c.savedPoliciesRoot = savedPolicies }
        if let maxSavedPolicies { c.maxSavedPolicies = maxSavedPolicies }
        if let maxSavedPolicyBytes { c.maxSavedPolicyBytes = maxSavedPolicyBytes }
        if let maxFrame { c.maxFrame = maxFrame }
        if let maxConnections { c.maxConnections = maxConnections }
        if let maxSessionsPerConnection { c.maxSessionsPerConnection = maxSessionsPerConnection }
        if let maxBatch { c.maxBatch = maxBatch }
        if let maxThreadsPerSession { c.maxThreadsPerSession = maxThreadsPerSession }
        if let idleTimeoutSeconds { c.idleTimeout = idleTimeoutSeconds == 0 ? nil : .milliseconds(Int64(idleTimeoutSeconds * 1000)) }
        if let maxAdaptations { c.maxAdaptations = maxAdaptations }
        if let maxAdaptSteps { c.maxAdaptSteps = maxAdaptSteps }
        if let maxAdaptEpisodes { c.maxAdaptEpisodes = maxAdaptEpisodes }
        if let drainTimeoutSeconds { c.drainTimeout = .milliseconds(Int64(drainTimeoutSeconds * 1000)) }
        if let requestDeadlineSeconds { c.requestDeadline = .milliseconds(Int64(requestDeadlineSeconds * 1000)) }
        if let adaptDeadlineSeconds { c.adaptDeadline = .milliseconds(Int64(adaptDeadlineSeconds * 1000)) }
        if let maxSessionMemory { c.maxSessionMemory = maxSessionMemory }
        if let maxMemory { c.maxMemory = maxMemory }
        if let maxResetSubsteps { c.maxResetSubsteps = maxResetSubsteps }
    }
}
