import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// The context policy (`ContextNetwork`, `ContextLearner`): its hand-written gradient through the
/// policy, the pooled code and the encoder against central finite differences; acting step by
/// step equals a whole trial's pass to the bit; what the pool may and may not see; training's
/// determinism across thread counts; checkpoints (round trip, refusals naming the field); its
/// state saved, restored and refused whole.
struct ContextLearnerTests {
    static let network = ContextNetwork(observationCount: 3, inputCount: 3 + 2 + 2, hiddenCount: 5, latentCount: 4, outputCount: 2)
    /// Two tasks in one sequence: a reset before steps 0 and 4.
    static let resets = [true, false, false, false, true, false, false, false, false]

    static func lossOf(_ s: ContextNetwork.Sequence, _ up: [Double], _ upV: [Double]) -> Double {
        zip(s.outputs, up).reduce(0) { $0 + $1.0 * $1.1 } + zip(s.values, upV).reduce(0) { $0 + $1.0 * $1.1 }
    }

    @Test func parameterGradientMatchesFiniteDifferencesThroughThePool() {
        let g = Self.network
        let params = g.initialParameters(seed: 1, outputScale: 1).enumerated().map { $0.1 + 0.3 * sin(Double($0.0)) }
        let n = Self.resets.count
        let inputs = Support.uniform(n * g.inputCount, seed: 2, scale: 1.5)
        let up = Support.uniform(n * 2, seed: 3), upV = Support.uniform(n, seed: 4)
        let s = g.forward(params, inputs: inputs, resets: Self.resets, length: n)
        var grad = [Double](repeating: 0, count: g.parameterCount)
        g.backward(params, sequence: s, outputGradient: up, valueGradient: upV, gradient: &grad)
        let numeric = Support.numericGradient(params) { Self.lossOf(g.forward($0, inputs: inputs, resets: Self.resets, length: n), up, upV) }
        #expect(Support.maxRelativeError(grad, numeric) < 1e-6)
        // The encoder is reached (through the pooled code), and so is the policy.
        #expect(grad[0..<g.policyOffset].contains { abs($0) > 1e-4 })
        #expect(grad[g.policyOffset...].contains { abs($0) > 1e-4 })
    }

    /// Outputs at step t read the transitions of their task up to t: not later steps, not the
    /// task before a reset; and the code is a mean, so the first step of a task reads no code.
    @Test func thePoolReadsOnlyItsTasksPast() {
        let g = Self.network
        let params = g.initialParameters(seed: 5, outputScale: 1)
        let n = Self.resets.count, ic = g.inputCount
        let inputs = Support.uniform(n * ic, seed: 6)
        let base = g.forward(params, inputs: inputs, resets: Self.resets, length: n)
        func changed(at t: Int, component k: Int) -> [Bool] {
            var x = inputs
            x[t * ic + k] += 0.5
            let s = g.forward(params, inputs: x, resets: Self.resets, length: n)
            var out: [Bool] = []
            for r in 0..<n {
                let now: [Double] = Array(s.outputs[(r * 2)..<(r * 2 + 2)]), before: [Double] = Array(base.outputs[(r * 2)..<(r * 2 + 2)])
                out.append(now != before)
            }
            return out
        }
        // The reward of step 2 (read at step 2 as the previous reward) changes steps 2 and 3 only.
        #expect(changed(at: 2, component: 3 + 2) == [false, false, true, true, false, false, false, false, false])
        // Step 1's observation: its own step, the transitions 0→1 and 1→2, so steps 1…3.
        #expect(changed(at: 1, component: 0) == [false, true, true, true, false, false, false, false, false])
        // A task's first step reads no transition: its reward input changes nothing.
        #expect(changed(at: 4, component: 3 + 2) == [Bool](repeating: false, count: n))
    }

    static func actor(rows: Int = 2, kind: PolicyArchitecture.Kind = .gaussian) -> (RecurrentActor, [Double]) {
        let base = PolicyArchitecture(kind: kind, observationCount: 3, actionCount: 2, hidden: [])
        let arch = PolicyArchitecture.context(base, hiddenSize: 5, latentSize: 4)
        var rng = SeededGenerator(seed: 9, stream: RandomStream.policy)
        let params = (0..<arch.parameterCount).map { _ in rng.uniform(-0.7, 0.7) }
        return (RecurrentActor(math: RecurrentMath(architecture: arch, normalizer: ObservationNormalizer(size: 3, enabled: false)), rows: rows), params)
    }

