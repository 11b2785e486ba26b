@testable import MetaSimClient
import Testing

/// The reply timer's decisions, driven by made-up round trips (no clock, no socket).
@Suite("ReplyTimer")
struct ReplyTimerTests {
    /// Runs `reads` reads: a sleeping read takes `sleeping` µs; an anticipating one `anticipating`
    /// µs and finds `outcome`. Returns how many reads anticipated.
    static func run(_ t: inout ReplyTimer, reads: Int, sleeping: Int, anticipating: Int,
                    outcome: WaitOutcome = .looked(30)) -> Int {
        var anticipated = 0
        for _ in 0..<reads {
            if case .anticipate = t.plan(sentAt: 1_000) {
                anticipated += 1
                t.record(roundTrip: anticipating, outcome: outcome)
            } else {
                t.record(roundTrip: sleeping, outcome: nil)
            }
        }
        return anticipated
    }

    @Test("with a core to spare it sleeps once to learn the step's round trip, then wakes ahead of it")
    func anticipatesAfterOneSleep() {
        var t = ReplyTimer(spareCore: true)
        #expect(t.plan(sentAt: 1_000) == .block)
        t.record(roundTrip: 250, outcome: nil)
        #expect(t.plan(sentAt: 1_000) == .anticipate(wakeAt: 1_000 + 250 - ReplyTimer.firstLead, lookFor: ReplyTimer.lookBudget))
    }

    @Test("the wake moves earlier when the reply beat it and later after a long look")
    func placesTheWake() throws {
        var t = ReplyTimer(spareCore: true)
        t.record(roundTrip: 250, outcome: nil)
        let first = try #require(t.wakeAfter)
        t.record(roundTrip: 250, outcome: .early)
        let earlier = try #require(t.wakeAfter)
        #expect(earlier < first)
        t.record(roundTrip: 250, outcome: .looked(ReplyTimer.targetLook))
        #expect(t.wakeAfter == earlier)  // a look of about the target leaves it
        t.record(roundTrip: 250, outcome: .looked(200))
        let later = try #require(t.wakeAfter)
        #expect(later > earlier)
        t.record(roundTrip: 550, outcome: .late(contended: false))  // a whole look: far too early
        #expect(try #require(t.wakeAfter) > later)
    }

    @Test("a round trip shorter than the lead is looked for from the start, and kept only while faster")
    func shortStepsLookAtOnce() {
        var t = ReplyTimer(spareCore: true)
        t.record(roundTrip: 40, outcome: nil)
        #expect(t.plan(sentAt: 1_000) == .anticipate(wakeAt: 1_000, lookFor: ReplyTimer.lookBudget))
        // Looking is slower than sleeping here: the first probe drops it.
        _ = Self.run(&t, reads: ReplyTimer.firstPeriod + ReplyTimer.probeLength, sleeping: 40, anticipating: 60)
        #expect(!t.anticipating)
    }

    @Test("sleeping reads block in recv for a short round trip and sleep in poll for a long one")
    func sleepsByRoundTrip() {
        var t = ReplyTimer(spareCore: false)
        #expect(t.plan(sentAt: 0) == .block)
        t.record(roundTrip: ReplyTimer.longWait - 1, outcome: nil)
        #expect(t.plan(sentAt: 0) == .block)
        t.record(roundTrip: ReplyTimer.longWait, outcome: nil)
        #expect(t.plan(sentAt: 0) == .poll)
    }

    @Test("without a spare core it sleeps, and switches only if a probe of anticipating is faster")
    func probesAndSwitches() {
        // Anticipating is slower (it takes a core from the server): nearly every read sleeps,
        // and the probes become rarer (each one that loses doubles the wait for the next).
        var busy = ReplyTimer(spareCore: false)
        let tried = Self.run(&busy, reads: 40_000, sleeping: 120, anticipating: 200)
        #expect(!busy.anticipating)
        #expect(tried > 0)
        #expect(tried < 40_000 / 100)
        // Anticipating is faster: the first probe switches to it.
        var free = ReplyTimer(spareCore: false)
        _ = Self.run(&free, reads: ReplyTimer.firstPeriod + ReplyTimer.probeLength, sleeping: 240, anticipating: 215)
        #expect(free.anticipating)
    }

    @Test("anticipating that is slower than sleeping is dropped at the first probe")
    func dropsAnticipationThatLoses() {
        var t = ReplyTimer(spareCore: true)
        _ = Self.run(&t, reads: ReplyTimer.firstPeriod + ReplyTimer.probeLength + 1, sleeping: 120, anticipating: 200)
        #expect(!t.anticipating)
    }

    @Test("a look that loses the core makes the next read a probe of sleeping")
    func contentionProbesAtOnce() {
        var t = ReplyTimer(spareCore: true)
        _ = Self.run(&t, reads: 100, sleeping: 240, anticipating: 215)
        #expect(t.tryingAnticipation)
        let wake = t.wakeAfter
        t.record(roundTrip: 900, outcome: .late(contended: true))
        #expect(t.wakeAfter == wake)  // losing the core says nothing about the wake
        #expect(!t.tryingAnticipation)
        #expect(t.plan(sentAt: 0) == .poll)
        // The probe of sleeping loses (sleeping is slower here): back to anticipating.
        _ = Self.run(&t, reads: ReplyTimer.probeLength, sleeping: 240, anticipating: 215)
        #expect(t.anticipating)
        #expect(t.tryingAnticipation)
    }
}
