import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// safetensors layout, round trip, atomic writes, and refusal of truncated or foreign checkpoints.
struct CheckpointTests {
    func checkpoint(_ world: String, hidden: [Int] = [4]) throws -> (Checkpoint, WorldDefinition, WorldSpecs) {
        let d = try Support.definition(world)
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        var policy = Policy(architecture: PolicyArchitecture(specs: specs, hidden: hidden), seed: 5, normalizeObservations: true)
        policy.normalizer.update(Support.uniform(3 * specs.observation.count, seed: 1), rows: 3)
        policy.normalizer.mean = policy.normalizer.mean.map { Double(Float($0)) }
        policy.normalizer.variance = policy.normalizer.variance.map { Double(Float($0)) }
        policy.innerLearningRates = [0.3451, 0.1291, 0.0666]
        let meta = CheckpointMetadata(definition: d, specs: specs, algorithm: "maml", hyperparameters: "{}",
                                      trainingSeed: 77, metasimVersion: "test")
        return (Checkpoint(policy: policy, metadata: meta), d, specs)
    }

    @Test func roundTripIsExact() throws {
        let (c, d, specs) = try checkpoint("point-nav")
        let path = Support.temporaryPath("roundtrip.safetensors")
        try c.write(to: path)
        let loaded = try Checkpoint.load(path: path)
        #expect(loaded == c)
        #expect(try loaded.check(against: d, specs: specs, path: path) == nil)
        // Same checkpoint, same bytes.
        #expect(c.encoded() == loaded.encoded())
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        #expect(!leftovers.contains { $0.contains(".tmp-") })
    }

    /// Meta-SGD's per-parameter rate multipliers travel as tensors named like the parameters
    /// (`inner_rate_scale.` + name); a checkpoint missing one of them, or with a negative one,
    /// is refused.
    @Test func perParameterRatesRoundTrip() throws {
        var (c, _, _) = try checkpoint("cheetah-vel")
        c.policy.innerRateScales = (0..<c.policy.parameters.count).map { Float(0.5 + Double($0 % 7) * 0.25) }
        let bytes = c.encoded()
        let loaded = try Checkpoint.decode(bytes, path: "p.safetensors")
        #expect(loaded == c && loaded.policy.innerRateScales.count == c.policy.parameters.count)
        let (tensors, meta) = try SafeTensors.decode(bytes, path: "p.safetensors")
        let names = Set(tensors.map(\.name))
        #expect(names.contains("inner_rate_scale.layers.0.weight") && names.contains("inner_rate_scale.log_std"))
        let missing = SafeTensors.encode(tensors.filter { $0.name != "inner_rate_scale.log_std" }, metadata: meta)
        #expect { _ = try Checkpoint.decode(missing, path: "p.safetensors") } throws: { "\($0)".contains("inner_rate_scale.log_std") }
        let negative = SafeTensors.encode(tensors.map { t in
            var t = t
            if t.name == "inner_rate_scale.layers.0.bias" { t.values[0] = -1 }
            return t
        }, metadata: meta)
        #expect { _ = try Checkpoint.decode(negative, path: "p.safetensors") } throws: { "\($0)".contains("non-negative") }
        // Without multipliers, none are written.
        #expect(!Set(try SafeTensors.decode(try checkpoint("cheetah-vel").0.encoded(), path: "p").tensors.map(\.name)).contains { $0.hasPrefix("inner_rate_scale.") })
    }

