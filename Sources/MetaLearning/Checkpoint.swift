import Foundation
import MetaSimCore
#if canImport(Glibc)
import Glibc
#endif

/// What a checkpoint records besides the weights (the safetensors `__metadata__`, one string per
/// key; structured values are JSON).
public struct CheckpointMetadata: Sendable, Equatable {
    public var world: String
    public var worldFile: String
    /// FNV-1a 64 of the world file's text, in hex (`WorldDefinition.fileHash`).
    public var worldFileHash: String
    public var observationSpec: TensorSpec
    public var actionSpec: TensorSpec
    public var discreteActions: Int?
    public var algorithm: String
    /// The training configuration as JSON (`MetaTrainingConfig`), or "{}".
    public var hyperparameters: String
    public var trainingSeed: UInt64
    public var metasimVersion: String
    /// Set on an adapted policy: the task seed it was adapted to.
    public var adaptedTaskSeed: UInt64?
    /// Set when the learning rates of the inner steps past the meta-trained ones were chosen on
    /// validation tasks (`metasim tune`, `LaterRateTuner`): how.
    public var laterRateTuning: LaterRateTuning?

    public init(world: String, worldFile: String, worldFileHash: String, observationSpec: TensorSpec, actionSpec: TensorSpec,
                discreteActions: Int?, algorithm: String, hyperparameters: String, trainingSeed: UInt64,
                metasimVersion: String, adaptedTaskSeed: UInt64?) {
        self.world = world
        self.worldFile = worldFile
        self.worldFileHash = worldFileHash
        self.observationSpec = observationSpec
        self.actionSpec = actionSpec
        self.discreteActions = discreteActions
        self.algorithm = algorithm
        self.hyperparameters = hyperparameters
        self.trainingSeed = trainingSeed
        self.metasimVersion = metasimVersion
        self.adaptedTaskSeed = adaptedTaskSeed
    }

    /// The metadata of a policy trained on `definition`.
    public init(definition: WorldDefinition, specs: WorldSpecs, algorithm: String, hyperparameters: String,
                trainingSeed: UInt64, metasimVersion: String, adaptedTaskSeed: UInt64? = nil) {
        world = definition.name
        worldFile = URL(fileURLWithPath: definition.file).lastPathComponent
        worldFileHash = String(definition.fileHash, radix: 16)
        observationSpec = specs.observation
        actionSpec = specs.action
        discreteActions = specs.discreteActions
        self.algorithm = algorithm
        self.hyperparameters = hyperparameters
        self.trainingSeed = trainingSeed
        self.metasimVersion = metasimVersion
        self.adaptedTaskSeed = adaptedTaskSeed
    }
}

/// A policy with its metadata, stored as safetensors. Tensors: `layers.L.weight` [in, out] and
/// `layers.L.bias` [out] (y = x W + b; tanh between layers), `log_std` [actions] for Gaussian
/// policies, `context` [context parameters] for a policy with context inputs (the last inputs of
/// layer 0, after the normalized observations), `obs_norm.mean` and `obs_norm.var` [observations]. Meta-learned inner learning rates, if any, are
/// in the metadata (`inner_learning_rates`), and so are a Q-network's Q-learning settings (`q_learning`).
public struct Checkpoint: Sendable, Equatable {
    public static let format = "metasim-policy"
    public static let formatVersion = "1"

    public var policy: Policy
    public var metadata: CheckpointMetadata

    public init(policy: Policy, metadata: CheckpointMetadata) {
        self.policy = policy
        self.metadata = metadata
    }

    // MARK: Writing

