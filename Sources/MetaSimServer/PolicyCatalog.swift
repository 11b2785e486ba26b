import Foundation
import Logging
import MetaLearning
import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

/// The checkpoints of the policies folder, loaded at start and on reload (each `NAME.safetensors`
/// is the policy `NAME`), and those clients saved (the saved-policies folder, `save_policy`).
/// A file that is not a valid policy checkpoint is left out and reported (`list_policies'
/// `rejected`, and the log): one bad file does not stop the daemon.
///
/// One namespace: a configured policy's name is never served from the saved folder (a saved file
/// of that name is rejected, and `save_policy` refuses the name), so a client cannot shadow or
/// overwrite a configured policy.
struct PolicyCatalog: Sendable {
    struct Entry: Sendable {
        let name: String
        let path: String
        let checkpoint: Checkpoint
        let info: PolicyInfo
        /// The inner loop adapt uses by default (the one the policy was meta-trained with, with
        /// 3 steps: the default budget).
        let inner: InnerLoop
        /// From the saved-policies folder (a client's `save_policy`).
        var saved: Bool { info.saved == true }
    }

    let folder: String?
    /// Where `save_policy` writes (nil: saving is off).
    let savedFolder: String?
    private(set) var entries: [String: Entry] = [:]
    private(set) var rejected: [RejectedPolicy] = []

    static let fileExtension = ".safetensors"

    init(folder: String?, savedFolder: String? = nil) {
        self.folder = folder
        self.savedFolder = savedFolder
    }

    /// Loads every checkpoint of `folder`, then of `savedFolder` (absent: none).
    static func load(folder: String?, savedFolder: String? = nil, logger: Logger) throws(ServerError) -> PolicyCatalog {
        var catalog = PolicyCatalog(folder: folder, savedFolder: savedFolder)
        if let folder, let savedFolder, sameFolder(folder, savedFolder) {
            throw .policies(path: savedFolder, message: "saved_policies must be another folder than policies (clients cannot write the configured policies)")
        }
        if let folder, case .present = try PolicyFolder.check(folder) {
            catalog.loadFolder(folder, saved: false, logger: logger)
        }
        if let savedFolder, case .present = try PolicyFolder.check(savedFolder) {
            catalog.loadFolder(savedFolder, saved: true, logger: logger)
        }
        return catalog
    }

    /// Whether two paths name one folder (the same file, or the same text once standardized).
    static func sameFolder(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        if stat(a, &sa) == 0, stat(b, &sb) == 0 { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
        return URL(fileURLWithPath: a).standardized.path == URL(fileURLWithPath: b).standardized.path
    }

    private mutating func loadFolder(_ folder: String, saved: Bool, logger: Logger) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        if saved {
            // Temporary files of a save cut short by a crash or kill.
            for file in names where AtomicFile.isStaleTemporary(file) {
                if unlink(folder + "/" + file) == 0 { logger.notice("removed the temporary file of an interrupted save: \(folder)/\(file)") }
            }
        }
        for file in names where file.hasSuffix(Self.fileExtension) && !file.hasPrefix(".") {
            let path = folder + "/" + file
            let name = String(file.dropLast(Self.fileExtension.count))
            let shown = saved ? path : file
            guard Self.isValidName(name) else {
                rejected.append(RejectedPolicy(file: shown, error: "the name '\(name)' is not a policy name (letters, digits, '.', '_', '-')"))
                continue
            }
            if saved, entries[name] != nil {
                rejected.append(RejectedPolicy(file: shown, error: "\(path): error: a configured policy is named '\(name)': the saved one is not served"))
                continue
            }
            do throws(CheckpointError) {
                let checkpoint = try Checkpoint.load(path: path)
                if let inputs = checkpoint.policy.architecture.taskInputs, !inputs.isEmpty {
                    throw CheckpointError.mismatch(path: path, message: "it is an oracle, told the task (\(inputs.joined(separator: ", "))): it serves evaluation, not sessions")
                }
                add(name: name, path: path, checkpoint: checkpoint, saved: saved)
            } catch {
                logger.error("policy not loaded: \(error.description)")
                rejected.append(RejectedPolicy(file: shown, error: error.description))
            }
        }
    }

    /// Policy names: what a file name can safely be.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 100 else { return false }
        func ok(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
        }
        return first != 0x2E && name.utf8.allSatisfy(ok)
    }

    mutating func add(name: String, path: String, checkpoint: Checkpoint, saved: Bool = false) {
        entries[name] = Self.entry(name: name, path: path, checkpoint: checkpoint, saved: saved)
    }

    static func entry(name: String, path: String, checkpoint: Checkpoint, saved: Bool = false) -> Entry {
        let m = checkpoint.metadata
        // The checkpoint's learner says how it adapts by default, whether it adapts first and
        // how many inner steps it was meta-trained for.
        let defaults = checkpoint.adaptationDefaults
        let inner = defaults.inner, rates = defaults.learningRates
        var info = PolicyInfo(name: name, world: m.world, worldFileHash: m.worldFileHash, algorithm: m.algorithm,
                              observation: m.observationSpec.wire, action: m.actionSpec.wire, discreteActions: m.discreteActions,
                              inner: InnerBudget(steps: inner.steps, episodes: inner.episodes, learningRates: rates,
                                                                 perParameterRates: checkpoint.policy.innerRateScales.isEmpty ? nil : true,
                                                                 trainedSteps: checkpoint.trainedSteps),
                              trainingSeed: m.trainingSeed, adaptedTaskSeed: m.adaptedTaskSeed,
                              trainingHorizon: m.trainingHorizon,
                              adaptFirst: checkpoint.adaptFirst,
                              proximal: checkpoint.trainingRecord?.proximal.map { ProximalInfo(epochs: $0.epochs, clip: $0.clip) })
        if saved { info.saved = true }
        return Entry(name: name, path: path, checkpoint: checkpoint, info: info, inner: inner)
    }

    var ordered: [PolicyInfo] { entries.keys.sorted().map { entries[$0]!.info } }

    var summary: String {
        guard let folder else { return "none (no policies folder)" }
        let names = entries.keys.sorted().joined(separator: ", ")
        let saved = entries.values.filter(\.saved).count
        return "\(entries.count) loaded from \(folder)" + (saved > 0 ? " and \(savedFolder ?? "")" : "") + (names.isEmpty ? "" : " (\(names))")
            + (rejected.isEmpty ? "" : "; \(rejected.count) rejected")
    }
}
