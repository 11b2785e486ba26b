import Foundation
import Logging
import MetaSimCore
import Testing

@testable import MetaLearning

/// RL² (`RecurrentLearner`): the GRU's hand-written backpropagation through time and PPO's
/// gradient against central finite differences, training's determinism across thread counts,
/// and its checkpoints (round trip, refusals naming the field).
struct RecurrentLearnerTests {
    /// A sequence of 7 steps with a reset before steps 0 and 3 (a new task inside the sequence).
    static let resets = [true, false, false, true, false, false, false]

    static func lossOf(_ s: GRUNetwork.Sequence, _ up: [Double], _ upV: [Double]) -> Double {
        zip(s.outputs, up).reduce(0) { $0 + $1.0 * $1.1 } + zip(s.values, upV).reduce(0) { $0 + $1.0 * $1.1 }
    }

    @Test func gruParameterAndInputGradientsMatchFiniteDifferences() {
        let g = GRUNetwork(inputCount: 4, hiddenCount: 5, outputCount: 3)
        let params = g.initialParameters(seed: 1, outputScale: 1).enumerated().map { $0.1 + 0.3 * sin(Double($0.0)) }
        let n = Self.resets.count
        let inputs = Support.uniform(n * 4, seed: 2, scale: 1.5)
        let up = Support.uniform(n * 3, seed: 3), upV = Support.uniform(n, seed: 4)
        let initial = Support.uniform(5, seed: 5, scale: 0.5)
        // The state before step 0 is reset: `initial` must not matter; start without a reset too.
        for resets in [Self.resets, [false] + Self.resets.dropFirst()] {
            func loss(_ p: [Double], _ x: [Double]) -> Double {
                Self.lossOf(g.forward(p, inputs: x, resets: resets, initial: initial, length: n), up, upV)
            }
            let s = g.forward(params, inputs: inputs, resets: resets, initial: initial, length: n)
            var grad = [Double](repeating: 0, count: g.parameterCount)
            let dx = g.backward(params, sequence: s, outputGradient: up, valueGradient: upV, gradient: &grad, inputGradient: true)!
            #expect(Support.maxRelativeError(grad, Support.numericGradient(params) { loss($0, inputs) }) < 1e-6)
            #expect(Support.maxRelativeError(dx, Support.numericGradient(inputs) { loss(params, $0) }) < 1e-6)
            // The recurrence is exercised: the hidden-to-hidden weights get a gradient.
            #expect(grad[g.weightHH..<g.biasIH].contains { abs($0) > 1e-4 })
        }
    }

    /// Truncated BPTT is the gradient of the same forward pass cut in chunks of `truncation`
    /// steps, each starting from the state the whole pass reached (a constant).
    @Test func truncatedBackpropagationTreatsTheStateAtEachCutAsAConstant() {
        let g = GRUNetwork(inputCount: 3, hiddenCount: 4, outputCount: 2)
        let params = g.initialParameters(seed: 7, outputScale: 1)
        let n = Self.resets.count, hc = 4
        let resets = [true] + [Bool](repeating: false, count: n - 1)
        let inputs = Support.uniform(n * 3, seed: 8), up = Support.uniform(n * 2, seed: 9), upV = Support.uniform(n, seed: 10)
        let whole = g.forward(params, inputs: inputs, resets: resets, length: n)
        var truncated = [Double](repeating: 0, count: g.parameterCount), full = truncated
        g.backward(params, sequence: whole, outputGradient: up, valueGradient: upV, gradient: &truncated, truncation: 3)
        g.backward(params, sequence: whole, outputGradient: up, valueGradient: upV, gradient: &full)
        var chunked = [Double](repeating: 0, count: g.parameterCount)
        for start in stride(from: 0, to: n, by: 3) {
            let end = min(start + 3, n)
            let initial = Array(whole.states[(start * hc)..<(start * hc + hc)])
            let s = g.forward(params, inputs: Array(inputs[(start * 3)..<(end * 3)]), resets: Array(resets[start..<end]), initial: initial,
                              length: end - start)
            #expect(s.outputs == Array(whole.outputs[(start * 2)..<(end * 2)]))
            func loss(_ p: [Double]) -> Double {
                Self.lossOf(g.forward(p, inputs: s.inputs, resets: s.resets, initial: initial, length: s.length),
                            Array(up[(start * 2)..<(end * 2)]), Array(upV[start..<end]))
            }
            let numeric = Support.numericGradient(params, loss)
            for i in 0..<chunked.count { chunked[i] += numeric[i] }
        }
        #expect(Support.maxRelativeError(truncated, chunked) < 1e-6)
        #expect(Support.maxRelativeError(full, chunked) > 1e-4, "the cut changes the gradient")
    }

