import Foundation
import Testing

@testable import MetaSimCore

/// point-nav whose resets take `resetSteps` settle steps of `substeps` Box2D steps, with
/// episodes of `horizon` steps.
private func slowPointNav(resetSteps: Int, substeps: Int, horizon: Int = 100) throws -> WorldDefinition {
    var text = try String(contentsOfFile: TestSupport.worldsRoot + "/robots/point-nav.yaml", encoding: .utf8)
    text = text.replacingOccurrences(of: "\nsimulation:\n", with: "\nsimulation:\n  substeps: \(substeps)\n")
    text = text.replacingOccurrences(of: "\nepisode:\n  horizon: 100", with: "\nepisode:\n  reset_steps: \(resetSteps)\n  horizon: \(horizon)")
    return try TestSupport.parse(text, file: "slow-point-nav.yaml")
}

private func isCancelled(_ error: WorldError?) -> Bool {
    if case .cancelled? = error { return true }
    return false
}

@Suite("cancellation of world builds and resets")
struct CancellationTests {
    @Test("a batch whose cancellation is set is not built")
    func batchBuildCancelled() throws {
        let d = try slowPointNav(resetSteps: 0, substeps: 1)
        let cancel = Cancellation()
        cancel.cancel(reason: 7)
        #expect(cancel.reason == 7)
        #expect(!cancel.cancel(reason: 2), "the first reason stays")
        let error = #expect(throws: WorldError.self) {
            _ = try WorldBatch(program: WorldProgram(definition: d, task: d.nominalTask()), count: 3, cancellation: cancel)
        }
        #expect(isCancelled(error), "\(String(describing: error))")
        cancel.rearm()
        #expect(!cancel.isCancelled)
        _ = try WorldBatch(program: WorldProgram(definition: d, task: d.nominalTask()), count: 3, cancellation: cancel)
    }

    @Test("a cancellation meant for one generation does not touch the next")
    func generations() {
        let cancel = Cancellation()
        let first = cancel.rearm()
        #expect(cancel.generation == first)
        let second = cancel.rearm()
        #expect(second == first + 1)
        #expect(!cancel.cancel(reason: 2, generation: first), "the first generation's work is over")
        #expect(!cancel.isCancelled)
        #expect(cancel.cancel(reason: 3, generation: second))
        #expect(cancel.reason == 3 && cancel.isCancelled)
        #expect(!cancel.cancel(reason: 4, generation: second), "the first reason stays")
        cancel.rearm()
        #expect(!cancel.isCancelled && cancel.reason == 0)
    }

    @Test("a reset's settle steps stop when cancelled from another thread; the instance then needs a reset")
    func resetCancelledMidway() async throws {
        // 10,000 settle steps of 1,000 Box2D steps: several seconds at least.
        let d = try slowPointNav(resetSteps: 10_000, substeps: 1000)
        let world = try World(definition: d, task: d.nominalTask())
        let cancel = Cancellation()
        world.cancellation = cancel
        let canceller = Thread {
            usleep(100_000)
            cancel.cancel()
        }
        canceller.start()
        let start = ContinuousClock.now
        var error: WorldError?
        do { try world.resetChecked(seed: 1) } catch let e { error = e }
        let elapsed = ContinuousClock.now - start
        #expect(isCancelled(error), "\(String(describing: error))")
        #expect(elapsed < .seconds(3), "the reset stopped after \(elapsed)")
        #expect(world.episodeEnd != nil, "a cancelled reset leaves the instance needing a reset")
    }

    @Test("an auto-reset cut short in a step marks the instance failed with the cancellation")
    func autoResetCancelled() throws {
        // Episodes of one step, so every step auto-resets.
        let d = try slowPointNav(resetSteps: 100, substeps: 100, horizon: 1)
        let cancel = Cancellation()
        let batch = try WorldBatch(program: WorldProgram(definition: d, task: d.nominalTask()), count: 2, threads: 2,
                                   cancellation: cancel)
        batch.step()
        #expect(batch.failed[0] == 0 && batch.failed[1] == 0)
        cancel.cancel()
        batch.step()
        for i in 0..<2 {
            #expect(batch.truncated[i] == 1)
            #expect(batch.failed[i] == 1)
            #expect(isCancelled(batch.failure(of: i)), "\(String(describing: batch.failure(of: i)))")
        }
    }

    @Test("a cancellation that never fires changes no result")
    func sameResults() throws {
        let d = try slowPointNav(resetSteps: 3, substeps: 2, horizon: 5)
        let program = try WorldProgram(definition: d, task: d.nominalTask())
        let plain = try WorldBatch(program: program, count: 3, seed: 9)
        let watched = try WorldBatch(program: program, count: 3, seed: 9, cancellation: Cancellation())
        for t in 0..<12 {
            for k in 0..<plain.actions.count {
                let a = Float((t * 7 + k * 3) % 11) / 50 - 0.1
                plain.actions[k] = a
                watched.actions[k] = a
            }
            plain.step()
            watched.step()
            #expect(Array(plain.observations) == Array(watched.observations))
            #expect(Array(plain.rewards) == Array(watched.rewards))
        }
    }
}