    /// Acting row by row (the daemon's `act`) runs the arithmetic of a trial's pass (training's):
    /// the same outputs to the bit, rows independent of each other.
    @Test func actingStepByStepEqualsTheTrialsPass() throws {
        var (a, params) = Self.actor(rows: 2)
        let math = a.math
        let length = 7
        var rng = SeededGenerator(seed: 3)
        let obs = (0..<(length * 2 * 3)).map { _ in rng.uniform(-1, 1) }
        let rewards = (0..<(length * 2)).map { _ in rng.uniform(-2, 2) }
        var acted = [[Double]](repeating: [], count: 2)
        var noise = SeededGenerator(seed: 1, stream: RandomStream.policy)
        for t in 0..<length {
            a.act(params, deterministic: true, rng: &noise, observation: { r, k in obs[(t * 2 + r) * 3 + k] }) { r, _, v in acted[r].append(v) }
            for r in 0..<2 { a.noteStep(row: r, reward: rewards[t * 2 + r], ended: t == 3) }
        }
        for r in 0..<2 {
            var inputs = [Double](repeating: 0, count: length * math.network.inputCount)
            for t in 0..<length {
                math.stepInput(observation: obs[((t * 2 + r) * 3)..<((t * 2 + r) * 3 + 3)],
                               previousAction: t == 0 ? nil : acted[r][((t - 1) * 2)..<(t * 2)], previousReward: t == 0 ? 0 : rewards[(t - 1) * 2 + r],
                               episodeEnd: t == 4, into: &inputs, at: t * math.network.inputCount)
            }
            let s = math.network.forward(params, inputs: inputs, resets: [true] + [Bool](repeating: false, count: length - 1), length: length)
            #expect(s.outputs.map(\.bitPattern) == acted[r].map(\.bitPattern))
        }
        #expect(acted[0] != acted[1])
    }

