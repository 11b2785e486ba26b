/// A deterministic share of a batch: shard `index` of `count` runs the units whose plan index
/// is `index` modulo `count` (round robin, so each shard gets a mix of worlds).
public struct Shard: Sendable, Equatable, Codable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public static let all = Shard(index: 0, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `I/N` with 0 <= I < N.
    public init(parsing text: String) throws(BatchError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw BatchError.shard("'\(text)' is not I/N (e.g. 0/4: the first of four shards)")
        }
        try self.init(checking: i, n, source: "--shard \(text)")
    }

    private init(checking i: Int, _ n: Int, source: String) throws(BatchError) {
        guard n >= 1 else { throw BatchError.shard("\(source): the shard count must be at least 1") }
        guard (0..<n).contains(i) else { throw BatchError.shard("\(source): the shard index must be in 0..<\(n)") }
        self.init(index: i, count: n)
    }

    public func contains(_ unitIndex: Int) -> Bool { unitIndex % count == index }

    public var description: String { "\(index)/\(count)" }

    /// The shard of a cluster array task, when no `--shard` is given: Slurm's
    /// `SLURM_ARRAY_TASK_ID`/`SLURM_ARRAY_TASK_COUNT` (offset by `SLURM_ARRAY_TASK_MIN`, so
    /// `--array=1-8` works), or Kubernetes' `JOB_COMPLETION_INDEX` with `count` (the Job's
    /// `completions`, from `--shard-count` or `METASIM_SHARD_COUNT`). Nil when neither is set.
    public static func fromEnvironment(_ env: [String: String], count: Int? = nil) throws(BatchError) -> Shard? {
        func int(_ name: String) throws(BatchError) -> Int? {
            guard let s = env[name], !s.isEmpty else { return nil }
            guard let v = Int(s) else { throw BatchError.shard("$\(name) is '\(s)', not a whole number") }
            return v
        }
        if let id = try int("SLURM_ARRAY_TASK_ID") {
            let envCount = try int("SLURM_ARRAY_TASK_COUNT")
            guard let n = count ?? envCount else {
                throw BatchError.shard("$SLURM_ARRAY_TASK_ID is set but not $SLURM_ARRAY_TASK_COUNT (or give --shard-count)")
            }
            let min = try int("SLURM_ARRAY_TASK_MIN") ?? 0
            return try Shard(checking: id - min, n, source: "$SLURM_ARRAY_TASK_ID=\(id) (min \(min))")
        }
        if let i = try int("JOB_COMPLETION_INDEX") {
            let envCount = try int("METASIM_SHARD_COUNT")
            guard let n = count ?? envCount else {
                throw BatchError.shard("$JOB_COMPLETION_INDEX is set: give the Job's completions with --shard-count N (or $METASIM_SHARD_COUNT)")
            }
            return try Shard(checking: i, n, source: "$JOB_COMPLETION_INDEX=\(i)")
        }
        return nil
    }
}
