import MetaLearning
import MetaSimProtocol

extension Connection {
    /// `restore_policy_state` (1.2): replaces the session's recurrent policy state with a saved
    /// one. Checked whole first (type, count, size, architecture, values): a state refused
    /// leaves the session's untouched.
    func restorePolicyState(_ frame: FrameView) throws(RequestFailure) {
        let r = try meta(RestorePolicyStateRequest.self, frame, keys: RestorePolicyStateRequest.keys)
        let (host, state) = try statefulHost(r.session)
        if let dtype = r.dtype, dtype != PolicyStateReply.dtype {
            throw RequestFailure(.badDtype, "dtype: '\(dtype)': a policy state is '\(PolicyStateReply.dtype)' values")
        }
        guard r.architecture == state.architecture else {
            throw RequestFailure(.policyMismatch, "the state is of architecture '\(r.architecture)'; session \(r.session)'s policy '\(host.binding?.entry.name ?? "")' is '\(state.architecture)': not restored")
        }
        guard r.values == state.values else {
            throw RequestFailure(.badShape, "values: \(r.values); session \(r.session)'s policy state has \(state.values) (\(state.valuesPerInstance) per instance): not restored")
        }
        let data = frame.data
        guard data.count == 8 * state.values else {
            throw RequestFailure(.badShape, "restore_policy_state data is \(data.count) bytes; \(state.values) float64 values need \(8 * state.values): not restored")
        }
        let values = (0..<state.values).map { data.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self) }
        var binding = try host.takeBinding()
        defer { host.binding = binding }
        do throws(RecurrentStateError) { try binding.restoreState(values, architecture: r.architecture) } catch {
            switch error {
            case .wrongSize: throw RequestFailure(.badShape, "\(error.description): not restored")
            case .otherArchitecture: throw RequestFailure(.policyMismatch, "\(error.description): not restored")
            case .notFinite, .outOfRange: throw RequestFailure(.badRequest, "\(error.description): not restored")
            }
        }
        reply(.restorePolicyState, id: frame.header.id, state)
    }
}
