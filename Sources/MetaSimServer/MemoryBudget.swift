import MetaSimCore
import Synchronization

/// The daemon's memory account: the estimated bytes (`WorldCost`) of every live session,
/// reserved before a session's batch is built and released when it closes, so that the
/// sessions of all connections together stay within `ServerConfiguration.maxMemory`.
final class MemoryLedger: Sendable {
    private let reserved = Mutex<Int>(0)

    /// Bytes reserved by live sessions.
    var total: Int { reserved.withLock { $0 } }

    /// Reserves `bytes` if the total stays within `limit`; false (nothing reserved) otherwise.
    func reserve(_ bytes: Int, limit: Int) -> (granted: Bool, inUse: Int) {
        reserved.withLock { r in
            guard bytes <= limit, r <= limit - bytes else { return (false, r) }
            r += bytes
            return (true, r)
        }
    }

    func release(_ bytes: Int) {
        reserved.withLock { r in r = max(0, r - bytes) }
    }
}

/// The checks `open`, `set_task` and `reset` make against the budgets before any work.
enum Budget {
    /// The estimated bytes of a session of `count` instances of `program`; limit_exceeded
    /// beyond the per-session budget or the per-reset step budget.
    static func check(_ program: WorldProgram, count: Int, _ config: ServerConfiguration) throws(RequestFailure) -> Int {
        let cost = program.cost
        let bytes = cost.bytes(instances: count)
        guard bytes <= config.maxSessionMemory else {
            throw RequestFailure(limit: .maxSessionMemory,
                "\(count) instances of '\(program.name)' would need about \(WorldCost.mib(Double(bytes))) "
                + "(\(WorldCost.mib(Double(cost.bytesPerInstance))) each: \(cost.bodies) bodies, \(cost.fixtures) fixtures, "
                + "\(cost.chainVertices) chain vertices), more than the session budget of "
                + "\(WorldCost.mib(Double(config.maxSessionMemory))) (limits.max_session_memory_bytes)")
        }
        try checkReset(program, instances: count, config)
        return bytes
    }

    /// limit_exceeded when resetting `instances` instances runs more Box2D substeps than allowed.
    static func checkReset(_ program: WorldProgram, instances: Int, _ config: ServerConfiguration) throws(RequestFailure) {
        let work = program.cost.resetWork(instances: instances)
        guard work <= config.maxResetSubsteps else {
            let spec = program.resolved
            throw RequestFailure(limit: .maxResetSubsteps,
                "resetting \(instances) instances of '\(program.name)' runs \(work) Box2D substeps "
                + "(reset_steps \(spec.episode.resetSteps) × substeps \(spec.simulation.substeps) × \(instances)), more than "
                + "the \(config.maxResetSubsteps) a reset may run (limits.max_reset_substeps)")
        }
    }

    /// Reserves `bytes` in the daemon-wide account; limit_exceeded when the sessions of all
    /// connections would together pass the daemon budget.
    static func reserve(_ bytes: Int, in ledger: MemoryLedger, _ config: ServerConfiguration) throws(RequestFailure) {
        let (granted, inUse) = ledger.reserve(bytes, limit: config.maxMemory)
        guard granted else {
            throw RequestFailure(limit: .maxMemory,
                "the session would need about \(WorldCost.mib(Double(bytes))), but the daemon's sessions already hold "
                + "\(WorldCost.mib(Double(inUse))) of its \(WorldCost.mib(Double(config.maxMemory))) budget (limits.max_memory_bytes)")
        }
    }
}
