/// How one read waits for a reply the server is still computing.
enum WaitPlan: Equatable {
    /// Block in recv. On a Unix stream socket a thread blocked in recv is also woken, for
    /// nothing, when the server reads what it sent (the kernel signals the freed send space to
    /// the socket's sleepers, and only poll's wait checks what it waits for). For a short wait
    /// that early wake-up helps: the reader's vCPU is awake again when the reply comes (measured
    /// at batch 1: 37–41 µs round trips against 43–46 µs sleeping in poll).
    case block
    /// Sleep in poll, then read. For a long wait the needless wake-up only costs: it happens on
    /// the server's critical path, between reading a request and stepping (measured: 6–10 µs there
    /// for a reader blocked in recv, 2–3 µs for one in poll; lunar-lander batch 16 on 2 threads,
    /// 123–127 µs round trips against 134 µs).
    case poll
    /// Sleep until `wakeAt` (monotonic µs), then look for the reply (yielding the core between
    /// looks) for up to `lookFor` µs, then sleep in poll. A `wakeAt` already past looks at once.
    case anticipate(wakeAt: Int, lookFor: Int)
}

/// What an anticipating read found.
enum WaitOutcome: Equatable {
    /// The reply arrived before the planned wake (the read was woken by it, as a sleeper is).
    case early
    /// The read woke on its timer and found the reply after looking for this many µs.
    case looked(Int)
    /// The read looked for its whole budget, or a yield lost the core to another thread (the
    /// cores are busy: looking takes one from the server), and then slept.
    case late(contended: Bool)
}

/// Learns when a session's step replies arrive and chooses how the read of the next one waits.
///
/// A reader that sleeps until its reply arrives has a wake-up on the round trip's critical path:
/// the server's send must wake it, which on a virtual machine whose idle vCPU has halted costs
/// 20–40 µs. A step reply is due after the batch's step time, which hardly changes from one step
/// to the next, so the reader can instead sleep until shortly before it is due, wake on its own
/// timer while the server is still stepping, and look for the reply: the wake-up leaves the
/// critical path, and the server's send has no sleeper to wake.
///
/// A round trip shorter than the wake's lead is looked for from the start (the first plan of a
/// small step): the look is then the whole wait, which pays only as long as it is faster.
///
/// That pays only with a core to spare: a reader that wakes while every core steps the batch
/// takes one from the server, and the step slows by more than the wake-up saved. So the timer
/// starts with the plan the session's stepping threads suggest (anticipate when they leave a core
/// free), then now and then tries the other plan for a few round trips and keeps whichever gave
/// the shorter ones. A look that loses the core starts that comparison at once.
///
/// Pure bookkeeping (no clock, no I/O): the caller passes times in µs.
struct ReplyTimer {
    /// Whether anticipating is the current plan (probes try the other).
    private(set) var anticipating: Bool
    /// µs after the send at which an anticipating read wakes.
    private(set) var wakeAfter: Int?
    /// The plan in use: a moving average of its round trips (send to reply read), and how many
    /// it has seen since it was last compared.
    private var recentMean = 0.0
    private var recentCount = 0
    /// During a probe: the baseline to beat and the round trips of the plan being tried.
    private var probeBaseline: Double?
    private var trialSum = 0
    private var trialCount = 0
    /// Reads of the current plan until the next probe; doubles after each probe that loses.
    private var untilProbe: Int
    private var period: Int
    /// The latest round trip of a sleeping read (an upper bound of when the reply is due).
    private var sleepingRoundTrip: Int?

    /// Sleeping reads of round trips at least this long sleep in poll, shorter ones block in
    /// recv (see `WaitPlan`).
    static let longWait = 80
    /// How far before a sleeping read's round trip an anticipating read first wakes (the
    /// wake-up's own latency, with room to spare); later reads move the wake so that they look
    /// for about `targetLook` µs.
    static let firstLead = 90
    static let targetLook = 40
    /// How long a read looks after its timer before it sleeps.
    static let lookBudget = 300
    static let firstPeriod = 256
    static let longestPeriod = 1 << 16
    /// Round trips per probe, of which the first `probeWarmUp` are not counted (an anticipating
    /// probe is still placing its wake); the current plan's average spans about as many.
    static let probeLength = 40
    static let probeWarmUp = 8
    /// A probe must beat the current plan by this fraction to replace it.
    static let margin = 0.02

