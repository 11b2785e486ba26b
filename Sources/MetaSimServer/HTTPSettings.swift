/// The daemon's optional web view and metrics endpoint (MetaSimWeb serves it; this module only
/// reads the settings): the `http:` section of metasimd.yaml, or `metasimd --http HOST:PORT`.
/// Off unless configured; loopback unless `allow_remote` says otherwise.
public struct HTTPSettings: Sendable, Equatable {
    /// What to do when the port cannot be bound (in use, or not permitted).
    public enum PortInUse: String, Sendable, CaseIterable {
        /// The daemon does not start (exit 78, with a message naming the address).
        case refuse
        /// The daemon starts without the view and logs why.
        case `continue`
    }

    public var address = "127.0.0.1"
    public var port: Int
    /// Required for an address outside 127.0.0.0/8 and ::1 (and logged as a warning).
    public var allowRemote = false
    public var onPortInUse = PortInUse.refuse
    /// The page's static files (default: `web` next to the catalog, `../share/metasim/web`).
    public var webRoot: String?
    /// A folder of finished batch directories whose adaptation returns the view may plot.
    public var batches: String?

    public init(address: String = "127.0.0.1", port: Int) {
        self.address = address
        self.port = port
    }

    /// `HOST:PORT` (`[::1]:PORT` for IPv6), as `--http` takes it.
    public static func parse(_ text: String) -> HTTPSettings? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = String(text[..<colon])
        guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return HTTPSettings(address: host, port: port)
    }

    /// 127.0.0.0/8, ::1 or localhost.
    public var isLoopback: Bool {
        if address == "localhost" || address == "::1" { return true }
        let parts = address.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// Why these settings cannot be used, if they cannot.
    public var problem: String? {
        if !isLoopback, !allowRemote {
            return "http.address \(address) is not a loopback address: set http.allow_remote: true (or --http-allow-remote) to serve it there"
        }
        return nil
    }
}
