import Foundation

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

    /// Most lines read from one episodes.jsonl.
    static let lineLimit = 200_000

    /// Batch directories (those with an episodes.jsonl) in `root`, sorted.
    static func list(_ root: String?) -> [String] {
        guard let root, let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        return names.filter { valid($0) && FileManager.default.fileExists(atPath: "\(root)/\($0)/episodes.jsonl") }.sorted()
    }

    static func valid(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && name.utf8.count <= 255
    }

    static func load(_ root: String?, name: String) -> BatchReturns? {
        guard let root, valid(name), let text = try? String(contentsOfFile: "\(root)/\(name)/episodes.jsonl", encoding: .utf8) else { return nil }
        var units: [Int: Unit] = [:]
        for line in text.split(separator: "\n").prefix(lineLimit) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let unit = object["unit"] as? Int else { continue }
            var u = units[unit] ?? Unit(unit: unit, key: object["key"] as? String, world: object["world"] as? String,
                                        policy: object["policy"] as? String, adaptReturns: object["adapt_returns"] as? [Double])
            if let r = object["return"] as? Double { u.returns.append(r) }
            units[unit] = u
        }
        return BatchReturns(name: name, units: units.values.sorted { $0.unit < $1.unit })
    }
}
