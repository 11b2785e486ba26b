import Foundation
import MetaSimYAML

/// World variants (`extends: NAME-or-PATH`, docs/worlds.md §19): a world file that names a base
/// world and overrides parts of it. The merge works on YAML node trees before the schema walk, so
/// the merged world is decoded and validated like any other, and every node keeps the file it was
/// written in (`YAMLNode.file`): a problem in a value from the base points into the base file, a
/// problem in an override into the variant.
///
/// How each section overrides (`overridable`):
/// - `name` (required in a variant), `description`, `discrete_actions`: replaced whole;
/// - `parameters`: by name; each entry replaces the base's entry of that name whole, in its place;
/// - `actions`, `observations`, `reward`, `termination` (`namedLists`): by `name:`; each entry's
///   keys replace the base entry's keys (keys it lacks are added), the base's order is kept;
/// - `episode`, `goal`, `render` (`mappings`): key by key (a hidden-task family draws its goal per task, a
///   variant may cut the horizon); `goal` only over a base that has one.
/// A parameter or entry the base lacks, and any other top-level key, is an error at that key.
/// After the overrides, `remove: {section: [names]}` drops entries of the base and
/// `add: {section: entries}` appends new ones (`editable` sections); removing what the base
/// lacks, or adding what it has, is an error at that entry.
///
/// A new overridable section: its key in `overridable`, and its merge in `Merger.merge`.
struct WorldVariants {
    /// Longest chain of `extends` (the variant, its base, its base's base...): hostile input.
    static let maxDepth = 16

    /// Top-level keys a variant may set, besides `extends`.
    static let overridable = ["name", "description", "parameters", "episode", "goal", "actions", "discrete_actions",
                              "observations", "reward", "termination", "render"]
    /// Mappings merged key by key: a key replaces the base's value of that key, or is added (the
    /// schema walk of the merged world checks it).
    static let mappings = ["episode", "goal", "render"]
    /// Lists merged entry by entry, matched by `name:`, with what an entry is called in messages.
    static let namedLists: [String: String] = ["actions": "actuator", "observations": "observation",
                                                "reward": "reward term", "termination": "termination"]
    /// Sections whose entries `add:` and `remove:` change by name, and what an entry is called.
    static let editable = ["parameters", "actions", "observations", "reward", "termination"]
    static let nouns = namedLists.merging(["parameters": "parameter"]) { a, _ in a }

    /// Where a catalog name is looked up after the extending file's own folder.
    let catalogRoot: String?

    /// A world file's root node with every variant merged in, and the hash that identifies it
    /// (of the file's bytes, and for a variant of its bases' too).
    struct Resolved {
        let root: YAMLNode
        let hash: UInt64
    }

    /// The document's world: itself, or if it says `extends:`, its overrides merged over its base.
    /// `onDisk` is false for text that is not a file (an inline world), which cannot extend.
    func resolve(_ document: SchemaDocument, onDisk: Bool) throws(WorldError) -> Resolved {
        try resolve(document, onDisk: onDisk, chain: [])
    }