    static func trial(_ math: RecurrentMath, params: [Double], length: Int, seed: UInt64, spread: Double) -> Trial {
        let arch = math.architecture
        var rng = SeededGenerator(seed: seed)
        var t = Trial(observationCount: arch.observationCount, actionWidth: arch.actionWidth, inputCount: math.network.inputCount)
        t.length = length
        t.inputs = (0..<(length * math.network.inputCount)).map { _ in rng.uniform(-1, 1) }
        t.actions = (0..<length).flatMap { _ -> [Double] in
            arch.kind == .gaussian ? (0..<arch.actionCount).map { _ in rng.uniform(-1, 1) } : [Double(rng.integer(0, arch.actionCount - 1))]
        }
        t.rewards = (0..<length).map { _ in rng.uniform(-1, 1) }
        var resets = [Bool](repeating: false, count: length)
        resets[0] = true
        let s = math.network.forward(params, inputs: t.inputs, resets: resets, length: length)
        t.logLikelihoods = (0..<length).map { math.logLikelihood(params, outputs: s.outputs, row: $0, actions: t.actions) + rng.uniform(-spread, spread) }
        t.values = s.values.map { $0 + rng.uniform(-0.5, 0.5) }
        t.episodeStarts = [0, length / 2]
        return t
    }

    @Test(arguments: [PolicyArchitecture.Kind.gaussian, .categorical])
    func ppoGradientMatchesFiniteDifferences(kind: PolicyArchitecture.Kind) {
        let arch = PolicyArchitecture.recurrent(PolicyArchitecture(kind: kind, observationCount: 3, actionCount: 2, hidden: [], initialLogStd: -0.4),
                                                hiddenSize: 5)
        let math = RecurrentMath(architecture: arch, normalizer: ObservationNormalizer(size: 3, enabled: false))
        var params = arch.initialParameters(seed: 11)
        for i in params.indices { params[i] += 0.2 * cos(Double(i)) }
        // Ratios far enough from 1 that some are clipped (their terms have no gradient).
        let t = Self.trial(math, params: params, length: 9, seed: 12, spread: 0.6)
        let adv = Support.uniform(9, seed: 13), ret = Support.uniform(9, seed: 14)
        let settings = PPOSettings(clip: 0.2, valueCoefficient: 0.7)
        let (loss, grad, clipped) = math.ppoTrial(params, trial: t, advantages: adv, returns: ret, settings: settings, scale: 1.0 / 9)
        #expect(clipped > 0 && clipped < 9)
        let numeric = Support.numericGradient(params) { math.ppoTrial($0, trial: t, advantages: adv, returns: ret, settings: settings, scale: 1.0 / 9).loss }
        #expect(Support.maxRelativeError(grad, numeric) < 1e-5)
        #expect(loss.isFinite)
        // Over several trials it is the sum of theirs (each scaled by 1/N of all steps), for any
        // thread count, and a cancelled pass gives nothing.
        let u = Self.trial(math, params: params, length: 6, seed: 15, spread: 0.1)
        let adv2 = Support.uniform(6, seed: 16), ret2 = Support.uniform(6, seed: 17)
        let one = math.ppo(params, trials: [t, u], advantages: [adv, adv2], returns: [ret, ret2], settings: settings, threads: 1)!
        let two = math.ppo(params, trials: [t, u], advantages: [adv, adv2], returns: [ret, ret2], settings: settings, threads: 2)!
        #expect(one.gradient.map(\.bitPattern) == two.gradient.map(\.bitPattern))
        let a = math.ppoTrial(params, trial: t, advantages: adv, returns: ret, settings: settings, scale: 1.0 / 15)
        let b = math.ppoTrial(params, trial: u, advantages: adv2, returns: ret2, settings: settings, scale: 1.0 / 15)
        #expect(abs(one.loss - (a.loss + b.loss)) < 1e-12)
        let cancel = Cancellation()
        cancel.cancel()
        #expect(math.ppo(params, trials: [t, u], advantages: [adv, adv2], returns: [ret, ret2], settings: settings, cancel: cancel) == nil)
    }

