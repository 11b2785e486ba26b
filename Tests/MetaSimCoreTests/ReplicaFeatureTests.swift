import Foundation
import Testing

@testable import MetaSimCore

/// What the Gymnasium replicas of issue 30 need from the format: an actuator `gain` (an action
/// space wider than the actuator's [-1, 1] command), contact flags that report the last contact
/// event (Gymnasium's `ground_contact`), and the replicas' own dynamics, step by step, against
/// Gymnasium's update equations written out here.
@Suite("Replica features")
struct ReplicaFeatureTests {
    static func ball(gain: String, bounds: String) -> String {
        """
        name: ball
        simulation:
          timestep: 0.02
          gravity: [0, 0]
        bodies:
          ball:
            shapes:
              - circle: 0.5
        actions:
          - name: push
            type: force
            body: ball
            max_force: 10
        \(bounds)
        \(gain)
        observations:
          - name: ball_x
            type: position
            body: ball
        reward:
          - name: action_value
            type: expression
            value: action.push
        """
    }

    @Test("gain scales the command, not the action: action 1 at gain 0.5 pushes as action 0.5 at gain 1")
    func gainScalesTheCommand() throws {
        let scaled = try TestSupport.world(TestSupport.parse(Self.ball(gain: "    gain: 0.5", bounds: "    bounds: [-2, 2]")))
        let plain = try TestSupport.world(TestSupport.parse(Self.ball(gain: "", bounds: "")))
        #expect(scaled.reset(seed: 1) == plain.reset(seed: 1))
        for _ in 0..<10 {
            let r = scaled.step([1])
            _ = plain.step([0.5])
            #expect(r.reward == 1)  // action.push is the action, not the command
            #expect(scaled.observation == plain.observation)
        }
        #expect(scaled.observation[0] > 0.01)  // it moved
        // The action is clipped to the bounds before the gain: 5 is 2, a command of 1.
        let clipped = try TestSupport.world(TestSupport.parse(Self.ball(gain: "    gain: 0.5", bounds: "    bounds: [-2, 2]")))
        let full = try TestSupport.world(TestSupport.parse(Self.ball(gain: "", bounds: "")))
        _ = clipped.reset(seed: 1); _ = full.reset(seed: 1)
        #expect(clipped.step([5]).reward == 2)
        _ = full.step([1])
        #expect(clipped.observation == full.observation)
    }

    @Test("gain 1 written out steps bit for bit like no gain")
    func gainOneIsNoGain() throws {
        let one = try TestSupport.world(TestSupport.parse(Self.ball(gain: "    gain: 1", bounds: "")))
        let none = try TestSupport.world(TestSupport.parse(Self.ball(gain: "", bounds: "")))
        #expect(one.reset(seed: 3) == none.reset(seed: 3))
        for t in 0..<20 {
            let a: [Float] = [Float(t % 7) / 3 - 1]
            #expect(one.step(a) == none.step(a))
            #expect(one.observation == none.observation)
        }
    }

    /// A plank on two feet that starts rotating: one foot lifts while the other stays down.
    static let plank = """
        name: plank
        simulation:
          timestep: 0.02
          gravity: [0, -9.8]
        bodies:
          ground:
            type: static
            shapes:
              - edge: [[-5, 0], [5, 0]]
          plank:
            position: [0, 0.1]
            angular_velocity: 3
            shapes:
              - circle: {radius: 0.1, center: [-1, 0]}
              - circle: {radius: 0.1, center: [1, 0]}
        actions:
          - name: push
            type: force
            body: plank
            max_force: 1
        observations:
          - name: touching
            type: contact
            body: plank
          - name: last_event
            type: contact
            body: plank
            flag: last-event
        reward:
          - name: alive
            type: alive
        """

    @Test("a last-event flag reads 0 once one of two contacts ends; the touching flag stays 1")
    func lastEventFlag() throws {
        let world = try TestSupport.world(TestSupport.parse(Self.plank))
        let first = world.reset(seed: 0)
        #expect(first == [0, 0])  // nothing has begun before the first step
        _ = world.step([0])
        #expect(world.observation == [1, 1])  // both feet begin touching in the first step
        var differed = 0
        for _ in 0..<40 {
            _ = world.step([0])
            let o = world.observation
            if o[0] == 1 && o[1] == 0 { differed += 1 }
            #expect(!(o[0] == 0 && o[1] == 1))  // a begin that the touching flag missed cannot be
        }
        #expect(differed > 0)
    }

    // MARK: The replicas against Gymnasium's update equations