    public func encoded() -> [UInt8] {
        let arch = policy.architecture
        var tensors = Self.tensors(policy.parameters, architecture: arch, prefix: "")
        if !policy.innerRateScales.isEmpty {
            tensors += Self.tensors(policy.innerRateScales, architecture: arch, prefix: Self.rateScalePrefix)
        }
        let norm = policy.normalizer
        tensors.append(.init(name: "obs_norm.mean", shape: [norm.mean.count], values: norm.mean.map { Float($0) }))
        tensors.append(.init(name: "obs_norm.var", shape: [norm.variance.count], values: norm.variance.map { Float($0) }))
        let m = metadata
        var meta: [String: String] = [
            "format": Self.format, "format_version": Self.formatVersion,
            "world": m.world, "world_file": m.worldFile, "world_file_hash": m.worldFileHash,
            "observation_spec": Self.json(m.observationSpec), "action_spec": Self.json(m.actionSpec),
            "policy": Self.json(arch), "algorithm": m.algorithm, "hyperparameters": m.hyperparameters,
            "training_seed": String(m.trainingSeed), "metasim_version": m.metasimVersion,
            "training_task_seeds": "\(TaskSeeds.training.lowerBound)..<\(TaskSeeds.training.upperBound)",
            "obs_norm_enabled": norm.enabled ? "true" : "false", "obs_norm_count": "\(norm.count)",
        ]
        if let d = m.discreteActions { meta["discrete_actions"] = String(d) }
        if !policy.innerLearningRates.isEmpty { meta["inner_learning_rates"] = Self.json(policy.innerLearningRates) }
        if let q = policy.qLearning { meta["q_learning"] = Self.json(q) }
        if let s = m.adaptedTaskSeed { meta["adapted_task_seed"] = String(s) }
        if let t = m.laterRateTuning { meta["later_rate_tuning"] = Self.json(t) }
        return SafeTensors.encode(tensors, metadata: meta)
    }

    /// Meta-SGD's per-parameter inner rate multipliers are stored as tensors named like the
    /// parameters they scale, with this prefix (`inner_rate_scale.layers.0.weight`, …).
    static let rateScalePrefix = "inner_rate_scale."

    /// A flat parameter-shaped vector as named tensors: `layers.L.weight` (in × out),
    /// `layers.L.bias`, `log_std` for a Gaussian policy and `context` when it has context parameters.
    static func tensors(_ flat: [Float], architecture arch: PolicyArchitecture, prefix: String) -> [SafeTensors.Tensor] {
        if arch.recurrent != nil { return recurrentTensors(flat, architecture: arch, prefix: prefix) }
        let net = arch.network
        var out: [SafeTensors.Tensor] = []
        for l in 0..<net.layerCount {
            let n = net.sizes[l], m = net.sizes[l + 1]
            let w = net.weightOffset(l), b = net.biasOffset(l)
            out.append(.init(name: "\(prefix)layers.\(l).weight", shape: [n, m], values: Array(flat[w..<(w + n * m)])))
            out.append(.init(name: "\(prefix)layers.\(l).bias", shape: [m], values: Array(flat[b..<(b + m)])))
        }
        if arch.kind == .gaussian {
            let o = net.parameterCount
            out.append(.init(name: "\(prefix)log_std", shape: [arch.actionCount], values: Array(flat[o..<(o + arch.actionCount)])))
        }
        if arch.contextCount > 0 {
            let o = arch.contextOffset
            out.append(.init(name: "\(prefix)context", shape: [arch.contextCount], values: Array(flat[o..<(o + arch.contextCount)])))
        }
        return out
    }

    /// Writes atomically: a temporary file in the same folder, fsync, rename.
    public func write(to path: String) throws(CheckpointError) {
        do { try AtomicFile.write(encoded(), to: path) } catch { throw .io(path: path, message: error.message) }
    }

