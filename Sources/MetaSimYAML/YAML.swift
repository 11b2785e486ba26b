#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Entry points for reading single-document YAML files into ``YAMLNode`` trees.
public enum YAML {
    /// Parses `text`, which must contain at most one YAML document.
    ///
    /// - Parameters:
    ///   - text: The YAML source.
    ///   - file: The name used in error messages.
    /// - Returns: The root node, or `nil` if `text` contains no document.
    public static func parse(_ text: String, file: String = "<string>") throws(YAMLError) -> YAMLNode? {
        try YAMLParser(yaml: text, file: file).singleDocument()
    }

    /// Reads and parses the file at `path`, which must contain at most one YAML document.
    ///
    /// Errors name the file by `path` exactly as given.
    /// - Returns: The root node, or `nil` if the file contains no document.
    /// - Throws: ``YAMLError/io(file:message:)`` if the file cannot be read; otherwise the
    ///   errors of ``YAMLParser/singleDocument()``.
    public static func load(contentsOfFile path: String) throws(YAMLError) -> YAMLNode? {
        let bytes = try readFile(atPath: path)
        return try YAMLParser(bytes: bytes, file: path).singleDocument()
    }

    /// Reads a whole file with POSIX calls, so that errors carry the system's reason.
    static func readFile(atPath path: String) throws(YAMLError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .io(file: path, message: "cannot open file: \(systemErrorMessage())")
        }
        defer { close(descriptor) }

        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count > 0 {
                contents.append(contentsOf: chunk[..<count])
            } else if count == 0 {
                return contents
            } else if errno != EINTR {
                throw .io(file: path, message: "cannot read file: \(systemErrorMessage())")
            }
        }
    }

    private static func systemErrorMessage() -> String {
        String(cString: strerror(errno))
    }
}
