import Foundation
import MetaSimCore

/// The files of a batch output folder. `episodes.jsonl` and `summary.csv` are the results; they
/// are written whole (temp, fsync, rename) in canonical unit order once every unit is done, so
/// they are a function of the unit results alone.
public enum BatchOutput {
    public static let episodesFile = "episodes.jsonl"
    public static let summaryFile = "summary.csv"
    public static let journalFile = "journal.log"
    public static let manifestFile = "batch.json"
    public static let specFile = "spec.yaml"

    static func path(_ folder: String, _ file: String) -> String {
        URL(fileURLWithPath: folder).appendingPathComponent(file).path
    }

    /// The text of `episodes.jsonl` for these results (any order in; canonical order out).
    public static func episodesText(_ results: [UnitResult]) -> String {
        let encoder = BatchFormat.makeEncoder()
        var text = ""
        for r in results.sorted(by: { $0.unit < $1.unit }) {
            for line in r.lines { text += BatchFormat.json(line, encoder: encoder) + "\n" }
        }
        return text
    }

    /// The text of `summary.csv` for these results.
    public static func summaryText(_ results: [UnitResult]) -> String {
        var text = UnitSummary.csvHeader + "\n"
        for r in results.sorted(by: { $0.unit < $1.unit }) { text += UnitSummary(r).csvRow + "\n" }
        return text
    }

    /// Writes `episodes.jsonl` and `summary.csv` atomically.
    public static func write(_ results: [UnitResult], folder: String) throws(BatchError) {
        for (file, text) in [(episodesFile, episodesText(results)), (summaryFile, summaryText(results))] {
            let p = path(folder, file)
            do { try AtomicFile.write(text, to: p) } catch { throw BatchError.io(path: p, message: error.message) }
        }
    }

    /// The episode lines of a finished folder's `episodes.jsonl`.
    public static func readEpisodes(folder: String) throws(BatchError) -> [UnitResult.EpisodeLine] {
        let p = path(folder, episodesFile)
        guard let data = FileManager.default.contents(atPath: p) else {
            throw BatchError.io(path: p, message: "cannot read (is the batch finished, or the shards merged?)")
        }
        let decoder = BatchFormat.decoder
        var out: [UnitResult.EpisodeLine] = []
        for (i, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            do { out.append(try decoder.decode(UnitResult.EpisodeLine.self, from: Data(line))) } catch {
                throw BatchError.io(path: p, message: "line \(i + 1) is not an episode record")
            }
        }
        return out
    }

    /// Joins the folders of shard runs (each finished) into `folder`: the same `episodes.jsonl`,
    /// `summary.csv` and `batch.json` an unsharded run writes, plus a journal in canonical order.
    /// The shards must hold the same batch (fingerprint) and together every unit exactly once.
    @discardableResult
    public static func merge(_ sources: [String], into folder: String) throws(BatchError) -> [UnitResult] {
        guard !sources.isEmpty else { throw BatchError.merge("no folders to merge") }
        var first: BatchManifest?
        var byUnit: [Int: (UnitResult, String)] = [:]
        var specText: String?
        for source in sources {
            guard let m = try BatchManifest.load(folder: source) else {
                throw BatchError.merge("\(source) is not a batch output folder (no \(manifestFile))")
            }
            if let f = first {
                guard m.fingerprint == f.fingerprint, m.units == f.units else {
                    throw BatchError.merge("\(source) holds a different batch than \(sources[0]) (fingerprint \(m.fingerprint), not \(f.fingerprint))")
                }
            } else {
                first = m
            }
            if specText == nil { specText = try? String(contentsOfFile: path(source, specFile), encoding: .utf8) }
            let journal = try BatchJournal.load(path: path(source, journalFile))
            for r in journal.results {
                guard r.unit >= 0, r.unit < m.units, m.shard.contains(r.unit) else {
                    throw BatchError.merge("\(source): unit \(r.unit) does not belong to shard \(m.shard)")
                }
                if let (other, where_) = byUnit[r.unit] {
                    guard other == r else { throw BatchError.merge("unit \(r.unit) differs between \(where_) and \(source)") }
                    continue
                }
                byUnit[r.unit] = (r, source)
            }
        }
        guard let manifest = first else { throw BatchError.merge("no folders to merge") }
        let missing = (0..<manifest.units).filter { byUnit[$0] == nil }
        guard missing.isEmpty else {
            let list = missing.prefix(10).map(String.init).joined(separator: ", ") + (missing.count > 10 ? ", ..." : "")
            throw BatchError.merge("\(missing.count) of \(manifest.units) units are missing (\(list)): merge every shard, each finished")
        }
        let results = (0..<manifest.units).map { byUnit[$0]!.0 }
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw BatchError.io(path: folder, message: "cannot create the folder")
        }
        if let existing = try BatchManifest.load(folder: folder), existing.fingerprint != manifest.fingerprint || existing.shard != .all {
            throw BatchError.directory(path: folder, message: "already holds another batch or shard")
        }
        let journalText = results.map { String(decoding: BatchJournal.encode($0), as: UTF8.self) }.joined()
        let writes: [(String, String)] = [(journalFile, journalText)] + (specText.map { [(specFile, $0)] } ?? [])
        for (file, text) in writes {
            let p = path(folder, file)
            do { try AtomicFile.write(text, to: p) } catch { throw BatchError.io(path: p, message: error.message) }
        }
        var merged = manifest
        merged.shard = .all
        try merged.write(folder: folder)
        try write(results, folder: folder)
        return results
    }
}
