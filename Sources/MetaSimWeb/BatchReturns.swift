import Foundation
import MetaSimBatch

/// The returns of a finished batch directory (`metasim batch --output DIR`, docs/batch.md), for
/// the view's plot: each unit's adaptation curve (`adapt_returns`) and its episodes' returns,
/// read from `episodes.jsonl`. Only directories directly inside the configured `http.batches`
/// folder are read, by name.
struct BatchReturns: Encodable {
    struct Unit: Encodable {
        var unit: Int
        var key: String?
        var world: String?
        var policy: String?
        var adaptReturns: [Double]?
        var returns: [Double] = []
    }

    var name: String
    var units: [Unit]

    /// The largest episodes.jsonl the view reads (a file is read whole; 256 MiB holds about a
    /// million episode lines).
    static let byteLimit: UInt64 = 256 << 20

    /// Batch directories (those with an episodes.jsonl) in `root`, sorted.
    static func list(_ root: String?) -> [String] {
        guard let root, let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        return names.filter { valid($0) && FileManager.default.fileExists(atPath: "\(root)/\($0)/episodes.jsonl") }.sorted()
    }

    static func valid(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && name.utf8.count <= 255
    }

    /// The batch's returns, read with the batch runner's own reader (`BatchOutput.readEpisodes`);
    /// nil for an unknown name, a file over `byteLimit`, or one that is not a finished batch's.
    static func load(_ root: String?, name: String) -> BatchReturns? {
        guard let root, valid(name) else { return nil }
        let folder = "\(root)/\(name)"
        guard let size = (try? FileManager.default.attributesOfItem(atPath: "\(folder)/episodes.jsonl"))?[.size] as? UInt64,
              size <= byteLimit, let lines = try? BatchOutput.readEpisodes(folder: folder) else { return nil }
        var units: [Int: Unit] = [:]
        for line in lines {
            var u = units[line.unit] ?? Unit(unit: line.unit, key: line.key, world: line.world, policy: line.policy,
                                             adaptReturns: line.adaptReturns)
            u.returns.append(line.episodeReturn)
            units[line.unit] = u
        }
        return BatchReturns(name: name, units: units.values.sorted { $0.unit < $1.unit })
    }
}
