import MetaSimProtocol

extension Connection {
    /// `list_worlds`: the catalog with its specs.
    func listWorlds(_ frame: FrameView) throws(RequestFailure) {
        let id = frame.header.id
        try requireEmptyMeta(frame)
        reply(.listWorlds, id: id, ListWorldsReply(worlds: core.directory.ordered))
    }
}
