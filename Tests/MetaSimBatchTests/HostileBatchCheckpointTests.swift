import Foundation
import MetaLearning
import MetaSimCore
import Testing

@testable import MetaSimBatch

#if canImport(Glibc)
import Glibc
#endif

/// `metasim batch` with corrupt checkpoints (issue 27): a tensor of shape [2^32, 2^32] crashed
/// it, NaN weights loaded. Each is refused before anything runs, naming the file and the reason.
@Suite("Batch runner: corrupt checkpoints")
struct HostileBatchCheckpointTests {
    static func raw(_ header: String) -> Data {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var n = UInt64(json.count).littleEndian
        var out = Data()
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        return out + Data(json)
    }

    @Test("overflowing shapes, NaN weights and FIFOs are refused at the policy's line, naming the file; metasim batch exits cleanly")
    func corrupt() throws {
        let root = try BatchCheckpointTests.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.raw(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#)
            .write(to: URL(fileURLWithPath: root + "/ckpt/overflow.safetensors"))
        var (tensors, meta) = try SafeTensors.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: BatchCheckpointTests.shipped))), path: "p")
        tensors[tensors.firstIndex { $0.name == "layers.1.weight" }!].values[7] = .nan
        try Data(SafeTensors.encode(tensors, metadata: meta)).write(to: URL(fileURLWithPath: root + "/ckpt/nan.safetensors"))
        meta["policy"] = meta["policy"]!.replacingOccurrences(of: "[64,64]", with: "[1000000000,64]")
        try Data(SafeTensors.encode(tensors, metadata: meta)).write(to: URL(fileURLWithPath: root + "/ckpt/wide.safetensors"))
        #expect(mkfifo(root + "/ckpt/fifo.safetensors", 0o600) == 0)
        let spec = { (name: String) in "worlds: [point-nav]\npolicies:\n  - checkpoint: ckpt/\(name).safetensors\nepisodes: 1\n" }
        for (name, reason) in [("overflow", "does not match offsets"), ("nan", "NaN or infinite"), ("wide", "hidden"),
                               ("fifo", "not a regular file")] {
            let (d, text) = try #require(try BatchCheckpointTests.refusal(spec(name), in: root))
            #expect(d.line == 3 && d.keyPath == "policies[0]")
            #expect(text.contains("\(name).safetensors") && text.contains(reason), "\(text)")
        }

        // The CLI: a clear error and a non-zero exit, not a crash.
        try spec("overflow").write(toFile: root + "/spec.yaml", atomically: true, encoding: .utf8)
        let (p, message) = try BatchCheckpointTests.runBatch(in: root)
        #expect(p.terminationReason == .exit && p.terminationStatus != 0, "\(message)")
        #expect(message.contains("overflow.safetensors is not a metasim policy checkpoint"), "\(message)")
    }
}