    public static func json<T: Encodable>(_ value: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    // MARK: Reading

    /// What a checkpoint may claim, checked before anything is allocated from it.
    public enum Limits {
        /// Largest checkpoint file read (a metasim policy is kilobytes to a few megabytes).
        public static let maxFileBytes = 1 << 30
        /// Largest observation, action, context or hidden-layer width.
        public static let maxWidth = 1 << 16
        /// Most hidden layers.
        public static let maxHiddenLayers = 64
        /// Largest inner loop, horizon and ProMP epochs recorded in the hyperparameters.
        public static let maxInnerSteps = 1000
        public static let maxInnerEpisodes = 1_000_000
        public static let maxHorizon = 10_000_000
        public static let maxEpochs = 10_000
    }

    public static func load(path: String) throws(CheckpointError) -> Checkpoint {
        try decode(try readFile(path: path), path: path)
    }

    /// The bytes of a checkpoint file: a regular file (not a FIFO or a device, which could block
    /// or never end) of at most `maxBytes`, checked before it is read.
    public static func readFile(path: String, maxBytes: Int = Limits.maxFileBytes) throws(CheckpointError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw .io(path: path, message: errno == ENOENT ? "no such file" : "cannot read the file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, message: "cannot read the file: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .io(path: path, message: "not a regular file") }
        let size = Int(st.st_size)
        guard size <= maxBytes else {
            throw .malformed(path: path, message: "the file is \(size) bytes, more than a checkpoint may be (\(maxBytes))")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, size - offset) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw .io(path: path, message: "read failed: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            offset += n
        }
        // The file shrank while it was read: what was read is all there is (decoding finds it truncated).
        if offset < size { bytes.removeLast(size - offset) }
        return bytes
    }

    public static func decode(_ bytes: [UInt8], path: String) throws(CheckpointError) -> Checkpoint {
        let (tensors, meta) = try SafeTensors.decode(bytes, path: path)
        guard meta["format"] == format else { throw .malformed(path: path, message: "metadata 'format' is not '\(format)'") }
        guard meta["format_version"] == formatVersion else {
            throw .malformed(path: path, message: "format version \(meta["format_version"] ?? "?") (this metasim reads \(formatVersion))")
        }
        func field(_ k: String) throws(CheckpointError) -> String {
            guard let v = meta[k] else { throw .malformed(path: path, message: "metadata lacks '\(k)'") }
            return v
        }
        func decoded<T: Decodable>(_ type: T.Type, _ k: String) throws(CheckpointError) -> T {
            let text = try field(k)
            guard let v = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw .malformed(path: path, message: "metadata '\(k)' is not valid")
            }
            return v
        }
        let arch = try decoded(PolicyArchitecture.self, "policy")
        if let problem = arch.problem { throw .malformed(path: path, message: "metadata 'policy': \(problem)") }
        // Every parameter is a stored float: an architecture bigger than the file's tensors is
        // refused before anything is sized from it.
        let stored = tensors.reduce(0) { $0 + $1.values.count }
        guard arch.parameterCount <= stored else {
            throw .malformed(path: path, message: "metadata 'policy' needs \(arch.parameterCount) parameters, the file holds \(stored) values")
        }
        let net = arch.network
        var byName: [String: SafeTensors.Tensor] = [:]
        for t in tensors { byName[t.name] = t }
        func tensor(_ name: String, _ shape: [Int]) throws(CheckpointError) -> [Float] {
            guard let t = byName[name] else { throw .malformed(path: path, message: "tensor '\(name)' is missing") }
            guard t.shape == shape else { throw .malformed(path: path, message: "tensor '\(name)' has shape \(t.shape), the policy needs \(shape)") }
            // NaN or infinite values would load and make every action NaN.
            if let k = t.values.firstIndex(where: { !$0.isFinite }) {
                throw .malformed(path: path, message: "tensor '\(name)' holds a NaN or infinite value (\(t.values[k]) at index \(k))")
            }
            return t.values
        }
        func flat(prefix: String) throws(CheckpointError) -> [Float] {
            var out: [Float] = []
            out.reserveCapacity(arch.parameterCount)
            if arch.recurrent != nil {
                for (name, shape) in recurrentTensorShapes(arch) { out += try tensor(prefix + name, shape) }
                return out
            }
            for l in 0..<net.layerCount {
                out += try tensor("\(prefix)layers.\(l).weight", [net.sizes[l], net.sizes[l + 1]])
                out += try tensor("\(prefix)layers.\(l).bias", [net.sizes[l + 1]])
            }
            if arch.kind == .gaussian { out += try tensor("\(prefix)log_std", [arch.actionCount]) }
            if arch.contextCount > 0 { out += try tensor("\(prefix)context", [arch.contextCount]) }
            return out
        }
        let params = try flat(prefix: "")
        var scales: [Float] = []
        if tensors.contains(where: { $0.name.hasPrefix(rateScalePrefix) }) {
            scales = try flat(prefix: rateScalePrefix)
            guard scales.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw .malformed(path: path, message: "inner_rate_scale tensors must be finite and non-negative")
            }
        }
        var norm = ObservationNormalizer(size: arch.observationCount, enabled: meta["obs_norm_enabled"] == "true")
        let mean = try tensor("obs_norm.mean", [arch.observationCount]), variance = try tensor("obs_norm.var", [arch.observationCount])
        guard variance.allSatisfy({ $0 >= 0 }) else { throw .malformed(path: path, message: "tensor 'obs_norm.var' holds a negative variance") }
        norm.mean = mean.map { Double($0) }
        norm.variance = variance.map { Double($0) }
        norm.count = Double(meta["obs_norm_count"] ?? "0") ?? 0
        guard norm.count.isFinite, norm.count >= 0 else {
            throw .malformed(path: path, message: "metadata 'obs_norm_count' is not a finite, non-negative number")
        }
        guard let seed = UInt64(try field("training_seed")) else { throw .malformed(path: path, message: "training_seed is not a number") }
        var discrete: Int?
        if let text = meta["discrete_actions"] {
            guard let d = Int(text), (1...Limits.maxWidth).contains(d) else {
                throw .malformed(path: path, message: "metadata 'discrete_actions' is not a number of actions in 1...\(Limits.maxWidth)")
            }
            discrete = d
        }
        var metadata = CheckpointMetadata(
            world: try field("world"), worldFile: try field("world_file"), worldFileHash: try field("world_file_hash"),
            observationSpec: try decoded(TensorSpec.self, "observation_spec"), actionSpec: try decoded(TensorSpec.self, "action_spec"),
            discreteActions: discrete, algorithm: try field("algorithm"),
            hyperparameters: meta["hyperparameters"] ?? "{}", trainingSeed: seed, metasimVersion: try field("metasim_version"),
            adaptedTaskSeed: meta["adapted_task_seed"].flatMap { UInt64($0) })
        for (key, spec) in [("observation_spec", metadata.observationSpec), ("action_spec", metadata.actionSpec)] {
            guard let n = SafeTensors.elementCount(spec.shape), n <= Limits.maxWidth else {
                throw .malformed(path: path, message: "metadata '\(key)': shape \(spec.shape) is not a size in 0...\(Limits.maxWidth)")
            }
        }
        if let problem = RecordedTraining.problem(metadata.hyperparameters) {
            throw .malformed(path: path, message: "metadata 'hyperparameters': \(problem)")
        }
        if meta["later_rate_tuning"] != nil { metadata.laterRateTuning = try decoded(LaterRateTuning.self, "later_rate_tuning") }
        var rates: [Double] = []
        if meta["inner_learning_rates"] != nil { rates = try decoded([Double].self, "inner_learning_rates") }
        guard rates.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw .malformed(path: path, message: "inner_learning_rates must be finite and non-negative") }
        var q: QLearning?
        if meta["q_learning"] != nil {
            q = try decoded(QLearning.self, "q_learning")
            guard arch.kind == .categorical else { throw .malformed(path: path, message: "a Q-network (q_learning) needs discrete actions") }
            if let problem = q?.problem { throw .malformed(path: path, message: "q_learning \(problem)") }
            guard arch.contextCount == 0 else { throw .malformed(path: path, message: "a Q-network (q_learning) has no context parameters") }
        }
        return Checkpoint(policy: Policy(architecture: arch, parameters: params, normalizer: norm, innerLearningRates: rates,
                                          innerRateScales: scales, qLearning: q),
                          metadata: metadata)
    }

    /// Refuses a checkpoint trained for another world or another observation/action layout.
    /// Returns a warning when only the world file's hash differs (the file was edited since).
    /// A recurrent policy (rl2) is refused unless `allowRecurrent`: only a caller that carries
    /// its state across steps and episodes can act with it.
    @discardableResult
    public func check(against definition: WorldDefinition, specs: WorldSpecs, path: String, allowTaskInputs: Bool = false,
                      allowRecurrent: Bool = false) throws(CheckpointError) -> String? {
        let m = metadata
        guard m.world == definition.name else {
            throw .mismatch(path: path, message: "it holds a policy for '\(m.world)', not '\(definition.name)'")
        }
        guard m.observationSpec.count == specs.observation.count, m.observationSpec.entries == specs.observation.entries else {
            throw .mismatch(path: path, message: "observations \(m.observationSpec.entries) differ from the world's \(specs.observation.entries)")
        }
        guard m.actionSpec.count == specs.action.count, m.discreteActions == specs.discreteActions else {
            throw .mismatch(path: path, message: "actions (\(m.actionSpec.count) entries, discrete: \(m.discreteActions.map(String.init) ?? "no")) differ from the world's (\(specs.action.count), \(specs.discreteActions.map(String.init) ?? "no"))")
        }
        if let r = policy.architecture.recurrent, !allowRecurrent {
            throw .mismatch(path: path, message: "it is a recurrent policy (\(m.algorithm), a \(r.cell.uppercased()) of \(r.hiddenSize) units): it acts with a memory carried across episodes, which this command does not serve (metasim adapt, metasim evaluate --memory and metasimd do)")
        }
        if let inputs = policy.architecture.taskInputs, !inputs.isEmpty, !allowTaskInputs {
            throw .mismatch(path: path, message: "it is an oracle, told the task (\(inputs.joined(separator: ", "))): it serves evaluation (metasim evaluate --oracle), not acting or adapting")
        }
        let familyNames = Set(definition.familyParameters.map(\.name))
        if let inputs = policy.architecture.taskInputs, let unknown = inputs.first(where: { !familyNames.contains($0) }) {
            throw .mismatch(path: path, message: "its task input '\(unknown)' is not a family parameter of '\(definition.name)'")
        }
        guard policy.architecture.worldObservationCount == specs.observation.count,
              policy.architecture.actionWidth == (specs.discreteActions == nil ? specs.action.count : 1) else {
            throw .mismatch(path: path, message: "the network's input/output sizes do not fit the world")
        }
        let hash = String(definition.fileHash, radix: 16)
        return m.worldFileHash == hash ? nil
            : "\(path): warning: trained on a different version of \(m.worldFile) (hash \(m.worldFileHash), now \(hash))"
    }
}