    private func resolve(_ document: SchemaDocument, onDisk: Bool, chain: [(file: String, canonical: String)]) throws(WorldError) -> Resolved {
        let root: YAMLNode
        do { root = try document.requireRoot() } catch { throw .invalid(error.diagnostics) }
        let ownHash = fnv1a64(Array(document.text.utf8))
        guard let pairs = root.mapping, let extends = pairs.first(where: { $0.key.scalar == "extends" }) else {
            return Resolved(root: root, hash: ownHash)
        }
        let file = document.file
        func fail(_ node: YAMLNode, _ message: String) -> WorldError {
            .invalid([Diagnostic(file: node.file ?? file, mark: node.mark, keyPath: "extends", message: message)])
        }
        guard onDisk else {
            throw fail(extends.key, "an inline world cannot extend another: 'extends:' needs a world file on disk")
        }
        guard let target = extends.value.scalar, !extends.value.isNull, !target.isEmpty else {
            throw fail(extends.value, "expected the base world's catalog name or a path to its file, found a \(extends.value.isNull ? "null" : extends.value.kindName)")
        }
        let chain = chain + [(file, Self.canonical(file))]
        guard chain.count < Self.maxDepth else {
            throw fail(extends.value, "extends chains are limited to \(Self.maxDepth) files: \(chain.map(\.file).joined(separator: " -> ")) -> ...")
        }
        guard let basePath = locate(target, from: file) else {
            let folder = Self.folder(of: file)
            if Self.isPath(target) {
                throw fail(extends.value, "no world file '\(Self.path(target, in: folder))' to extend")
            }
            let catalog = catalogRoot.map { " or in the catalog \($0)" } ?? ""
            throw fail(extends.value, "no world '\(target)' to extend (no \(target).yaml in \(folder)\(catalog))")
        }
        let baseCanonical = Self.canonical(basePath)
        if let start = chain.firstIndex(where: { $0.canonical == baseCanonical }) {
            let cycle = chain[start...].map(\.file) + [basePath]
            throw fail(extends.value, "extends forms a cycle: \(cycle.joined(separator: " -> "))")
        }
        let baseDocument: SchemaDocument
        do { baseDocument = try SchemaDocument(contentsOfFile: basePath) } catch { throw .invalid(error.diagnostics) }
        let base = try resolve(baseDocument, onDisk: true, chain: chain)
        let baseRoot = base.root.stamped(file: basePath)
        guard let basePairs = baseRoot.mapping else {
            throw fail(extends.value, "the base '\(basePath)' is not a world (its root is a \(baseRoot.kindName), not a mapping)")
        }
        var merger = Merger(file: file, baseName: target)
        let merged = merger.merge(root, pairs: pairs, over: basePairs)
        guard merger.diagnostics.isEmpty else {
            throw .invalid(merger.diagnostics.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        // The identity of a variant: its own bytes and its base's identity.
        var bytes = Array(document.text.utf8)
        bytes.append(0)
        withUnsafeBytes(of: base.hash.littleEndian) { bytes.append(contentsOf: $0) }
        return Resolved(root: merged, hash: fnv1a64(bytes))
    }

    /// The file `target` names, seen from `file`: a path (it has a `/` or ends in `.yaml`/`.yml`)
    /// relative to `file`'s folder; else a world name, in `file`'s folder, then in the catalog.
    func locate(_ target: String, from file: String) -> String? {
        let folder = Self.folder(of: file)
        func existing(_ path: String) -> String? {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue ? path : nil
        }
        if Self.isPath(target) {
            return existing(Self.path(target, in: folder))
        }
        for suffix in [".yaml", ".yml"] {
            if let path = existing(Self.path(target + suffix, in: folder)) { return path }
        }
        guard let catalogRoot else { return nil }
        return WorldCatalog.yamlFiles(under: catalogRoot).first { WorldCatalog.worldName($0) == target }
    }

    /// `target` seen from `folder` (`target` itself when absolute or when `folder` is "."),
    /// without `./` steps.
    static func path(_ target: String, in folder: String) -> String {
        if target.hasPrefix("/") { return target }
        var target = Substring(target)
        while target.hasPrefix("./") { target = target.dropFirst(2).drop { $0 == "/" } }
        return folder == "." ? String(target) : "\(folder)/\(target)"
    }

    /// Whether `extends:` names a file (it has a `/` or ends in `.yaml`/`.yml`), not a world.
    static func isPath(_ target: String) -> Bool {
        target.contains("/") || target.hasSuffix(".yaml") || target.hasSuffix(".yml")
    }

    static func folder(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "." }
        return slash == file.startIndex ? "/" : String(file[..<slash])
    }

    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }
}

