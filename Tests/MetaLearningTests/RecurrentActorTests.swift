import Foundation
import MetaSimCore
import Testing

@testable import MetaLearning

/// `RecurrentActor`: a recurrent policy acting with memory row by row, its state saved and
/// restored whole, and refused whole (closed `RecurrentStateError`s, the state untouched).
struct RecurrentActorTests {
    static func actor(hidden: Int = 5, rows: Int = 2, kind: PolicyArchitecture.Kind = .gaussian) -> (RecurrentActor, [Double]) {
        let base = PolicyArchitecture(kind: kind, observationCount: 3, actionCount: 2, hidden: [])
        let arch = PolicyArchitecture.recurrent(base, hiddenSize: hidden)
        var rng = SeededGenerator(seed: 9, stream: RandomStream.policy)
        let params = (0..<arch.parameterCount).map { _ in rng.uniform(-0.7, 0.7) }
        return (RecurrentActor(math: RecurrentMath(architecture: arch, normalizer: ObservationNormalizer(size: 3, enabled: false)), rows: rows), params)
    }

    static func step(_ a: inout RecurrentActor, _ params: [Double], _ obs: [Double]) -> [Double] {
        var out: [Double] = []
        var rng = SeededGenerator(seed: 1, stream: RandomStream.policy)
        a.act(params, deterministic: true, rng: &rng, observation: { _, k in obs[k] }) { _, _, v in out.append(v) }
        return out
    }

    @Test func theStateCarriesAndRestoresBitForBit() throws {
        var (a, params) = Self.actor()
        let obs = [0.2, -0.4, 1.1]
        let first = Self.step(&a, params, obs)
        a.noteStep(row: 0, reward: -0.25, ended: false)
        a.noteStep(row: 1, reward: 3, ended: true)
        let saved = a.save()
        #expect(saved.count == a.stateCount && a.valuesPerRow == 5 + 2 + 3)
        #expect(saved[5 + 2] == -0.25 && saved[5 + 2 + 1] == 0 && saved[5 + 2 + 2] == 1)
        #expect(saved[10 + 5 + 2] == 3 && saved[10 + 5 + 2 + 1] == 1)
        let next = Self.step(&a, params, obs)
        #expect(next != first, "the state and the noted step change the answer")
        try a.restore(saved, architecture: a.architectureTag)
        #expect(Self.step(&a, params, obs) == next)
        a.resetState()
        #expect(a.save().allSatisfy { $0 == 0 })
        #expect(Self.step(&a, params, obs) == first)
    }

    @Test func aWrongStateIsRefusedWholeAndChangesNothing() throws {
        var (a, params) = Self.actor()
        _ = Self.step(&a, params, [0.1, 0.2, 0.3])
        let saved = a.save(), tag = a.architectureTag
        #expect(throws: RecurrentStateError.wrongSize(expected: saved.count, got: saved.count - 1)) {
            try a.restore(Array(saved.dropLast()), architecture: tag)
        }
        let (other, _) = Self.actor(hidden: 6)
        #expect(throws: RecurrentStateError.otherArchitecture(expected: tag, got: other.architectureTag)) {
            try a.restore(other.save(), architecture: other.architectureTag)
        }
        var bad = saved
        bad[3] = .infinity
        #expect(throws: RecurrentStateError.notFinite(row: 0, field: "state[3]")) { try a.restore(bad, architecture: tag) }
        bad = saved
        bad[10 + 5 + 2 + 2] = 0.5
        #expect(throws: RecurrentStateError.outOfRange(row: 1, field: "has_previous", value: 0.5)) { try a.restore(bad, architecture: tag) }
        #expect(a.save() == saved)

        var (d, _) = Self.actor(kind: .categorical)
        var s = d.save()
        s[5] = 2  // row 0's previous action: an index of 2 actions
        s[5 + 1 + 2] = 1
        #expect(throws: RecurrentStateError.outOfRange(row: 0, field: "previous_action[0]", value: 2)) { try d.restore(s, architecture: d.architectureTag) }
        s[5] = 1
        try d.restore(s, architecture: d.architectureTag)
        #expect(d.save() == s)
    }
}
