import Foundation

/// The worlds found in a folder tree (`worlds/robots/*.yaml`, `worlds/driving/*.yaml`): each
/// world is named by its file name without `.yaml`. A variant (`extends:`) is a world like any
/// other; a base named by its catalog name is looked up in the same tree.
public struct WorldCatalog: Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let path: String
        public let definition: WorldDefinition
    }

    public let roots: [String]
    public let entries: [Entry]
    /// Files that failed to load, with their errors (a catalog lists the good ones and reports these).
    public let failures: [(path: String, error: WorldError)]

    /// Loads every `.yaml` file under `root`, sorted by path.
    public init(root: String) {
        roots = [root]
        var entries: [Entry] = []
        var failures: [(String, WorldError)] = []
        for path in Self.yamlFiles(under: root) {
            do {
                let d = try WorldDefinition.load(contentsOfFile: path, catalogRoot: root)
                entries.append(Entry(name: Self.worldName(path), path: path, definition: d))
            } catch {
                failures.append((path, error))
            }
        }
        self.entries = entries
        self.failures = failures
    }

    public func entry(named name: String) -> Entry? {
        entries.first { $0.name == name }
    }

    /// The folder to use: `explicit`, else $METASIM_WORLDS, else ./worlds, else the `worlds`
    /// folder next to the installed binary (../share/metasim/worlds) or of the source tree the
    /// binary was built in.
    public static func defaultRoot(explicit: String? = nil) -> String? {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["METASIM_WORLDS"], !env.isEmpty { return env }
        var candidates = ["worlds"]
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(exe.appendingPathComponent("../share/metasim/worlds").standardized.path)
        var dir = exe
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            candidates.append(dir.appendingPathComponent("worlds").path)
        }
        var isDir: ObjCBool = false
        return candidates.first { FileManager.default.fileExists(atPath: $0, isDirectory: &isDir) && isDir.boolValue }
    }

    /// Resolves `--world NAME|PATH`: an existing file path, else a catalog name.
    public static func resolve(_ nameOrPath: String, root: String?) throws(WorldError) -> WorldDefinition {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDir), !isDir.boolValue {
            return try WorldDefinition.load(contentsOfFile: nameOrPath, catalogRoot: root)
        }
        guard let root else { throw WorldError.notFound(name: nameOrPath, searched: ["(no worlds folder found)"]) }
        for path in yamlFiles(under: root) where worldName(path) == nameOrPath {
            return try WorldDefinition.load(contentsOfFile: path, catalogRoot: root)
        }
        throw WorldError.notFound(name: nameOrPath, searched: [root])
    }

    public static func worldName(_ path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    /// `.yaml`/`.yml` files under a folder (recursively), or the file itself; sorted.
    public static func yamlFiles(under path: String) -> [String] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return [] }
        guard isDir.boolValue else { return [path] }
        let base = URL(fileURLWithPath: path)
        guard let e = FileManager.default.enumerator(atPath: path) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            if rel.hasSuffix(".yaml") || rel.hasSuffix(".yml") {
                out.append(path == "." ? rel : base.appendingPathComponent(rel).relativePath)
            }
        }
        return out.sorted()
    }
}
