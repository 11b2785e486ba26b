import Foundation
import MetaLearning
import MetaSimCore
import MetaSimTestSupport
import Testing

@testable import MetaSimBatch

/// Policies with memory in batches (`MemoryEpisodePolicy`): a unit's episodes are one trial of its
/// task, the state carried from each episode to the next and zero at the unit's start; the same
/// outputs for any `--jobs`; `adapt:` refused at the spec's line. Uses the shipped
/// `policies/point-nav-rl2.safetensors`.
@Suite("Batch policies with memory")
struct BatchMemoryPolicyTests {
    static let specText = """
        name: memory-batch
        worlds: [point-nav]
        tasks: {seeds: {from: 1000000000, count: 3}}
        policies:
          - {checkpoint: ckpt/point-nav-rl2.safetensors}
        episodes: 3
        seed: 5
        """

    static func folder() throws -> String { try BatchCheckpointTests.folder("point-nav-rl2") }

    @Test("a unit's episodes carry the state, for any --jobs")
    func unitsAreTrials() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let plan = try BatchRunnerTests.plan(in: root, text: Self.specText)
        let one = try BatchRunner(plan: plan, folder: root + "/j1", jobs: 1).run(resume: false)
        let two = try BatchRunner(plan: plan, folder: root + "/j2", jobs: 2).run(resume: false)
        #expect(one == two)
        #expect(try BatchRunnerTests.outputs(root + "/j1") == BatchRunnerTests.outputs(root + "/j2"))

        // The same unit by hand: one actor row, reset to zero once, told every step's outcome.
        let checkpoint = try Checkpoint.load(path: root + "/ckpt/point-nav-rl2.safetensors")
        let policy = checkpoint.policy
        let unit = plan.units[0]
        let world = try World(definition: plan.definitions[unit.worldIndex], task: unit.task)
        var actor = RecurrentActor(math: RecurrentMath(architecture: policy.architecture, normalizer: policy.normalizer), rows: 1)
        let params = policy.parameters.map { Double($0) }
        var fresh: [Double] = []
        for k in 0..<unit.episodes {
            var rng = SeededGenerator(seed: unit.episodeSeed(k), stream: RandomStream.policy)
            let observation = world.reset(seed: unit.episodeSeed(k))
            var obs = observation, total = 0.0, ended = false
            actor.noteReset(row: 0)
            while !ended {
                var action = [Float](repeating: 0, count: world.actionCount)
                actor.act(params, deterministic: false, rng: &rng, observation: { _, i in Double(obs[i]) }) { _, i, v in
                    action[i] = Float(policy.architecture.worldAction(v, component: i))
                }
                let r = world.step(action)
                total += r.reward
                ended = r.terminated || r.truncated
                actor.noteStep(row: 0, reward: r.reward, ended: ended)
                obs = world.observation
            }
            #expect(Float(total) == Float(one[0].episodes[k].episodeReturn), "episode \(k)")
            // The same episode with a state fresh from zero: a different return after the first.
            var alone = MemoryEpisodePolicy(policy)
            var runner = EpisodeRunner(world: world)
            fresh.append(runner.run(seed: unit.episodeSeed(k), resetting: &alone).episodeReturn)
        }
        #expect(fresh[0] == one[0].episodes[0].episodeReturn)
        #expect(fresh[1] != one[0].episodes[1].episodeReturn && fresh[2] != one[0].episodes[2].episodeReturn, "the state carried")
    }

    @Test("adapt: on a policy with memory is refused at the policy's line, naming why")
    func adaptIsRefused() throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let text = """
            worlds: [point-nav]
            policies:
              - checkpoint: ckpt/point-nav-rl2.safetensors
                adapt: {steps: 1, episodes: 4}
            """
        let (d, message) = try #require(try BatchCheckpointTests.refusal(text, in: root))
        #expect(d.line == 3 && d.keyPath.hasPrefix("policies[0]"), "\(d)")
        #expect(message.contains("is a policy with memory (rl2): it adapts by acting"), "\(message)")
    }
}
