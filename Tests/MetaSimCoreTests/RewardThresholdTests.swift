import Foundation
import Testing

@testable import MetaSimCore

/// `episode.reward_threshold`: read from the file, absent by default, and metadata only (the same
/// world with and without it steps identically).
@Suite("Reward threshold")
struct RewardThresholdTests {
    static func world(_ episode: String) -> String {
        """
        name: ball
        simulation:
          timestep: 0.02
        episode:
          horizon: 30
        \(episode)
        bodies:
          ground:
            type: static
            shapes:
              - box: {half_extents: [5, 0.5]}
          ball:
            position: [0, 2]
            shapes:
              - circle: 0.5
        actions:
          - name: push
            type: force
            body: ball
            max_force: 10
        observations:
          - name: ball_y
            type: position
            body: ball
            axis: y
        reward:
          - name: alive
            type: alive
        """
    }

    @Test("read as a literal number, nil when absent; the catalog's replicas declare Gymnasium's")
    func decoded() throws {
        #expect(try TestSupport.parse(Self.world("  reward_threshold: -12.5")).episode.rewardThreshold == -12.5)
        #expect(try TestSupport.parse(Self.world("")).episode.rewardThreshold == nil)
        let acrobot = try #require(TestSupport.catalogPath(named: "acrobot"))
        #expect(try WorldDefinition.load(contentsOfFile: acrobot).episode.rewardThreshold == -100)
        let pendulum = try #require(TestSupport.catalogPath(named: "pendulum"))
        #expect(try WorldDefinition.load(contentsOfFile: pendulum).episode.rewardThreshold == nil)
    }

    @Test("it changes no step: the same episode bit for bit with and without it")
    func metadataOnly() throws {
        let with = try TestSupport.world(TestSupport.parse(Self.world("  reward_threshold: 100")))
        let without = try TestSupport.world(TestSupport.parse(Self.world("")))
        #expect(with.reset(seed: 7) == without.reset(seed: 7))
        var truncated = 0
        for t in 0..<40 {
            let a: [Float] = [t % 3 == 0 ? 1 : -0.5]
            let r = with.step(a)
            #expect(r == without.step(a))
            #expect(with.observation == without.observation)
            if r.truncated {
                truncated += 1
                #expect(with.reset(seed: UInt64(t)) == without.reset(seed: UInt64(t)))
            }
        }
        #expect(truncated == 1)  // the horizon (30 steps) ended one episode
    }
}
