#if canImport(Glibc)
import Glibc
#endif

/// The meta-learning policies folder (`policies:` / `--policies`, default under
/// `StateDirectory=metasim`): a folder or absent; anything else is a configuration error.
/// `PolicyCatalog` loads the checkpoints it holds.
enum PolicyFolder: Equatable {
    case absent
    case present(entries: Int)

    static func check(_ path: String) throws(ServerError) -> PolicyFolder {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return .absent }
            throw .policies(path: path, message: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .policies(path: path, message: "exists and is not a folder") }
        guard let dir = opendir(path) else { throw .policies(path: path, message: "cannot read: \(String(cString: strerror(errno)))") }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { count += 1 }
        }
        return .present(entries: count)
    }
}
