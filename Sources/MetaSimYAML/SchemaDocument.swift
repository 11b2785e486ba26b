/// A YAML file read and parsed for a schema walk (`SchemaReader`): the one way world files,
/// batch specs and the daemon's configuration file are loaded, with every problem a `Diagnostic`.
package struct SchemaDocument: Sendable {
    /// The file's name in diagnostics (the path as given).
    package let file: String
    /// The text parsed (a leading byte order mark removed).
    package let text: String
    /// The document's root node; nil when the text holds no document.
    package let root: YAMLNode?

    /// Reads the file at `path` as UTF-8 text (one leading byte order mark is dropped) and parses it.
    package init(contentsOfFile path: String) throws(SchemaDocumentError) {
        let bytes: [UInt8]
        do { bytes = try YAML.readFile(atPath: path) } catch { throw .unreadable(file: path) }
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let body = bytes.starts(with: bom) ? bytes[bom.count...] : bytes[...]
        guard let text = String(validating: body, as: UTF8.self) else { throw .notUTF8(file: path) }
        try self.init(text: text, file: path)
    }

    /// Parses `text` (`file` names it in diagnostics).
    package init(text: String, file: String) throws(SchemaDocumentError) {
        self.file = file
        self.text = text
        do { root = try YAML.parse(text, file: file) } catch { throw .invalid([Diagnostic(error)]) }
    }

    /// The root node, or a "the file is empty" diagnostic at 1:1.
    package func requireRoot() throws(SchemaDocumentError) -> YAMLNode {
        guard let root else {
            throw .invalid([Diagnostic(file: file, line: 1, column: 1, keyPath: "", message: "the file is empty")])
        }
        return root
    }
}

/// Why a `SchemaDocument` could not be loaded.
package enum SchemaDocumentError: Error, CustomStringConvertible, Sendable {
    /// The file could not be opened or read.
    case unreadable(file: String)
    /// The file's bytes are not UTF-8.
    case notUTF8(file: String)
    /// The text is not one well-formed YAML document (or holds none where one is required).
    case invalid([Diagnostic])

    /// The problem as diagnostics at the file level (or at the YAML error's position).
    package var diagnostics: [Diagnostic] {
        switch self {
        case .unreadable(let file):
            [Diagnostic(file: file, line: 0, column: 0, keyPath: "", message: "cannot read the file")]
        case .notUTF8(let file):
            [Diagnostic(file: file, line: 0, column: 0, keyPath: "", message: "the file is not UTF-8 text")]
        case .invalid(let diagnostics):
            diagnostics
        }
    }

    package var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