    /// Pendulum-v1 (gymnasium/envs/classic_control/pendulum.py), the nominal rod: from the state
    /// metasim observed, Gymnasium's step gives the next observation and the reward.
    @Test("pendulum steps as Pendulum-v1's update from every state it reaches")
    func pendulumIsGymnasiums() throws {
        let path = try #require(TestSupport.catalogPath(named: "pendulum"))
        let world = try TestSupport.world(WorldDefinition.load(contentsOfFile: path))
        var rng = SystemRandomNumberGenerator()
        var worst = 0.0, worstReward = 0.0
        for episode in 0..<5 {
            var obs = world.reset(seed: UInt64(episode)).map(Double.init)
            for _ in 0..<200 {
                let u = Double.random(in: -2...2, using: &rng)
                let th = atan2(obs[1], obs[0]), thdot = obs[2]
                let cost = pow(remainder(th, 2 * .pi), 2) + 0.1 * thdot * thdot + 0.001 * u * u
                var newThdot = thdot + (3 * 10 / 2.0 * sin(th) + 3.0 * u) * 0.05
                newThdot = min(max(newThdot, -8), 8)
                let newTh = th + newThdot * 0.05
                let r = world.step([Float(u)])
                let next = world.observation.map(Double.init)
                worst = max(worst, abs(next[0] - cos(newTh)), abs(next[1] - sin(newTh)), abs(next[2] - newThdot))
                worstReward = max(worstReward, abs(r.reward + cost))
                obs = next
            }
        }
        #expect(worst < 1e-4, "largest observation difference \(worst)")
        #expect(worstReward < 1e-3, "largest reward difference \(worstReward)")
    }

    /// The free swing keeps its energy: 200 steps with no torque. Gymnasium's semi-implicit
    /// Euler step does not conserve the energy at every step (it oscillates by several percent
    /// around it at 0.05 s), but it does not drain it; the rod hung from its end on a Box2D joint
    /// lost about a third. Here: no drift on average, and each swing's energy after 200 steps is
    /// Gymnasium's own (its update run in double precision from the same start).
    @Test("pendulum's free swing keeps its energy over 200 steps, as Pendulum-v1's does")
    func pendulumKeepsEnergy() throws {
        let path = try #require(TestSupport.catalogPath(named: "pendulum"))
        let world = try TestSupport.world(WorldDefinition.load(contentsOfFile: path))
        func energy(_ c: Double, _ w: Double) -> Double { w * w / 6 + 5 * c + 5 }
        var changes: [(Double, Double)] = []
        for episode in 0..<40 {
            let o = world.reset(seed: UInt64(episode)).map(Double.init)
            let e0 = energy(o[0], o[2])
            guard e0 >= 1 else { continue }
            var th = atan2(o[1], o[0]), w = o[2]
            for _ in 0..<200 {
                _ = world.step([0])
                w = min(max(w + 15 * sin(th) * 0.05, -8), 8)
                th += w * 0.05
            }
            let e = energy(Double(world.observation[0]), Double(world.observation[2]))
            #expect(abs(e - energy(cos(th), w)) / e0 < 0.005, "episode \(episode): \(e) against Gymnasium's \(energy(cos(th), w))")
            changes.append(((e - e0) / e0, (energy(cos(th), w) - e0) / e0))
        }
        #expect(changes.count >= 20)
        let mean = changes.map(\.0).reduce(0, +) / Double(changes.count)
        let gymnasium = changes.map(\.1).reduce(0, +) / Double(changes.count)
        #expect(abs(mean - gymnasium) < 0.002, "mean energy change \(mean), Gymnasium's \(gymnasium)")
        #expect(mean > -0.01, "the swing lost energy: \(mean) on average")
    }

    /// MountainCarContinuous-v0 (continuous_mountain_car.py): the classic update from every state.
    @Test("mountain-car steps as MountainCarContinuous-v0's update from every state it reaches")
    func mountainCarIsGymnasiums() throws {
        let path = try #require(TestSupport.catalogPath(named: "mountain-car"))
        let world = try TestSupport.world(WorldDefinition.load(contentsOfFile: path))
        var rng = SystemRandomNumberGenerator()
        var worst = 0.0, steps = 0, atWall = 0
        for episode in 0..<5 {
            var obs = world.reset(seed: UInt64(episode)).map(Double.init)
            #expect(obs[0] >= -0.6 && obs[0] <= -0.4 && obs[1] == 0)
            for t in 0..<999 {
                // Random pushes, then pushes only while moving left: the swing grows until the
                // car hits the left wall (lower than the flag, so the episode goes on).
                let a = t < 100 ? Double.random(in: -1...1, using: &rng) : (obs[1] < 0 ? -1 : 0)
                var v = obs[1] + a * 0.0015 - 0.0025 * cos(3 * obs[0])
                v = min(max(v, -0.07), 0.07)
                let x = min(max(obs[0] + v, -1.2), 0.6)
                if x == -1.2 && v < 0 { v = 0; atWall += 1 }
                let reached = x >= 0.45 && v >= 0
                let r = world.step([Float(a)])
                let next = world.observation.map(Double.init)
                worst = max(worst, abs(next[0] - x), abs(next[1] - v))
                #expect(abs(r.reward - ((reached ? 100 : 0) - 0.1 * a * a)) < 1e-6)
                #expect(r.terminated == reached)
                steps += 1
                obs = next
                if r.terminated || r.truncated { break }
            }
        }
        #expect(worst < 1e-5, "largest state difference \(worst) over \(steps) steps")
        #expect(atWall > 0)  // the wall was reached and held
    }
}