    @Test func aContextStateIsSavedRestoredAndRefusedWhole() throws {
        var (a, params) = Self.actor()
        let obs = [0.2, -0.4, 1.1]
        var noise = SeededGenerator(seed: 1, stream: RandomStream.policy)
        func step() -> [Double] {
            var out: [Double] = []
            a.act(params, deterministic: true, rng: &noise, observation: { _, k in obs[k] }) { _, _, v in out.append(v) }
            return out
        }
        let first = step()
        a.noteStep(row: 0, reward: 1.5, ended: false)
        _ = step()
        let saved = a.save(), tag = a.architectureTag
        // Per row: Σe (4), c, previous observation (3), its flag, then the actor's own 2 + 3.
        #expect(a.valuesPerRow == 4 + 1 + 3 + 1 + 2 + 3 && saved[4] == 1 && saved[8] == 1)
        #expect(tag.hasPrefix("context-h5-z4-o3-a2-gaussian"))
        let next = step()
        try a.restore(saved, architecture: tag)
        #expect(step() == next)
        var bad = saved
        bad[4] = -1
        #expect(throws: RecurrentStateError.outOfRange(row: 0, field: "context_count", value: -1)) { try a.restore(bad, architecture: tag) }
        bad = saved
        bad[a.valuesPerRow + 4] = 0.5
        #expect(throws: RecurrentStateError.outOfRange(row: 1, field: "context_count", value: 0.5)) { try a.restore(bad, architecture: tag) }
        bad = saved
        bad[8] = 2
        #expect(throws: RecurrentStateError.outOfRange(row: 0, field: "has_previous_observation", value: 2)) { try a.restore(bad, architecture: tag) }
        bad = saved
        bad[1] = .nan
        #expect(throws: RecurrentStateError.notFinite(row: 0, field: "context_sum[1]")) { try a.restore(bad, architecture: tag) }
        let (gru, _) = RecurrentActorTests.actor(hidden: 9)
        #expect(gru.valuesPerRow == a.valuesPerRow, "same size, other architecture")
        #expect(throws: RecurrentStateError.otherArchitecture(expected: tag, got: gru.architectureTag)) {
            try a.restore(gru.save(), architecture: gru.architectureTag)
        }
        try a.restore(saved, architecture: tag)
        #expect(a.save() == saved)
        a.resetState()
        #expect(step() == first)
    }

    @Test(arguments: [PolicyArchitecture.Kind.gaussian, .categorical])
    func ppoGradientMatchesFiniteDifferences(kind: PolicyArchitecture.Kind) {
        let arch = PolicyArchitecture.context(PolicyArchitecture(kind: kind, observationCount: 3, actionCount: 2, hidden: [], initialLogStd: -0.4),
                                              hiddenSize: 5, latentSize: 3)
        let math = RecurrentMath(architecture: arch, normalizer: ObservationNormalizer(size: 3, enabled: false))
        var params = arch.initialParameters(seed: 11)
        for i in params.indices { params[i] += 0.2 * cos(Double(i)) }
        var t = RecurrentLearnerTests.trial(math, params: params, length: 9, seed: 12, spread: 0.6)
        // Episode-end flags as a trial has them (one episode end, at step 5), so that the decoder
        // has transitions to predict and one to skip.
        let ic = math.network.inputCount
        for s in 0..<9 { t.inputs[s * ic + ic - 1] = s == 5 ? 1 : 0 }
        let adv = Support.uniform(9, seed: 13), ret = Support.uniform(9, seed: 14)
        var losses: [Double] = []
        for decoder in [0.0, 0.8] {
            let settings = PPOSettings(clip: 0.2, valueCoefficient: 0.7, decoderCoefficient: decoder)
            let (loss, grad, clipped) = math.ppoTrial(params, trial: t, advantages: adv, returns: ret, settings: settings, scale: 1.0 / 9)
            #expect(clipped > 0 && clipped < 9 && loss.isFinite)
            let numeric = Support.numericGradient(params) { math.ppoTrial($0, trial: t, advantages: adv, returns: ret, settings: settings, scale: 1.0 / 9).loss }
            #expect(Support.maxRelativeError(grad, numeric) < 1e-5)
            guard case .context(let c) = math.network else { Issue.record("not a context network"); return }
            // Only the decoder's loss reaches the decoder's parameters.
            #expect(grad[c.decoderOffset..<c.parameterCount].contains { $0 != 0 } == (decoder > 0))
            losses.append(loss)
        }
        #expect(losses[1] > losses[0], "the decoder's loss is added")
    }

    static func config(threads: Int, seed: UInt64 = 3) -> MetaTrainingConfig {
        MetaTrainingConfig(algorithm: .context, iterations: 2, metaBatch: 3, inner: InnerLoop(gamma: 0.99, lambda: 0.95), outerLearningRate: 0.003,
                           hidden: [6], normalizeObservations: true, seed: seed, horizon: 12, threads: threads,
                           recurrent: RecurrentTraining(trialEpisodes: 2, epochs: 2, minibatches: 2, latentSize: 3))
    }

    static func train(_ config: MetaTrainingConfig) throws -> Checkpoint { try RecurrentLearnerTests.train(config) }

    @Test func trainingIsBitIdenticalForAnyThreadCountAndRoundTrips() throws {
        let one = try Self.train(Self.config(threads: 1)), two = try Self.train(Self.config(threads: 2))
        #expect(one.encoded() == two.encoded())
        let untrained = Policy(architecture: one.policy.architecture, seed: SplitMix64.mix(3, 0xB0B))
        #expect(one.policy.parameters != untrained.parameters, "training moved the parameters")
        #expect(one.policy.architecture.recurrent == RecurrentCell(contextHiddenSize: 6, latentSize: 3))
        let path = Support.temporaryPath("context.safetensors")
        try one.write(to: path)
        let back = try Checkpoint.load(path: path)
        #expect(back == one)
        #expect(back.learner is ContextLearner && back.adaptFirst == true && back.trainedSteps == nil)
        #expect(AdaptationRunner(checkpoint: back).learner is ContextLearner)
        #expect(AdaptationRunner(checkpoint: back).recordedEpisodesRefusal?.contains("context policy") == true)
        // Adapting acts trials with the pooled code carried; the parameters never move.
        let definition = try Support.definition("point-nav").withHorizon(12)
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: 1_000_000_007))
        let a = try AdaptationRunner(checkpoint: back).run(on: program, AdaptationRequest(inner: InnerLoop(steps: 2, episodes: 3), seed: 5,
                                                                                             evaluateFinal: true)) { _, _ in }
        #expect(a.returns.count == 3 && a.returns.allSatisfy(\.isFinite))
        #expect(a.parameters.allSatisfy { $0 == back.policy.parameters.map { Double($0) } })
    }

    @Test func aMismatchedArchitectureIsRefusedAtLoadNamingTheField() throws {
        let c = try Self.train(Self.config(threads: 1))
        func recurrent(_ key: String, _ value: Any?) -> (inout [String: Any]) -> Void {
            { a in var r = a["recurrent"] as! [String: Any]; r[key] = value; a["recurrent"] = r }
        }
        let latent = RecurrentLearnerTests.refusal(try RecurrentLearnerTests.tampered(c, recurrent("latentSize", 2)))
        #expect(latent.contains("tensor 'encoder.layers.1.weight' has shape [6, 3], the policy needs [6, 2]"), "\(latent)")
        let missing = RecurrentLearnerTests.refusal(try RecurrentLearnerTests.tampered(c, recurrent("latentSize", nil)))
        #expect(missing.contains("recurrent.latentSize is missing"), "\(missing)")
        let zero = RecurrentLearnerTests.refusal(try RecurrentLearnerTests.tampered(c, recurrent("latentSize", 0)))
        #expect(zero.contains("recurrent.latentSize 0 is not in"), "\(zero)")
        let gru = RecurrentLearnerTests.refusal(try RecurrentLearnerTests.tampered(c, recurrent("cell", "gru")))
        #expect(gru.contains("recurrent.latentSize 3 is only for a context cell"), "\(gru)")
        #expect(RecurrentLearnerTests.refusal(try RecurrentLearnerTests.tampered(c) { _ in }) == "", "the untouched file loads")
    }
}