    static func config(threads: Int, seed: UInt64 = 3) -> MetaTrainingConfig {
        MetaTrainingConfig(algorithm: .rl2, iterations: 2, metaBatch: 3, inner: InnerLoop(gamma: 0.99, lambda: 0.95), outerLearningRate: 0.003,
                           hidden: [6], normalizeObservations: true, seed: seed, horizon: 12, threads: threads,
                           recurrent: RecurrentTraining(trialEpisodes: 2, epochs: 2, minibatches: 2, truncation: 5))
    }

    /// A point-nav checkpoint trained with `config` (rl2 or context), as `metasim train` writes it.
    static func train(_ config: MetaTrainingConfig) throws -> Checkpoint {
        let definition = try Support.definition("point-nav")
        let trainer = try MetaTrainer(definition: definition, config: config)
        let policy = try trainer.train(logger: Logger(label: "test"))
        let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
        return Checkpoint(policy: policy, metadata: CheckpointMetadata(definition: definition, specs: specs, algorithm: config.algorithm.rawValue,
                                                                       hyperparameters: MetaLearners.learner(for: config.algorithm).hyperparameters(config),
                                                                       trainingSeed: config.seed, metasimVersion: "test"))
    }

    @Test func trainingIsBitIdenticalForAnyThreadCountAndRoundTrips() throws {
        let one = try Self.train(Self.config(threads: 1)), two = try Self.train(Self.config(threads: 2))
        #expect(one.encoded() == two.encoded())
        #expect(try Self.train(Self.config(threads: 1, seed: 4)).encoded() != one.encoded(), "the seed matters")
        let untrained = Policy(architecture: one.policy.architecture, seed: SplitMix64.mix(3, 0xB0B))
        #expect(one.policy.parameters != untrained.parameters, "training moved the parameters")
        #expect(one.policy.architecture.recurrent == RecurrentCell(hiddenSize: 6))
        // Round trip.
        let path = Support.temporaryPath("rl2.safetensors")
        try one.write(to: path)
        let back = try Checkpoint.load(path: path)
        #expect(back == one)
        #expect(back.metadata.trainingConfig?.recurrent == Self.config(threads: 1).recurrent)
        #expect(back.learner is RecurrentLearner && back.adaptFirst == true && back.trainedSteps == nil)
        #expect(AdaptationRunner(checkpoint: back).learner is RecurrentLearner)
        #expect(AdaptationRunner(policy: back.policy).learner is RecurrentLearner, "no policy-gradient learner claims a GRU")
        #expect(back.adaptationDefaults.inner.steps == 1)
    }

    /// A checkpoint whose recorded architecture is changed, tensors left as they are.
    static func tampered(_ c: Checkpoint, _ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
        let (tensors, meta) = try SafeTensors.decode(c.encoded(), path: "x")
        var arch = try #require(try JSONSerialization.jsonObject(with: Data(meta["policy"]!.utf8)) as? [String: Any])
        edit(&arch)
        var m = meta
        m["policy"] = String(decoding: try JSONSerialization.data(withJSONObject: arch, options: [.sortedKeys]), as: UTF8.self)
        return SafeTensors.encode(tensors, metadata: m)
    }

