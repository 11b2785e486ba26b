import Foundation
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import Testing

/// Issue 27, items 1 and 2 over the protocol: out-of-range numbers are invalid_world naming the
/// parameter (the daemon stays up), and open, set_task and reset beyond the memory and step
/// budgets are refused with limit_exceeded before anything is built.
@Suite("Budgets and checked numbers over the protocol")
struct BudgetTests {
    /// The error reply of a request that must fail.
    private func refusal(_ body: () throws -> Void) -> ErrorReply? {
        do { try body() } catch {
            if case .server(_, _, let reply) = error as? ClientError { return reply }
        }
        return nil
    }

    private func catalogText(_ name: String) throws -> String {
        try String(contentsOfFile: "\(worldsRoot)/\(name)", encoding: .utf8)
    }

    @Test("hello advertises the budgets")
    func hello() async throws {
        let server = try await TestServer { c in
            c.maxSessionMemory = 123 << 20
            c.maxMemory = 456 << 20
            c.maxResetSubsteps = 789
        }
        let c = try server.connect()
        #expect(c.hello.limits.maxSessionMemoryBytes == 123 << 20)
        #expect(c.hello.limits.maxMemoryBytes == 456 << 20)
        #expect(c.hello.limits.maxResetSubsteps == 789)
        try await server.stop()
    }

