import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's log level, shared by every logger and changed by a reload.
final class LogLevelSetting: Sendable {
    private let raw = Atomic<UInt8>(2)
    private static let levels = Logger.Level.allCases

    init(_ level: Logger.Level) { self.level = level }

    var level: Logger.Level {
        get { Self.levels[Int(raw.load(ordering: .relaxed))] }
        set { raw.store(UInt8(Self.levels.firstIndex(of: newValue)!), ordering: .relaxed) }
    }
}

/// Logs to stderr one line per event, in a form journald shows well: with `JOURNAL_STREAM`
/// naming stderr (systemd connected it to the journal), a `<N>` syslog priority prefix and no
/// timestamp (the journal keeps its own); otherwise an ISO 8601 time and the level name.
/// Newlines in a message are escaped, so an event is never split across lines.
struct JournalLogHandler: LogHandler {
    let label: String
    let setting: LogLevelSetting
    let journal: Bool
    var metadata: Logger.Metadata = [:]

    init(label: String, setting: LogLevelSetting, journal: Bool) {
        self.label = label
        self.setting = setting
        self.journal = journal
    }

    var logLevel: Logger.Level {
        get { setting.level }
        set { setting.level = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Whether stderr is the journal stream systemd set up (`JOURNAL_STREAM=device:inode`).
    static func stderrIsJournal(environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(STDERR_FILENO, &st) == 0 else { return false }
        return UInt64(st.st_dev) == device && UInt64(st.st_ino) == inode
    }

    static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    func log(event: LogEvent) {
        var line = journal ? "<\(Self.syslogPriority(event.level))>" : "\(Self.timestamp()) \(event.level): "
        line += Self.escaped("\(event.message)")
        let all = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(Self.escaped("\(value)"))"
        }
        line += "\n"
        Self.write(line)
    }

    private static func escaped(_ s: String) -> String {
        s.contains("\n") ? s.replacingOccurrences(of: "\n", with: "\\n") : s
    }

    private static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var seconds = ts.tv_sec
        gmtime_r(&seconds, &t)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                      t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1_000_000)
    }

    /// One write(2) per line: lines from several threads do not interleave.
    private static func write(_ line: String) {
        let bytes = Array(line.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}