    static func refusal(_ bytes: [UInt8]) -> String {
        do { _ = try Checkpoint.decode(bytes, path: "rl2.safetensors"); return "" } catch { return error.description }
    }

    @Test func aMismatchedArchitectureIsRefusedAtLoadNamingTheField() throws {
        let c = try Self.train(Self.config(threads: 1))
        func recurrent(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
            { a in var r = a["recurrent"] as! [String: Any]; r[key] = value; a["recurrent"] = r }
        }
        let smaller = Self.refusal(try Self.tampered(c, recurrent("hiddenSize", 4)))
        #expect(smaller.contains("tensor 'gru.weight_ih' has shape [6, 18], the policy needs [6, 12]"), "\(smaller)")
        let lstm = Self.refusal(try Self.tampered(c, recurrent("cell", "lstm")))
        #expect(lstm.contains("recurrent.cell 'lstm'"), "\(lstm)")
        let inputs = Self.refusal(try Self.tampered(c, recurrent("inputs", ["observation", "previous_reward", "previous_action", "episode_end"])))
        #expect(inputs.contains("recurrent.inputs"), "\(inputs)")
        let size = Self.refusal(try Self.tampered(c, recurrent("hiddenSize", 0)))
        #expect(size.contains("recurrent.hiddenSize 0"), "\(size)")
        let mlp = Self.refusal(try Self.tampered(c) { $0["recurrent"] = nil; $0["hidden"] = [6] })
        #expect(mlp.contains("tensor 'layers.0.weight' is missing"), "\(mlp)")
        let both = Self.refusal(try Self.tampered(c) { $0["hidden"] = [6] })
        #expect(both.contains("hidden [6] must be empty"), "\(both)")
        #expect(Self.refusal(try Self.tampered(c) { _ in }) == "", "the untouched file loads")
    }

    @Test func theRewardInputScaleMultipliesThePreviousRewardBeforeTheClipAndIsRecorded() throws {
        let base = PolicyArchitecture(kind: .gaussian, observationCount: 2, actionCount: 1, hidden: [], initialLogStd: 0)
        let off = ObservationNormalizer(size: 2, enabled: false)
        func rewardInput(_ scale: Double?, _ reward: Double) -> Double {
            let arch = PolicyArchitecture.recurrent(base, hiddenSize: 3, rewardScale: scale)
            let math = RecurrentMath(architecture: arch, normalizer: off)
            var input = [Double](repeating: .nan, count: arch.recurrentInputCount)
            math.stepInput(observation: [0.5, -0.5], previousAction: [0.25], previousReward: reward, episodeEnd: false, into: &input, at: 0)
            #expect(input[0] == 0.5 && input[2] == 0.25 && input[4] == 0)
            return input[3]
        }
        #expect(rewardInput(nil, 0.03) == 0.03, "no scale recorded: the reward as it is")
        #expect(rewardInput(30, 0.03) == 0.03 * 30)
        #expect(rewardInput(30, -0.5) == -RecurrentCell.rewardClip, "the clip applies after the scale")
        #expect(PolicyArchitecture.recurrent(base, hiddenSize: 3).recurrent == RecurrentCell(hiddenSize: 3), "absent unless set")

        // Training records it in the architecture (and the training record); the file round-trips,
        // and a scale of 1 recorded differs from none only in the record.
        var config = Self.config(threads: 1)
        config.recurrent?.rewardScale = 4
        let scaled = try Self.train(config)
        #expect(scaled.policy.architecture.recurrent?.rewardScale == 4)
        let back = try Checkpoint.decode(scaled.encoded(), path: "rl2.safetensors")
        #expect(back == scaled && back.metadata.trainingConfig?.recurrent?.rewardScale == 4)
        #expect(scaled.policy.parameters != (try Self.train(Self.config(threads: 1))).policy.parameters, "the network read different inputs")
        config.recurrent?.rewardScale = 1
        #expect(try Self.train(config).policy.parameters == (try Self.train(Self.config(threads: 1))).policy.parameters)

        // Out of range: refused in the settings and, in a file, at load naming the field.
        #expect(RecurrentTraining(rewardScale: 0).problem?.contains("reward input scale 0.0") == true)
        #expect(RecurrentTraining(rewardScale: -2).problem != nil && RecurrentTraining(rewardScale: .nan).problem != nil)
        #expect(RecurrentTraining(rewardScale: 2e6).problem != nil && RecurrentTraining(rewardScale: 1e6).problem == nil)
        for bad in [0.0, -1, 2e6] {
            let refused = Self.refusal(try Self.tampered(scaled) { a in var r = a["recurrent"] as! [String: Any]; r["rewardScale"] = bad; a["recurrent"] = r })
            #expect(refused.contains("recurrent.rewardScale"), "\(refused)")
        }
        let text = Self.refusal(try Self.tampered(scaled) { a in var r = a["recurrent"] as! [String: Any]; r["rewardScale"] = "ten"; a["recurrent"] = r })
        #expect(!text.isEmpty, "a scale that is not a number")
    }