    @Test("params at 1e30 on open and set_task are invalid_world naming the parameter; the daemon lives")
    func hugeParameters() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        for (world, name) in [("lunar-lander", "CHUNKS"), ("track-racer", "CURVATURE_NEAR"), ("bipedal-walker", "TERRAIN_LENGTH"),
                              ("lane-keep", "ROAD_LENGTH"), ("valley-car", "WALL_X"), ("track-racer", "CHECKPOINTS")] {
            let reply = refusal { _ = try c.open(OpenRequest(world: world, params: [name: 1e30])) }
            #expect(reply?.code == .invalidWorld, "\(world) \(name)")
            #expect(reply?.message.contains(name) == true, "\(reply?.message ?? "")")
        }
        // A count beyond the format's limit: refused where the world uses it, naming the parameter.
        let chunks = refusal { _ = try c.open(OpenRequest(world: "lunar-lander", params: ["CHUNKS": 5e6])) }
        #expect(chunks?.code == .invalidWorld)
        #expect(chunks?.message.contains("CHUNKS = 5000000") == true)
        let s = try c.open(OpenRequest(world: "lunar-lander", batch: 2))
        let reply = refusal { try s.setTask(params: ["CHUNKS": 1e30]) }
        #expect(reply?.code == .invalidWorld && reply?.message.contains("CHUNKS") == true)
        // The session keeps its task and steps.
        try s.step([Float](repeating: 0, count: 2 * s.actionSize))
        #expect(s.info.task.params["CHUNKS"] == 11)
        _ = try c.status()
        try await server.stop()
    }

    @Test("an inline world file with CHUNKS: 1e12 is invalid_world at its line")
    func inlineFileConstant() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        let text = try catalogText("robots/lunar-lander.yaml").replacingOccurrences(of: "  CHUNKS: 11 ", with: "  CHUNKS: 1e12 ")
        let reply = refusal { _ = try c.open(OpenRequest(yaml: text, file: "moon.yaml")) }
        #expect(reply?.code == .invalidWorld)
        #expect(reply?.diagnostics?.first?.hasPrefix("moon.yaml:") == true)
        #expect(reply?.diagnostics?.first?.contains("parameters.CHUNKS") == true)
        try await server.stop()
    }

    @Test("a session beyond the session budget is refused with limit_exceeded before it is built")
    func sessionBudget() async throws {
        let server = try await TestServer { $0.maxSessionMemory = 32 << 20 }
        let c = try server.connect()
        // About 230 KiB an instance: 64 fit in 32 MiB, 1024 do not.
        let small = try c.open(OpenRequest(world: "bipedal-walker", batch: 64))
        let big = refusal { _ = try c.open(OpenRequest(world: "bipedal-walker", batch: 1024)) }
        #expect(big?.code == .limitExceeded)
        #expect(big?.message.contains("max_session_memory_bytes") == true)
        // A longer terrain for the same batch: set_task is refused, the session keeps its task.
        let longer = refusal { try small.setTask(params: ["TERRAIN_LENGTH": 5000]) }
        #expect(longer?.code == .limitExceeded)
        try small.step([Float](repeating: 0, count: 64 * small.actionSize))
        #expect(small.info.task.params["TERRAIN_LENGTH"] == 200)
        try await server.stop()
    }

    @Test("the daemon budget counts every live session of every connection, and close releases")
    func daemonBudget() async throws {
        let server = try await TestServer { c in
            c.maxMemory = 20 << 20   // two sessions of 32 bipedal-walkers (about 7.3 MiB each), not three
        }
        let a = try server.connect("a")
        var b: MetaSimConnection? = try server.connect("b")
        let first = try a.open(OpenRequest(world: "bipedal-walker", batch: 32))
        _ = try b?.open(OpenRequest(world: "bipedal-walker", batch: 32))
        let third = refusal { _ = try b?.open(OpenRequest(world: "bipedal-walker", batch: 32)) }
        #expect(third?.code == .limitExceeded)
        #expect(third?.message.contains("max_memory_bytes") == true)
        try first.close()
        _ = try b?.open(OpenRequest(world: "bipedal-walker", batch: 32))
        // Full again: refused.
        #expect(refusal { _ = try a.open(OpenRequest(world: "bipedal-walker", batch: 32)) }?.code == .limitExceeded)
        // A connection that goes away releases its sessions.
        let c = try server.connect("c")
        let other = refusal { _ = try c.open(OpenRequest(world: "bipedal-walker", batch: 32)) }
        #expect(other?.code == .limitExceeded)
        b = nil  // closes its socket: the daemon closes its sessions
        var opened = false
        for _ in 0..<200 where !opened {
            opened = (try? c.open(OpenRequest(world: "bipedal-walker", batch: 32))) != nil
            if !opened { try await _Concurrency.Task.sleep(for: .milliseconds(20)) }
        }
        #expect(opened)
        try await server.stop()
    }

    @Test("an adapt whose inner-step batch of episodes is beyond the session budget is refused")
    func adaptBudget() async throws {
        let folder = try temporaryPolicies()
        let server = try await TestServer { c in
            c.policiesRoot = folder
            c.maxSessionMemory = 16 << 20  // about 100 point-nav instances
        }
        let c = try server.connect()
        let s = try c.open(OpenRequest(world: "point-nav", batch: 2))
        let reply = refusal { _ = try s.adapt(policy: "point-nav", steps: 1, episodes: 1000) }
        #expect(reply?.code == .limitExceeded)
        #expect(reply?.message.contains("max_session_memory_bytes") == true)
        let done = try s.adapt(policy: "point-nav", steps: 1, episodes: 8)
        #expect(done.adaptedSteps == 1 && done.episodesPerStep == 8)
        try await server.stop()
    }

    @Test("an inline world of 20,000 static bodies at batch 256 is refused before it is built")
    func manyStaticBodies() async throws {
        let server = try await TestServer()
        let c = try server.connect()
        var walls = ""
        for i in 0..<20_000 { walls += "  w\(i): {type: static, position: [\(i * 3), -50], shapes: [{box: {half_extents: [1, 1]}}]}\n" }
        let text = try catalogText("robots/cartpole.yaml").replacingOccurrences(of: "\nbodies:\n", with: "\nbodies:\n" + walls)
        let reply = refusal { _ = try c.open(OpenRequest(yaml: text, batch: 256)) }
        #expect(reply?.code == .limitExceeded)
        #expect(reply?.message.contains("20003 bodies") == true || reply?.message.contains("bodies") == true)
        try await server.stop()
    }

    @Test("reset_steps 10000 × substeps 1000 is refused up front; resets within the step budget run")
    func resetBudget() async throws {
        let server = try await TestServer { $0.maxResetSubsteps = 100 }
        let c = try server.connect()
        let text = try catalogText("robots/cartpole.yaml")
        let heavy = text.replacingOccurrences(of: "\nepisode:\n", with: "\nepisode:\n  reset_steps: 10000\n")
            .replacingOccurrences(of: "\nsimulation:\n", with: "\nsimulation:\n  substeps: 1000\n")
        #expect(heavy.contains("reset_steps: 10000") && heavy.contains("substeps: 1000"))
        let reply = refusal { _ = try c.open(OpenRequest(yaml: heavy, batch: 64)) }
        #expect(reply?.code == .limitExceeded)
        #expect(reply?.message.contains("max_reset_substeps") == true)
        // valley-car resets with 25 steps: 4 instances are 100 substeps, 5 are 125.
        let s = try c.open(OpenRequest(world: "valley-car", batch: 4))
        try s.reset()
        try s.reset(instances: [1, 2])
        #expect(refusal { _ = try c.open(OpenRequest(world: "valley-car", batch: 5)) }?.code == .limitExceeded)
        try await server.stop()
    }
}
