import Foundation
import MetaSimClient
import MetaSimProtocol
import MetaSimServer
import Testing

@Suite("deadlines of adapt and run_episodes", .serialized)
struct AdaptDeadlineTests {
    @Test("adapt and run_episodes get the adapt deadline, not the request deadline; past it they are cut short and change nothing")
    func adaptPastDeadline() async throws {
        let folder = try temporaryPolicies()
        let server = try await TestServer {
            $0.policiesRoot = folder
            $0.requestDeadline = .seconds(1)
            $0.adaptDeadline = .seconds(3)
        }
        let c = try server.connect()
        setReceiveTimeout(c, seconds: 300)
        #expect(c.hello.limits.adaptDeadlineSeconds == 3)
        let s = try c.open(OpenRequest(world: "point-nav", batch: 4, taskSeed: 1_000_000_011, seed: 4))
        // What one inner step of 10 episodes costs here: the long adapt asks for 1000 times that.
        let small = ContinuousClock.now
        let first = try s.adapt(policy: "point-nav", steps: 1, episodes: 10, seed: 3)
        let uncut = seconds(ContinuousClock.now - small) * 1000
        #expect(first.adaptedSteps == 1)
        #expect(uncut > 15, "a long adapt here would take only \(uncut) s")

        let start = ContinuousClock.now
        let error = #expect(throws: ClientError.self) { _ = try s.adapt(steps: 10, episodes: 1000, seed: 5) }
        let elapsed = seconds(ContinuousClock.now - start)
        #expect(error?.code == .deadlineExceeded, "\(String(describing: error))")
        // Past the adapt deadline (3 s), not the request deadline (1 s), and long before the
        // work's end.
        #expect(elapsed >= 2.9 && elapsed < 12, "answered after \(elapsed) s")
        #expect(elapsed < uncut / 2, "answered after \(elapsed) s; the work takes \(uncut) s")
        // The session keeps the policy as it was.
        #expect(try s.adapt(steps: 0).adaptedSteps == 1)

        let runStart = ContinuousClock.now
        let run = #expect(throws: ClientError.self) {
            _ = try c.runEpisodes(RunEpisodesRequest(session: s.id, episodes: 100_000, decimation: 0))
        }
        let runElapsed = seconds(ContinuousClock.now - runStart)
        #expect(run?.code == .deadlineExceeded, "\(String(describing: run))")
        #expect(runElapsed >= 2.9 && runElapsed < 12, "answered after \(runElapsed) s")
        let status = try c.status()
        #expect(status.deadlinesExceeded == 2)
        #expect(status.adaptations == 0)
        // The connection and the session go on.
        #expect(try s.adapt(steps: 0).adaptedSteps == 1)
        try await server.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