    @Test func commandsThatActFeedForwardRefuseARecurrentCheckpointClearly() throws {
        let c = try Self.train(Self.config(threads: 1))
        let definition = try Support.definition("point-nav")
        let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
        var message = ""
        do { try c.check(against: definition, specs: specs, path: "rl2.safetensors") } catch { message = error.description }
        #expect(message.contains("recurrent policy (rl2, a GRU of 6 units)"), "\(message)")
        #expect(try c.check(against: definition, specs: specs, path: "rl2.safetensors", allowRecurrent: true) == nil)
        #expect(AdaptationRunner(checkpoint: c).recordedEpisodesRefusal != nil)
    }

    /// Acting with memory: rounds are the trials' episodes in order, the parameters never move.
    @Test func adaptingActsTrialsWithTheStateCarried() throws {
        let c = try Self.train(Self.config(threads: 1))
        let definition = try Support.definition("point-nav").withHorizon(12)
        let program = try WorldProgram(definition: definition, task: definition.sampleTask(seed: 1_000_000_007))
        var rounds: [Int] = []
        let a = try AdaptationRunner(checkpoint: c).run(on: program, AdaptationRequest(inner: InnerLoop(steps: 2, episodes: 3), seed: 5,
                                                                                          evaluateFinal: true, deterministicEpisodes: 2)) { k, e in
            rounds.append(k)
            #expect(e.count == 3 && e.lengths == [12, 12, 12])
        }
        #expect(rounds == [1, 2])
        #expect(a.returns.count == 3 && a.deterministicReturns.count == 3 && a.returns.allSatisfy(\.isFinite))
        #expect(a.parameters.count == 3 && a.parameters.allSatisfy { $0 == c.policy.parameters.map { Double($0) } })
        // The trials' episodes are one trial's, in order: the sampler's first trial equals them.
        let math = RecurrentMath(architecture: c.policy.architecture, normalizer: c.policy.normalizer)
        let trials = try TrialSampler(program: program).collect(math: math, params: a.final, count: 3, episodes: 3, seed: 5)
        #expect(trials[0].episodeStarts == [0, 12, 24] && trials[0].length == 36)
        #expect(a.returns[1] == trials.map { $0.episodeReturns[1] }.reduce(0, +) / 3)
        // The episode-end flag is set on the first step of every later episode, and only there.
        let flag = math.network.inputCount - 1
        let flags = (0..<36).map { trials[0].inputs[$0 * math.network.inputCount + flag] }
        #expect(flags.enumerated().allSatisfy { $0.1 == ($0.0 == 12 || $0.0 == 24 ? 1 : 0) })
    }
}