extension CheckpointMetadata {
    /// The training configuration recorded in `hyperparameters` (nil if absent or unreadable).
    public var trainingConfig: MetaTrainingConfig? {
        try? JSONDecoder().decode(MetaTrainingConfig.self, from: Data(hyperparameters.utf8))
    }

    /// The episode length the policy was trained with when it replaced the world's horizon
    /// (`metasim train --horizon`); adapt and evaluate with the same to reproduce its figures.
    public var trainingHorizon: Int? { trainingConfig?.horizon }
}

extension PolicyArchitecture {
    /// What makes a decoded architecture unusable (nil: nothing): sizes out of
    /// `Checkpoint.Limits`, non-finite numbers. Checked before a network is built from it.
    public var problem: String? {
        let w = Checkpoint.Limits.maxWidth
        guard (1...w).contains(observationCount), (1...w).contains(actionCount) else {
            return "observationCount \(observationCount) and actionCount \(actionCount) must be in 1...\(w)"
        }
        guard hidden.count <= Checkpoint.Limits.maxHiddenLayers, hidden.allSatisfy({ (1...w).contains($0) }) else {
            return "hidden \(hidden.prefix(8))\(hidden.count > 8 ? "…" : ""): at most \(Checkpoint.Limits.maxHiddenLayers) layers of 1...\(w) units"
        }
        guard (0...w).contains(contextCount) else { return "contextParameters \(contextCount) is not in 1...\(w)" }
        guard (taskInputs?.count ?? 0) < observationCount else {
            return "\(taskInputs?.count ?? 0) task inputs leave no world observation of \(observationCount)"
        }
        guard initialLogStd.isFinite, actionScale.allSatisfy(\.isFinite), actionOffset.allSatisfy(\.isFinite) else {
            return "initialLogStd, actionScale and actionOffset must be finite"
        }
        return recurrentProblem
    }
}