    /// `spareCore`: the session's stepping threads leave a core of this machine free.
    init(spareCore: Bool) {
        anticipating = spareCore
        period = Self.firstPeriod
        untilProbe = Self.firstPeriod
    }

    /// Whether the plan being followed (the current one, or the other during a probe) anticipates.
    var tryingAnticipation: Bool { probeBaseline != nil ? !anticipating : anticipating }

    /// How the read of a reply to a request sent at `sentAt` (µs) waits.
    func plan(sentAt: Int) -> WaitPlan {
        guard tryingAnticipation, let wakeAfter else { return sleepingPlan }
        return .anticipate(wakeAt: sentAt + wakeAfter, lookFor: Self.lookBudget)
    }

    /// How a read that does not anticipate waits: in recv or in poll, by the last round trip.
    var sleepingPlan: WaitPlan { (sleepingRoundTrip ?? 0) >= Self.longWait ? .poll : .block }

    /// Records the round trip of a read made with `sleepingPlan` while anticipating is off.
    mutating func recordSleeping(roundTrip: Int) { sleepingRoundTrip = roundTrip }

    /// Records a read: its round trip in µs and, if it anticipated, what it found.
    mutating func record(roundTrip: Int, outcome: WaitOutcome?) {
        var contended = false
        if let outcome {
            // A look that lost the core: the cores may be busy (or the host took this one for
            // a moment). Compare with sleeping now rather than at the next scheduled probe.
            if case .late(contended: true) = outcome { contended = true }
            place(after: outcome)
        } else {
            sleepingRoundTrip = roundTrip
            if wakeAfter == nil { resetWake() }
        }
        if let baseline = probeBaseline {
            trialCount += 1
            if trialCount > Self.probeWarmUp { trialSum += roundTrip }
            if trialCount >= Self.probeLength { finishProbe(baseline) }
            return
        }
        if !contended {
            let w = 1 / Double(Self.probeLength - Self.probeWarmUp)
            recentMean = recentCount == 0 ? Double(roundTrip) : recentMean + w * (Double(roundTrip) - recentMean)
            recentCount += 1
        }
        untilProbe -= 1
        if recentCount > 0, untilProbe <= 0 && recentCount >= Self.probeLength || contended && anticipating {
            probeBaseline = recentMean
            trialSum = 0
            trialCount = 0
            if !anticipating { resetWake() }
        }
    }

    private mutating func resetWake() {
        guard let r = sleepingRoundTrip else { return }
        wakeAfter = max(0, r - Self.firstLead)
    }

    /// Moves the wake so that the look lasts about `targetLook` µs.
    private mutating func place(after outcome: WaitOutcome) {
        guard var w = wakeAfter else { return }
        switch outcome {
        case .early: w -= 10 + w / 16
        case .looked(let l): if l > 2 * Self.targetLook { w += (l - Self.targetLook) / 4 }
        case .late(let contended):
            // A whole look without the reply: the wake came far too early. (A look that lost the
            // core says nothing about the wake.)
            if !contended { w += (Self.lookBudget - Self.targetLook) / 2 }
        }
        wakeAfter = max(0, w)
    }

    private mutating func finishProbe(_ baseline: Double) {
        probeBaseline = nil
        recentCount = 0
        let trial = Double(trialSum) / Double(Self.probeLength - Self.probeWarmUp)
        if trial < baseline * (1 - Self.margin) {
            anticipating.toggle()
            period = Self.firstPeriod
        } else {
            period = min(2 * period, Self.longestPeriod)
        }
        untilProbe = period
    }
}
