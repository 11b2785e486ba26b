import MetaLearning
import MetaSimCore
import MetaSimProtocol

/// Protocol 1.1: the sessions a policy is bound to, and taking a policy of the catalog
/// (adapt, act, run_episodes, save_policy).
extension Connection {
    /// A session a policy can be bound to: simulated (the daemon runs the world) or external.
    enum PolicyHost {
        case simulated(Session)
        case external(ExternalSession)

        var id: UInt32 {
            switch self {
            case .simulated(let s): s.id
            case .external(let e): e.id
            }
        }

        var binding: PolicyBinding? {
            get {
                switch self {
                case .simulated(let s): s.binding
                case .external(let e): e.binding
                }
            }
            nonmutating set {
                switch self {
                case .simulated(let s): s.binding = newValue
                case .external(let e): e.binding = newValue
                }
            }
        }

        var definition: WorldDefinition {
            switch self {
            case .simulated(let s): s.definition
            case .external(let e): e.definition
            }
        }

        /// Instances: a recurrent policy keeps a state for each.
        var rows: Int {
            switch self {
            case .simulated(let s): s.batchCount
            case .external(let e): e.count
            }
        }

        var specs: WorldSpecs {
            switch self {
            case .simulated(let s): s.batch.specs
            case .external(let e): e.specs
            }
        }

        /// The binding, taken out (so that it is the only reference while it is changed).
        func takeBinding() throws(RequestFailure) -> PolicyBinding {
            guard let b = binding else {
                throw RequestFailure(.noPolicy, "session \(id) has no policy: adapt it first (adapt with 'policy', 'steps': 0 only takes the policy)")
            }
            binding = nil
            return b
        }
    }

    func policyHost(_ id: UInt32) throws(RequestFailure) -> PolicyHost {
        if let e = externals[id] { return .external(e) }
        return .simulated(try ownedSession(id))
    }

    /// A policy of the catalog, checked against a world: its family, observation and action specs.
    /// A recurrent policy (rl2) starts with a zero state for each of the session's instances.
    func takePolicy(_ name: String, for host: PolicyHost) throws(RequestFailure) -> PolicyBinding {
        let catalog = core.policies
        guard let entry = catalog.entries[name] else {
            let served = catalog.entries.keys.sorted().joined(separator: ", ")
            throw RequestFailure(.unknownPolicy, "no policy named '\(name)' (served: \(served.isEmpty ? "none" : served))")
        }
        do {
            if let warning = try entry.checkpoint.check(against: host.definition, specs: host.specs, path: entry.path, allowRecurrent: true) {
                logger.info("\(warning)")
            }
        } catch {
            throw RequestFailure(.policyMismatch, "policy '\(name)' does not fit session \(host.id) (\(host.definition.name)): \(error.description)")
        }
        return PolicyBinding(entry: entry, rows: host.rows)
    }

    /// Protocol 1.2: a session whose policy keeps a state (recurrent), and its state's reply.
    func statefulHost(_ id: UInt32) throws(RequestFailure) -> (PolicyHost, PolicyStateReply) {
        let host = try policyHost(id)
        guard let binding = host.binding else {
            throw RequestFailure(.noPolicy, "session \(id) has no policy: adapt it first (adapt with 'policy', 'steps': 0 only takes the policy)")
        }
        guard let actor = binding.recurrent else {
            throw RequestFailure(.noPolicyState, "session \(id)'s policy '\(binding.entry.name)' (\(binding.entry.info.algorithm)) is feed-forward: it keeps no state between acts")
        }
        return (host, PolicyStateReply(session: id, values: actor.stateCount, valuesPerInstance: actor.valuesPerRow,
                                       architecture: actor.architectureTag))
    }
}