/// The parts of a checkpoint's recorded training configuration (`hyperparameters`) that metasim
/// uses after training (the daemon's and `metasim adapt`'s inner loop defaults, ProMP's outer
/// loop, the training horizon): checked when a checkpoint is read. A configuration that does not
/// decode at all is simply not used (it is informational); one that decodes with values out of
/// range is refused.
struct RecordedTraining: Decodable {
    var inner: InnerLoop?
    var proximal: ProximalOuter?
    var horizon: Int?

    static func problem(_ json: String) -> String? {
        guard let r = try? JSONDecoder().decode(RecordedTraining.self, from: Data(json.utf8)) else { return nil }
        let l = Checkpoint.Limits.self
        if let i = r.inner {
            guard (0...l.maxInnerSteps).contains(i.steps), (1...l.maxInnerEpisodes).contains(i.episodes) else {
                return "inner steps \(i.steps) and episodes \(i.episodes) must be in 0...\(l.maxInnerSteps) and 1...\(l.maxInnerEpisodes)"
            }
            guard i.learningRate.isFinite, i.gamma.isFinite, i.lambda.isFinite else {
                return "inner learningRate, gamma and lambda must be finite"
            }
        }
        if let p = r.proximal {
            guard (1...l.maxEpochs).contains(p.epochs), p.clip.isFinite else {
                return "proximal epochs \(p.epochs) must be in 1...\(l.maxEpochs) and clip finite"
            }
        }
        if let h = r.horizon, !(1...l.maxHorizon).contains(h) {
            return "horizon \(h) is not in 1...\(l.maxHorizon)"
        }
        return nil
    }
}
