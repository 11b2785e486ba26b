import Foundation
import MetaSimCore

/// `batch.json` in an output folder: which batch (by plan fingerprint) and which shard the
/// folder holds. `--resume` and `merge` refuse folders whose manifests do not match.
public struct BatchManifest: Codable, Sendable, Equatable {
    public var format: Int
    public var name: String
    /// `BatchRunner.fingerprint` (the plan's, with its checkpoint files') in 16 hex digits.
    public var fingerprint: String
    /// Units of the whole batch (all shards).
    public var units: Int
    public var shard: Shard

    public static let currentFormat = 1

    /// The manifest of a plan's shard; `fingerprint` overrides the plan's (the runner mixes in
    /// its policy files').
    public init(plan: BatchPlan, shard: Shard, fingerprint: UInt64? = nil) {
        format = Self.currentFormat
        name = plan.spec.name
        self.fingerprint = BatchJournal.hex(fingerprint ?? plan.fingerprint)
        units = plan.units.count
        self.shard = shard
    }

    init(format: Int, name: String, fingerprint: String, units: Int, shard: Shard) {
        self.format = format
        self.name = name
        self.fingerprint = fingerprint
        self.units = units
        self.shard = shard
    }

    /// The manifest of a folder, or nil if it has none.
    public static func load(folder: String) throws(BatchError) -> BatchManifest? {
        let path = BatchOutput.path(folder, BatchOutput.manifestFile)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path),
              let m = try? BatchFormat.decoder.decode(BatchManifest.self, from: data) else {
            throw BatchError.directory(path: path, message: "unreadable batch manifest")
        }
        guard m.format == currentFormat else {
            throw BatchError.directory(path: path, message: "batch format \(m.format), this build reads \(currentFormat)")
        }
        return m
    }

    func write(folder: String) throws(BatchError) {
        let path = BatchOutput.path(folder, BatchOutput.manifestFile)
        do { try AtomicFile.write(BatchFormat.json(self) + "\n", to: path) } catch {
            throw BatchError.io(path: path, message: error.message)
        }
    }
}
