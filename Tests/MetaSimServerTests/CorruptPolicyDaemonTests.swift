import Foundation
import MetaLearning
import MetaSimClient
import MetaSimProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// metasimd with corrupt checkpoints in its policies folder (issue 27): a tensor of shape
/// [2^32, 2^32] used to crash it at start and on SIGHUP. Every bad file is skipped with a log
/// line naming it and the reason, listed in `rejected`, and the daemon starts and reloads.
@Suite("metasimd with corrupt checkpoints")
struct CorruptPolicyDaemonTests {
    /// A safetensors file with this header text and no data.
    static func raw(_ header: String, data: [UInt8] = []) -> Data {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var n = UInt64(json.count).littleEndian
        var out = Data()
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        return out + Data(json) + Data(data)
    }

    /// The shipped point-nav checkpoint with `edit` applied to its tensors and metadata.
    static func edited(_ edit: (inout [SafeTensors.Tensor], inout [String: String]) -> Void) throws -> Data {
        var (tensors, meta) = try SafeTensors.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: policiesRoot + "/point-nav.safetensors"))),
                                                     path: "point-nav.safetensors")
        edit(&tensors, &meta)
        return Data(SafeTensors.encode(tensors, metadata: meta))
    }

    @Test("a folder of corrupt checkpoints: metasimd starts, lists them as rejected, and survives SIGHUP reloads")
    func corruptFolder() async throws {
        let notify = try NotifySocket(abstract: false)
        let socket = temporarySocketPath()
        let dir = URL(fileURLWithPath: socket).deletingLastPathComponent().path
        let policies = dir + "/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: policiesRoot + "/point-nav.safetensors", toPath: policies + "/point-nav.safetensors")
        let bad: [String: Data] = [
            "overflow": Self.raw(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#),
            "past-end": Self.raw(#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,1099511627776]}}"#),
            "float64": Self.raw(#"{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
            "nan": try Self.edited { t, _ in t[t.firstIndex { $0.name == "layers.0.weight" }!].values[0] = .nan },
            "wide": try Self.edited { _, m in m["policy"] = m["policy"]!.replacingOccurrences(of: "[64,64]", with: "[1000000000,64]") },
        ]
        for (name, data) in bad { try data.write(to: URL(fileURLWithPath: policies + "/\(name).safetensors")) }
        #expect(mkfifo(policies + "/fifo.safetensors", 0o600) == 0)
        let daemon = try DaemonProcess(socket: socket, arguments: ["--policies", policies, "--saved-policies", dir + "/saved"],
                                       environment: ["NOTIFY_SOCKET": notify.address])
        try await notify.next(line: "READY=1")
        let c = try await daemon.waitUntilServing()
        let expected = Set(bad.keys.map { "\($0).safetensors" } + ["fifo.safetensors"])
        func check(_ list: ListPoliciesReply, extra: Set<String> = []) {
            #expect(list.policies.map(\.name) == ["point-nav"])
            #expect(Set(list.rejected.map(\.file)) == expected.union(extra), "\(list.rejected)")
            for r in list.rejected { #expect(r.error.contains(r.file), "the reason names the file: \(r)") }
        }
        let first = try c.listPolicies()
        check(first)
        let reasons = Dictionary(uniqueKeysWithValues: first.rejected.map { ($0.file, $0.error) })
        #expect(reasons["overflow.safetensors"]?.contains("does not match offsets") == true)
        #expect(reasons["past-end.safetensors"]?.contains("truncated") == true)
        #expect(reasons["float64.safetensors"]?.contains("F64") == true)
        #expect(reasons["nan.safetensors"]?.contains("NaN or infinite") == true)
        #expect(reasons["wide.safetensors"]?.contains("hidden") == true)
        #expect(reasons["fifo.safetensors"]?.contains("not a regular file") == true)

        // Reload twice, the second time with one more bad file: the daemon stays up and serves.
        kill(daemon.process.processIdentifier, SIGHUP)
        try await notify.next(line: "RELOADING=1")
        #expect(!(try await notify.next(line: "READY=1")).contains("reload failed"))
        check(try c.listPolicies())
        try Self.raw(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                     data: [UInt8](repeating: 0, count: 12)).write(to: URL(fileURLWithPath: policies + "/overlap.safetensors"))
        kill(daemon.process.processIdentifier, SIGHUP)
        try await notify.next(line: "RELOADING=1")
        #expect(!(try await notify.next(line: "READY=1")).contains("reload failed"))
        check(try c.listPolicies(), extra: ["overlap.safetensors"])
        let s = try c.open(OpenRequest(world: "point-nav", batch: 1))
        _ = try s.adapt(policy: "point-nav", steps: 0)
        #expect(try s.act([0.1, 0.2]).allSatisfy(\.isFinite))

        kill(daemon.process.processIdentifier, SIGTERM)
        let (status, log) = await daemon.exit()
        #expect(status == 0, "\(log)")
        for file in expected { #expect(log.contains("policy rejected: \(file): "), "\(file) in the log") }
        #expect(log.contains("policy rejected: overlap.safetensors: "))
    }
}
