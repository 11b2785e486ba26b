import MetaSimProtocol

extension Connection {
    /// `list_policies` (1.1): the checkpoints served, and those rejected.
    func listPolicies(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        try requireEmptyMeta(frame)
        let policies = core.policies
        reply(.listPolicies, id: id, ListPoliciesReply(policies: policies.ordered, rejected: policies.rejected))
    }
}
