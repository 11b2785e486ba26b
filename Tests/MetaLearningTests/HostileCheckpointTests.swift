import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

#if canImport(Glibc)
import Glibc
#endif

/// Corrupt and hostile checkpoints (issue 27): every size, offset and count a file announces is
/// checked with overflow-safe arithmetic and bounded by the file before anything is allocated;
/// NaN or infinite values are refused. Each case here used to trap, allocate without bound, or
/// load a policy that acts NaN.
@Suite("Hostile checkpoints")
struct HostileCheckpointTests {
    /// A safetensors file with this header text and data; `announced` replaces the header length.
    static func raw(_ header: String, data: [UInt8] = [], announced: UInt64? = nil) -> [UInt8] {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var n = (announced ?? UInt64(json.count)).littleEndian
        var out: [UInt8] = []
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        return out + json + data
    }

    /// Decoding `bytes` is refused (not a trap) with an error whose text holds `text`.
    static func refused(_ bytes: [UInt8], _ text: String, truncated: Bool = false,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafeTensors.decode(bytes, path: "bad.safetensors")
            Issue.record("decoded: expected an error containing '\(text)'", sourceLocation: sourceLocation)
        } catch {
            #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix("bad.safetensors: error: "), sourceLocation: sourceLocation)
            if truncated {
                guard case .truncated = error else { Issue.record("not .truncated: \(error)", sourceLocation: sourceLocation); return }
            }
        }
    }

    @Test("a [2^32, 2^32] tensor (or any shape whose size overflows) is refused, not a trap")
    func overflowingShapes() {
        // 2^32 · 2^32 = 2^64 wraps to 0 in unchecked arithmetic, and [0, 0] offsets would match it.
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#), "does not match offsets")
        // 2^62 elements fit an Int, their 2^64 bytes do not.
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}}"#), "does not match offsets")
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[3037000500,3037000500,3037000500],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                     "does not match offsets")
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}"#, data: .init(repeating: 0, count: 16)),
                     "does not match offsets")
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                     "dimensions")
    }

    @Test("JSON numbers that are not whole Ints in range (1e30, fractional, beyond Int64) are refused")
    func numbersOutOfRange() {
        for shape in ["[1e30]", "[1.5]", "[18446744073709551615]", "[\"4\"]", "[true]"] {
            Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                         "tensor 'w' lacks dtype, shape or data_offsets")
        }
        for offsets in ["[0,1e30]", "[-4,0]", "[0.5,4]", "[0]", "[0,4,8]"] {
            Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":"# + offsets + "}}", data: [0, 0, 0, 0]),
                         "tensor 'w'")
        }
    }

    @Test("offsets past the end of the file are refused as truncated, whatever their size")
    func offsetsPastTheEnd() {
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]), "ends at byte 8", truncated: true)
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[274877906944],"data_offsets":[0,1099511627776]}}"#),
                     "ends at byte 1099511627776", truncated: true)
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[9223372036854775803,9223372036854775807]}}"#),
                     "ends at byte 9223372036854775807", truncated: true)
        Self.refused(Self.raw(#"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}"#, data: [0, 0, 0, 0, 0, 0, 0, 0]),
                     "does not start where the previous one ends")
    }

    @Test("overlapping tensors (two names sharing bytes) are refused")
    func overlappingOffsets() {
        let data = [UInt8](repeating: 0, count: 12)
        Self.refused(Self.raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: data),
                     "overlaps")
        Self.refused(Self.raw(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
                              data: [UInt8](repeating: 0, count: 8)),
                     "overlaps")
    }

    @Test("a header length beyond the file, or implausible, is refused before anything is allocated")
    func headerLength() {
        let header = #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#
        Self.refused(Self.raw(header, data: [0, 0, 0, 0], announced: 1000), "header announces 1000 bytes", truncated: true)
        Self.refused(Self.raw(header, data: [0, 0, 0, 0], announced: UInt64.max), "not plausible")
        Self.refused(Self.raw(header, data: [0, 0, 0, 0], announced: 1 << 63), "not plausible")
        Self.refused(Self.raw(header, data: [0, 0, 0, 0], announced: 99_999_999), "header announces", truncated: true)
        Self.refused([1, 2, 3], "shorter than the 8-byte header length", truncated: true)
        Self.refused(Self.raw("[1, 2, 3]"), "not a JSON object")
        Self.refused(Self.raw(#"{"__metadata__": {"a": 1}}"#), "__metadata__ must map strings to strings")
    }

    @Test("a dtype other than F32 is refused, naming it")
    func otherDtypes() {
        for dtype in ["F64", "F16", "BF16", "I32", "U8"] {
            Self.refused(Self.raw(#"{"w":{"dtype":""# + dtype + #"","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]),
                         "is \(dtype); only F32")
        }
    }

    // MARK: Checkpoint metadata and values

    /// A valid point-nav checkpoint's tensors and metadata (hidden [4]).
    static func parts() throws -> (tensors: [SafeTensors.Tensor], metadata: [String: String]) {
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        let policy = Policy(architecture: PolicyArchitecture(specs: specs, hidden: [4]), seed: 5, normalizeObservations: true)
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "maml",
                                      hyperparameters: Checkpoint.json(MetaTrainingConfig(algorithm: .maml)),
                                      trainingSeed: 77, metasimVersion: "test")
        let bytes = Checkpoint(policy: policy, metadata: meta).encoded()
        _ = try Checkpoint.decode(bytes, path: "good.safetensors")
        return try SafeTensors.decode(bytes, path: "good.safetensors")
    }

    /// `Checkpoint.decode` of the parts, edited, is refused with an error holding `text`.
    static func checkpointRefused(_ text: String, sourceLocation: SourceLocation = #_sourceLocation,
                                  edit: (inout [SafeTensors.Tensor], inout [String: String]) -> Void) throws {
        var (tensors, meta) = try parts()
        edit(&tensors, &meta)
        do {
            _ = try Checkpoint.decode(SafeTensors.encode(tensors, metadata: meta), path: "bad.safetensors")
            Issue.record("decoded: expected an error containing '\(text)'", sourceLocation: sourceLocation)
        } catch {
            #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation)
            guard case .malformed = error else { Issue.record("not .malformed: \(error)", sourceLocation: sourceLocation); return }
        }
    }

    /// The `policy` metadata with `key` set to the JSON `value`.
    static func architecture(_ meta: [String: String], _ key: String, _ value: String) -> String {
        var object = (try? JSONSerialization.jsonObject(with: Data(meta["policy"]!.utf8))) as? [String: Any] ?? [:]
        object[key] = try? JSONSerialization.jsonObject(with: Data(value.utf8), options: .fragmentsAllowed)
        return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
    }

    @Test("layer sizes in the metadata out of range (10^9 wide, 0, negative, 1e30) are refused, not allocated")
    func hugeLayers() throws {
        let cases: [(String, String, String)] = [
            ("hidden", "[1000000000]", "hidden"),
            ("hidden", "[0]", "hidden"),
            ("hidden", "[-4]", "hidden"),
            ("hidden", "[65536, 65536, 65536]", "parameters, the file holds"),
            ("hidden", "[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]", "hidden"),
            ("observationCount", "1000000000", "observationCount"),
            ("observationCount", "0", "observationCount"),
            ("actionCount", "1000000000", "metadata 'policy'"),
            ("contextParameters", "1000000000", "contextParameters"),
            ("hidden", "[1e30]", "metadata 'policy' is not valid"),
            ("observationCount", "4.5", "metadata 'policy' is not valid"),
            ("actionScale", "[1, 2, 3, 4, 5]", "metadata 'policy' is not valid"),
        ]
        for (key, value, text) in cases {
            try Self.checkpointRefused(text) { _, meta in meta["policy"] = Self.architecture(meta, key, value) }
        }
    }

    @Test("observation and action specs whose size overflows, and absurd counts, are refused")
    func specsAndCounts() throws {
        try Self.checkpointRefused("metadata 'observation_spec'") { _, meta in
            var spec = (try? JSONSerialization.jsonObject(with: Data(meta["observation_spec"]!.utf8))) as? [String: Any] ?? [:]
            spec["shape"] = [4_294_967_296, 4_294_967_296]
            meta["observation_spec"] = String(decoding: try! JSONSerialization.data(withJSONObject: spec), as: UTF8.self)
        }
        try Self.checkpointRefused("discrete_actions") { _, meta in meta["discrete_actions"] = "1000000000000" }
        try Self.checkpointRefused("discrete_actions") { _, meta in meta["discrete_actions"] = "-3" }
        try Self.checkpointRefused("obs_norm_count") { _, meta in meta["obs_norm_count"] = "nan" }
        try Self.checkpointRefused("obs_norm_count") { _, meta in meta["obs_norm_count"] = "-inf" }
    }

    @Test("hyperparameters with an inner loop, horizon or epochs out of range are refused")
    func hyperparameters() throws {
        func edited(_ meta: [String: String], _ edit: (inout [String: Any]) -> Void) -> String {
            var object = (try? JSONSerialization.jsonObject(with: Data(meta["hyperparameters"]!.utf8))) as? [String: Any] ?? [:]
            edit(&object)
            return String(decoding: try! JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
        }
        try Self.checkpointRefused("inner steps") { _, meta in
            meta["hyperparameters"] = edited(meta) { o in
                var inner = o["inner"] as! [String: Any]
                inner["episodes"] = 1_000_000_000
                o["inner"] = inner
            }
        }
        try Self.checkpointRefused("horizon") { _, meta in meta["hyperparameters"] = edited(meta) { $0["horizon"] = -1 } }
        try Self.checkpointRefused("horizon") { _, meta in meta["hyperparameters"] = edited(meta) { $0["horizon"] = 1 << 62 } }
        try Self.checkpointRefused("proximal") { _, meta in
            meta["hyperparameters"] = edited(meta) { $0["proximal"] = ["epochs": 1_000_000_000, "clip": 0.3] }
        }
        // A number beyond Int does not decode: the configuration is then unused, not trapped on.
        var (tensors, meta) = try Self.parts()
        meta["hyperparameters"] = edited(meta) { $0["horizon"] = 1e30 }
        let c = try Checkpoint.decode(SafeTensors.encode(tensors, metadata: meta), path: "h.safetensors")
        #expect(c.metadata.trainingHorizon == nil)
        tensors.removeAll()
    }

    @Test("NaN or infinite weights, log-std and normalizer statistics are refused, naming the tensor")
    func nonFiniteValues() throws {
        for (name, value) in [("layers.0.weight", Float.nan), ("layers.1.bias", .infinity), ("log_std", -.infinity),
                              ("obs_norm.mean", .nan), ("obs_norm.var", .infinity)] {
            try Self.checkpointRefused("tensor '\(name)' holds a NaN or infinite value") { tensors, _ in
                let k = tensors.firstIndex { $0.name == name }!
                tensors[k].values[tensors[k].values.count - 1] = value
            }
        }
        try Self.checkpointRefused("negative variance") { tensors, _ in
            tensors[tensors.firstIndex { $0.name == "obs_norm.var" }!].values[0] = -1
        }
    }

    @Test("a file that is not a regular file, or bigger than the limit, is refused before it is read")
    func files() throws {
        let fifo = Support.temporaryPath("fifo-\(UUID().uuidString).safetensors")
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        // A FIFO with no writer would block a plain read forever.
        #expect { _ = try Checkpoint.load(path: fifo) } throws: { "\($0)".contains("not a regular file") }
        #expect { _ = try Checkpoint.load(path: Support.temporaryPath("")) } throws: { "\($0)".contains("not a regular file") }

        let (tensors, meta) = try Self.parts()
        let path = Support.temporaryPath("big-\(UUID().uuidString).safetensors")
        try AtomicFile.write(SafeTensors.encode(tensors, metadata: meta), to: path)
        defer { unlink(path) }
        #expect(try Checkpoint.readFile(path: path).count > 100)
        #expect { _ = try Checkpoint.readFile(path: path, maxBytes: 100) } throws: { "\($0)".contains("more than a checkpoint may be (100)") }
    }
}