    /// `make train` reproduces the shipped checkpoints bit for bit only if today's code writes
    /// them with the same bytes: settings added later (`learnParameterRates`,
    /// `contextParameters`) are left out of the recorded configuration when unused.
    @Test func shippedCheckpointsRecordTheirConfigurationWithTheSameBytes() throws {
        let root = Support.packageRoot.appendingPathComponent("policies")
        let names = try FileManager.default.subpathsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".safetensors") }.sorted()
        #expect(names.count >= 12, "the shipped checkpoints, oracles included")
        for name in names {
            let path = root.appendingPathComponent(name).path
            let checkpoint = try Checkpoint.load(path: path)
            let config = try #require(checkpoint.metadata.trainingConfig, "\(name) records its training configuration")
            #expect(Checkpoint.json(config) == checkpoint.metadata.hyperparameters, "\(name)")
            #expect(checkpoint.encoded() == [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), "\(name) re-encodes to the same bytes")
        }
        var config = MetaTrainingConfig(algorithm: .maml)
        #expect(!Checkpoint.json(config).contains("learnParameterRates"))
        config.learnParameterRates = true
        config.contextParameters = 4
        let decoded = try JSONDecoder().decode(MetaTrainingConfig.self, from: Data(Checkpoint.json(config).utf8))
        #expect(decoded.learnParameterRates && decoded.contextParameters == 4)
    }

    /// CAVIA: the context parameters travel as a `context` tensor after `log_std`, with the
    /// 0/1 inner rate multipliers; a checkpoint without the tensor is refused.
    @Test func contextParametersRoundTrip() throws {
        var (c, _, _) = try checkpoint("cheetah-vel")
        var arch = c.policy.architecture
        arch.contextParameters = 3
        var policy = Policy(architecture: arch, seed: 5)
        policy.parameters[arch.contextOffset + 1] = 0.75
        policy.innerRateScales = arch.contextRateScales.map { Float($0) }
        c.policy = policy
        let bytes = c.encoded()
        let loaded = try Checkpoint.decode(bytes, path: "p.safetensors")
        #expect(loaded == c && loaded.policy.architecture.contextCount == 3)
        let (tensors, meta) = try SafeTensors.decode(bytes, path: "p.safetensors")
        let context = try #require(tensors.first { $0.name == "context" })
        #expect(context.shape == [3] && context.values == [0, 0.75, 0])
        #expect(try #require(tensors.first { $0.name == "layers.0.weight" }).shape[0] == arch.observationCount + 3)
        #expect(try #require(tensors.first { $0.name == "inner_rate_scale.context" }).values == [1, 1, 1])
        let missing = SafeTensors.encode(tensors.filter { $0.name != "context" }, metadata: meta)
        #expect { _ = try Checkpoint.decode(missing, path: "p.safetensors") } throws: { "\($0)".contains("'context' is missing") }
    }

    /// The byte layout a Python `safetensors.safe_open` reads: u64 little-endian header size,
    /// a JSON header (8-byte aligned) with string metadata and F32 tensors whose offsets tile the
    /// data, then little-endian floats.
    @Test func byteLayoutIsSafetensors() throws {
        let (c, _, _) = try checkpoint("point-nav")
        let bytes = c.encoded()
        var n = 0
        for k in 0..<8 { n |= Int(bytes[k]) << (8 * k) }
        #expect((8 + n) % 8 == 0)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let meta = try #require(header["__metadata__"] as? [String: String])
        #expect(meta["world"] == "point-nav" && meta["training_seed"] == "77" && meta["algorithm"] == "maml")
        #expect(meta["observation_spec"]?.contains("position_x") == true)
        let w0 = try #require(header["layers.0.weight"] as? [String: Any])
        #expect(w0["dtype"] as? String == "F32")
        #expect((w0["shape"] as? [Int]) == [2, 4])
        let offsets = try #require(w0["data_offsets"] as? [Int])
        var total = 0
        for (k, v) in header where k != "__metadata__" { total += ((v as! [String: Any])["data_offsets"] as! [Int])[1] - ((v as! [String: Any])["data_offsets"] as! [Int])[0] }
        #expect(8 + n + total == bytes.count)
        // layers.0.bias sorts before layers.0.weight; the first weight is parameter 0.
        let o = 8 + n + offsets[0]
        let bits = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
        #expect(Float(bitPattern: bits) == c.policy.parameters[0])
    }

    @Test func truncatedCheckpointIsRefused() throws {
        let (c, _, _) = try checkpoint("point-nav")
        let bytes = c.encoded()
        for cut in [4, 20, bytes.count - 3] {
            #expect {
                _ = try Checkpoint.decode(Array(bytes.prefix(cut)), path: "p.safetensors")
            } throws: { error in
                guard case CheckpointError.truncated = error else { return false }
                return "\(error)".contains("truncated")
            }
        }
    }

    @Test func foreignFilesAreRefused() throws {
        #expect(throws: CheckpointError.self) { try Checkpoint.decode(Array("not a checkpoint at all".utf8), path: "x") }
        let plain = SafeTensors.encode([.init(name: "w", shape: [1], values: [1])], metadata: ["format": "other"])
        #expect(throws: CheckpointError.self) { try Checkpoint.decode(plain, path: "x") }
        #expect(throws: CheckpointError.self) { try Checkpoint.load(path: "/nonexistent/policy.safetensors") }
    }

    @Test func policyForAnotherWorldIsRefused() throws {
        let (lander, _, _) = try checkpoint("lunar-lander")
        let d = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: d, task: d.nominalTask()).specs
        #expect {
            try lander.check(against: d, specs: specs, path: "lunar-lander.safetensors")
        } throws: { error in
            guard case CheckpointError.mismatch = error else { return false }
            return "\(error)".contains("'lunar-lander', not 'point-nav'")
        }
    }

    @Test func actingIsDeterministicWhenAsked() throws {
        let (c, _, _) = try checkpoint("point-nav")
        var r1 = SeededGenerator(seed: 1), r2 = SeededGenerator(seed: 2)
        let obs: [Float] = [0.1, -0.2, 0.3, 0.4]
        let a = c.policy.act(observations: obs, count: 2, deterministic: true, rng: &r1)
        let b = c.policy.act(observations: obs, count: 2, deterministic: true, rng: &r2)
        #expect(a == b && a.count == 4)
        let s = c.policy.act(observations: obs, count: 2, deterministic: false, rng: &r1)
        #expect(s != a)
    }
}