/// The merge of one variant's overrides over its base's (already merged) top-level pairs.
private struct Merger {
    let file: String
    let baseName: String
    var diagnostics: [Diagnostic] = []
    /// Names of the entries this variant overrides, by section.
    var overridden: [String: Set<String>] = [:]
    /// Names of the base's entries, by section.
    var baseNames: [String: [String]] = [:]

    mutating func error(_ node: YAMLNode, _ path: String, _ message: String) {
        diagnostics.append(Diagnostic(file: node.file ?? file, mark: node.mark, keyPath: path, message: message))
    }

    mutating func merge(_ root: YAMLNode, pairs: [YAMLPair], over base: [YAMLPair]) -> YAMLNode {
        var out = base
        func set(_ pair: YAMLPair) {
            if let i = out.firstIndex(where: { $0.key.scalar == pair.key.scalar }) { out[i] = pair } else { out.append(pair) }
        }
        if !pairs.contains(where: { $0.key.scalar == "name" }) {
            error(root, "", "a variant needs its own 'name:' (the base's is '\(base.first { $0.key.scalar == "name" }?.value.scalar ?? baseName)')")
        }
        for section in WorldVariants.editable {
            baseNames[section] = Self.entries(base.first { $0.key.scalar == section }?.value).compactMap(\.name)
        }
        var edits: [YAMLPair] = []
        for pair in pairs {
            guard let key = pair.key.scalar else { continue }
            let baseValue = base.first { $0.key.scalar == key }?.value
            switch key {
            case "extends":
                continue
            case "remove", "add":
                edits.append(pair)
            case "name", "description", "discrete_actions":
                set(pair)
            case "parameters":
                set(YAMLPair(key: pair.key, value: parameters(pair.value, over: baseValue)))
            case let key where WorldVariants.namedLists[key] != nil:
                set(YAMLPair(key: pair.key, value: namedList(key, pair.value, over: baseValue)))
            case let key where WorldVariants.mappings.contains(key):
                set(YAMLPair(key: pair.key, value: mapping(key, pair.value, over: baseValue)))
            case let key where WorldDecoder.topKeys.contains(key):
                error(pair.key, key, "'\(key)' cannot be overridden in a variant (a variant may set: \((WorldVariants.overridable + ["remove", "add"]).joined(separator: ", ")))")
            default:
                let allowed = ["extends"] + WorldVariants.overridable + ["remove", "add"]
                var message = "unknown key '\(key)'"
                if let near = closest(key, in: allowed) { message += " (did you mean '\(near)'?)" }
                else { message += " (a variant may set: \(allowed.joined(separator: ", ")))" }
                error(pair.key, key, message)
            }
        }
        // Removals, then additions, after the overrides.
        for edit in edits.sorted(by: { ($0.key.scalar == "remove" ? 0 : 1) < ($1.key.scalar == "remove" ? 0 : 1) }) {
            let verb = edit.key.scalar ?? ""
            guard let sections = edit.value.mapping else {
                error(edit.value, verb, "expected a mapping of sections (\(WorldVariants.editable.joined(separator: ", "))), found a \(edit.value.kindName)")
                continue
            }
            for section in sections {
                let name = section.key.scalar ?? ""
                guard WorldVariants.editable.contains(name) else {
                    var message = "'\(name)' has no entries to \(verb) by name (sections: \(WorldVariants.editable.joined(separator: ", ")))"
                    if let near = closest(name, in: WorldVariants.editable) { message += " (did you mean '\(near)'?)" }
                    error(section.key, "\(verb).\(name)", message)
                    continue
                }
                let index = out.firstIndex { $0.key.scalar == name }
                let current = index.map { out[$0].value }
                let edited = verb == "remove" ? remove(name, section.value, from: current) : add(name, section.value, to: current)
                if let index { out[index] = YAMLPair(key: out[index].key, value: edited) } else { out.append(YAMLPair(key: section.key, value: edited)) }
            }
        }
        return YAMLNode(kind: .mapping(out), mark: root.mark, tag: root.tag, file: root.file)
    }

