import Foundation
import MetaLearning
import MetaSimCore
import MetaSimProtocol
#if canImport(Glibc)
import Glibc
#endif

extension Connection {
    /// `save_policy` (1.1): a session's adapted policy written to the saved-policies folder and served.
    func savePolicy(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(SavePolicyRequest.self, frame, keys: SavePolicyRequest.keys)
        let host = try policyHost(r.session)
        guard let binding = host.binding else {
            throw RequestFailure(.noPolicy, "session \(r.session) has no policy to save: adapt it first")
        }
        guard PolicyCatalog.isValidName(r.name) else {
            throw RequestFailure(.badRequest, "name: '\(r.name)' is not a policy name (up to 100 letters, digits, '.', '_', '-'; not starting with '.')")
        }
        var checkpoint = binding.entry.checkpoint
        checkpoint.policy = binding.policy
        if case .simulated(let s) = host { checkpoint.metadata.adaptedTaskSeed = s.task.seed }
        let bytes = checkpoint.encoded()
        // One save at a time (server-wide): the checks, the write and the catalog update.
        let (path, info) = try core.saving.withLock { _ throws(RequestFailure) -> (String, PolicyInfo) in
            try writeSavedPolicy(name: r.name, overwrite: r.overwrite == true, bytes: bytes, checkpoint: checkpoint)
        }
        logger.info("policy saved: \(path)")
        reply(.savePolicy, id: frame.header.id, SavePolicyReply(policy: info, file: path))
    }

    /// `save_policy`'s checks and write, under `core.saving`.
    private func writeSavedPolicy(name: String, overwrite: Bool, bytes: [UInt8], checkpoint: Checkpoint) throws(RequestFailure) -> (String, PolicyInfo) {
        let config = core.configuration
        let catalog = core.policies
        guard let folder = config.savedPoliciesRoot else {
            throw RequestFailure(.saveFailed, "the daemon has no saved-policies folder (saved_policies)")
        }
        let file = name + PolicyCatalog.fileExtension
        // Configured policies are read-only to clients, even with overwrite (and rejected ones:
        // their file is still the operator's).
        if catalog.entries[name].map({ !$0.saved }) ?? false
            || config.policiesRoot.map({ FileManager.default.fileExists(atPath: $0 + "/" + file) }) ?? false {
            throw RequestFailure(.policyExists, "policy '\(name)' is a configured policy (the policies folder): clients cannot overwrite it; save under another name")
        }
        let path = folder + "/" + file
        var st = stat()
        let exists = lstat(path, &st) == 0
        if exists, !overwrite {
            throw RequestFailure(.policyExists, "policy '\(name)' exists (\(path)); save with 'overwrite': true to replace it")
        }
        if exists, (st.st_mode & S_IFMT) != S_IFREG, (st.st_mode & S_IFMT) != S_IFLNK {
            throw RequestFailure(.saveFailed, "\(path) is not a regular file: not replaced")
        }
        // The quota: what the folder holds, with this file replaced.
        let (count, total) = Self.savedUsage(folder)
        let replaced = exists && (st.st_mode & S_IFMT) == S_IFREG ? Int(st.st_size) : 0
        let newCount = count + (exists ? 0 : 1), newTotal = total - replaced + bytes.count
        guard newCount <= config.maxSavedPolicies else {
            throw RequestFailure(limit: .maxSavedPolicies, config.maxSavedPolicies == 0
                ? "saving policies is off on this daemon (limits.max_saved_policies: 0)"
                : "the saved-policies folder holds \(count) policies, at most \(config.maxSavedPolicies) (limits.max_saved_policies): overwrite one instead")
        }
        guard newTotal <= config.maxSavedPolicyBytes else {
            throw RequestFailure(limit: .maxSavedPolicyBytes, "saving \(bytes.count) bytes would bring the saved-policies folder to \(newTotal) bytes, at most \(config.maxSavedPolicyBytes) (limits.max_saved_policy_bytes)")
        }
        if mkdir(folder, 0o750) != 0, errno != EEXIST {
            throw RequestFailure(.saveFailed, "\(folder): cannot create the saved-policies folder: \(String(cString: strerror(errno)))")
        }
        do { try AtomicFile.write(bytes, to: path, mode: 0o640) } catch {
            throw RequestFailure(.saveFailed, error.description)
        }
        core.addPolicy(name: name, path: path, checkpoint: checkpoint, folder: folder)
        let info = core.policies.entries[name]?.info ?? PolicyCatalog.entry(name: name, path: path, checkpoint: checkpoint, saved: true).info
        return (path, info)
    }

    /// The checkpoints of the saved-policies folder: how many, and their bytes.
    static func savedUsage(_ folder: String) -> (count: Int, bytes: Int) {
        var count = 0, bytes = 0
        for file in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where file.hasSuffix(PolicyCatalog.fileExtension) && !file.hasPrefix(".") {
            var st = stat()
            guard lstat(folder + "/" + file, &st) == 0 else { continue }
            count += 1
            if (st.st_mode & S_IFMT) == S_IFREG { bytes += Int(st.st_size) }
        }
        return (count, bytes)
    }
}
