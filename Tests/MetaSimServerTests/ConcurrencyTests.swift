import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import Synchronization
import Testing

/// What one client saw: every step's observations and rewards, in order.
struct Trajectory: Equatable, Sendable {
    var observations: [Float] = []
    var rewards: [Double] = []
    var ended: [Int] = []
}

@Suite("Many clients at once")
struct ConcurrencyTests {
    static let worlds = ["lunar-lander", "lunar-lander-discrete", "bipedal-walker", "cartpole", "pendulum", "acrobot",
                         "reacher", "point-nav", "cheetah-vel", "mountain-car", "track-racer", "parking", "lane-keep"]

    @Test("64 concurrent clients stepping different worlds get exactly the in-process results")
    func sixtyFourClients() async throws {
        let server = try await TestServer()
        let clients = 64, steps = 60, batch = 2
        let results = Mutex<[Int: Result<Trajectory, ClientError>]>([:])
        let connected = Atomic<Int>(0)
        let done = DispatchGroup()
        for k in 0..<clients {
            done.enter()
            let path = server.path
            let thread = Thread {
                defer { done.leave() }
                let world = Self.worlds[k % Self.worlds.count]
                do throws(ClientError) {
                    let c = try MetaSimConnection(socketPath: path, client: "client-\(k)")
                    let s = try c.open(OpenRequest(world: world, batch: batch, threads: 1 + k % 2, taskSeed: UInt64(k), seed: UInt64(1000 + k)))
                    // All 64 are connected with a session before anyone steps.
                    connected.add(1, ordering: .relaxed)
                    while connected.load(ordering: .relaxed) < clients { usleep(1000) }
                    var t = Trajectory()
                    var rng = SeededGenerator(seed: UInt64(k))
                    for _ in 0..<steps {
                        let a = Self.actions(s.info, count: batch, rng: &rng)
                        if s.info.discreteActions != nil { try s.step(indices: a.map { Int32($0) }) } else { try s.step(a) }
                        t.observations += s.observations
                        t.rewards += s.rewards
                        t.ended += s.endedIndices
                    }
                    try s.close()
                    results.withLock { $0[k] = .success(t) }
                } catch {
                    connected.add(1, ordering: .relaxed)
                    results.withLock { $0[k] = .failure(error) }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in done.notify(queue: .global()) { c.resume() } }

        for k in 0..<clients {
            let world = Self.worlds[k % Self.worlds.count]
            let remote = try #require(results.withLock { $0[k] }).get()
            let local = try localBatch(world, count: batch, seed: UInt64(1000 + k), taskSeed: UInt64(k))
            var t = Trajectory()
            var rng = SeededGenerator(seed: UInt64(k))
            let info = WireTensorSpec(name: "", shape: [local.specs.action.count], dtype: "", low: local.specs.action.low,
                                      high: local.specs.action.high, entries: [])
            for _ in 0..<steps {
                let a = Self.actions(info, discrete: local.specs.discreteActions, count: batch, rng: &rng)
                for (i, v) in a.enumerated() { local.actions[i] = v }
                local.step()
                t.observations += Array(local.observations)
                t.rewards += Array(local.rewards)
                for i in 0..<batch where local.terminated[i] | local.truncated[i] != 0 { t.ended.append(i) }
            }
            #expect(remote == t, "client \(k) (\(world)) differs from in-process")
        }
        try await server.stop()
    }

    static func actions(_ info: SessionReply, count: Int, rng: inout SeededGenerator) -> [Float] {
        actions(info.action, discrete: info.discreteActions, count: count, rng: &rng)
    }

    static func actions(_ spec: WireTensorSpec, discrete: Int?, count: Int, rng: inout SeededGenerator) -> [Float] {
        if let n = discrete { return (0..<count).map { _ in Float(Int.random(in: 0..<n, using: &rng)) } }
        var out: [Float] = []
        for _ in 0..<count {
            for j in 0..<spec.count { out.append(Float(Double.random(in: spec.lowBounds[j]...spec.highBounds[j], using: &rng))) }
        }
        return out
    }
}