    /// The entries of a section (a parameters mapping's pairs, or a list's items) with their names.
    static func entries(_ node: YAMLNode?) -> [(name: String?, pair: YAMLPair?, item: YAMLNode?)] {
        guard let node else { return [] }
        if let pairs = node.mapping { return pairs.map { ($0.key.scalar, $0, nil) } }
        return (node.sequence ?? []).map { ($0["name"]?.scalar, nil, $0) }
    }

    static func rebuilt(_ section: String, _ entries: [(name: String?, pair: YAMLPair?, item: YAMLNode?)], like node: YAMLNode?, at fallback: YAMLNode) -> YAMLNode {
        let mark = node?.mark ?? fallback.mark
        let file = node == nil ? fallback.file : node?.file
        if section == "parameters" {
            return YAMLNode(kind: .mapping(entries.compactMap(\.pair)), mark: mark, tag: node?.tag, file: file)
        }
        return YAMLNode(kind: .sequence(entries.compactMap(\.item)), mark: mark, tag: node?.tag, file: file)
    }

    /// `remove: {section: [name, ...]}`: drops the base's entries of those names.
    mutating func remove(_ section: String, _ names: YAMLNode, from current: YAMLNode?) -> YAMLNode {
        let noun = WorldVariants.nouns[section] ?? "entry"
        var entries = Self.entries(current)
        guard let items = names.sequence else {
            error(names, "remove.\(section)", "expected a list of the base's \(noun) names, found a \(names.kindName)")
            return current ?? names
        }
        let known = baseNames[section] ?? []
        for (i, item) in items.enumerated() {
            let path = "remove.\(section)[\(i)]"
            guard let name = item.scalar, !item.isNull else {
                error(item, path, "expected a \(noun) name, found a \(item.isNull ? "null" : item.kindName)")
                continue
            }
            if overridden[section, default: []].contains(name) {
                error(item, path, "the \(noun) '\(name)' is both overridden and removed")
            } else if let j = entries.firstIndex(where: { $0.name == name }) {
                entries.remove(at: j)
            } else if known.contains(name) {
                error(item, path, "the \(noun) '\(name)' is removed twice")
            } else {
                error(item, path, "the base world '\(baseName)' has no \(noun) named '\(name)'\(suggest(name, known))")
            }
        }
        return Self.rebuilt(section, entries, like: current, at: names)
    }

    /// `add: {section: entries}`: appends entries the base does not have (parameters: a mapping,
    /// after the base's; lists: entries with `name:`, after the base's).
    mutating func add(_ section: String, _ node: YAMLNode, to current: YAMLNode?) -> YAMLNode {
        let noun = WorldVariants.nouns[section] ?? "entry"
        var entries = Self.entries(current)
        let new = Self.entries(node)
        if section == "parameters" ? node.mapping == nil : node.sequence == nil {
            error(node, "add.\(section)", "expected \(section == "parameters" ? "a mapping of new parameters" : "a list of new entries"), found a \(node.kindName)")
            return current ?? node
        }
        for (i, entry) in new.enumerated() {
            if let name = entry.name, entries.contains(where: { $0.name == name }) {
                let at = entry.pair?.key ?? entry.item?["name"] ?? node
                let path = section == "parameters" ? "add.parameters.\(name)" : "add.\(section)[\(i)].name"
                error(at, path, "the base world '\(baseName)' already has a \(noun) named '\(name)' (change it under '\(section):', or remove it first)")
                continue
            }
            entries.append(entry)
        }
        return Self.rebuilt(section, entries, like: current, at: node)
    }

    /// Parameters by name: each replaces the base's entry of that name, in its place.
    mutating func parameters(_ node: YAMLNode, over base: YAMLNode?) -> YAMLNode {
        guard let pairs = node.mapping else {
            error(node, "parameters", "expected a mapping of the base's parameter names to new values, found a \(node.kindName)")
            return node
        }
        var out = base?.mapping ?? []
        let names = out.compactMap(\.key.scalar)
        for pair in pairs {
            let name = pair.key.scalar ?? ""
            guard let i = out.firstIndex(where: { $0.key.scalar == name }) else {
                error(pair.key, "parameters.\(name)", "the base world '\(baseName)' has no parameter '\(name)'\(suggest(name, names))")
                continue
            }
            out[i] = pair
            overridden["parameters", default: []].insert(name)
        }
        return YAMLNode(kind: .mapping(out), mark: node.mark, tag: node.tag, file: node.file)
    }

    /// A named list: each entry is merged key by key over the base's entry of the same `name:`.
    /// `episode:` or `goal:`: each key replaces the base's value of that key or is added. A goal
    /// over a base without one is an error (it would add a section by accident).
    mutating func mapping(_ section: String, _ node: YAMLNode, over base: YAMLNode?) -> YAMLNode {
        guard let pairs = node.mapping else {
            error(node, section, "expected a mapping of the \(section) keys that change, found a \(node.kindName)")
            return node
        }
        if section == "goal", base == nil {
            error(node, section, "the base world '\(baseName)' has no goal to override")
            return node
        }
        var out = base?.mapping ?? []
        for pair in pairs {
            if let i = out.firstIndex(where: { $0.key.scalar == pair.key.scalar }) { out[i] = pair } else { out.append(pair) }
        }
        return YAMLNode(kind: .mapping(out), mark: base?.mark ?? node.mark, tag: base?.tag, file: base?.file ?? node.file)
    }

    mutating func namedList(_ section: String, _ node: YAMLNode, over base: YAMLNode?) -> YAMLNode {
        let noun = WorldVariants.namedLists[section] ?? "entry"
        guard let items = node.sequence else {
            error(node, section, "expected a list of entries, each with the name: of the base's \(noun) it changes, found a \(node.kindName)")
            return node
        }
        var out = base?.sequence ?? []
        let names = out.compactMap { $0["name"]?.scalar }
        var seen: Set<String> = []
        for (i, item) in items.enumerated() {
            let path = "\(section)[\(i)]"
            guard let pairs = item.mapping else {
                error(item, path, "expected a mapping with the name: of the base's \(noun) it changes, found a \(item.kindName)")
                continue
            }
            guard let nameNode = item["name"], let name = nameNode.scalar, !nameNode.isNull else {
                error(item, path, "an override needs 'name:', the name of the base's \(noun) it changes")
                continue
            }
            guard let j = out.firstIndex(where: { $0["name"]?.scalar == name }), let basePairs = out[j].mapping else {
                error(nameNode, "\(path).name", "the base world '\(baseName)' has no \(noun) named '\(name)'\(suggest(name, names))")
                continue
            }
            overridden[section, default: []].insert(name)
            guard seen.insert(name).inserted else {
                error(nameNode, "\(path).name", "the \(noun) '\(name)' is overridden twice")
                continue
            }
            var merged = basePairs
            for pair in pairs where pair.key.scalar != "name" {
                if let k = merged.firstIndex(where: { $0.key.scalar == pair.key.scalar }) { merged[k] = pair } else { merged.append(pair) }
            }
            out[j] = YAMLNode(kind: .mapping(merged), mark: item.mark, tag: item.tag, file: item.file)
        }
        return YAMLNode(kind: .sequence(out), mark: node.mark, tag: node.tag, file: node.file)
    }

    func suggest(_ name: String, _ candidates: [String]) -> String {
        if let near = closest(name, in: candidates) { return " (did you mean '\(near)'?)" }
        return candidates.isEmpty ? "" : " (it has: \(candidates.joined(separator: ", ")))"
    }
}
