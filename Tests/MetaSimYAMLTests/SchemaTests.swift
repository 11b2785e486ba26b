import Foundation
import MetaSimYAML
import Testing

@Suite("Schema documents and the generic reader")
struct SchemaTests {
    /// A scratch directory, removed by the caller.
    private static func directory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("metasim-schema-\(UInt64.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test("a file's text is what Foundation decodes: UTF-8, one leading byte order mark dropped")
    func textMatchesFoundation() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let cases: [[UInt8]] = [
            Array("a: 1\n".utf8), bom + Array("a: 1\n".utf8), bom + bom + Array("a: 1\n".utf8),
            Array("a: 'é'\n".utf8), bom, [], Array("a: 1\n".utf8) + bom,
        ]
        for (i, bytes) in cases.enumerated() {
            let path = directory.appendingPathComponent("\(i).yaml").path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let foundation = try #require(String(data: Data(bytes), encoding: .utf8))
            let document = try SchemaDocument(contentsOfFile: path)
            #expect(Array(document.text.utf8) == Array(foundation.utf8), "case \(i)")
            #expect(document.file == path)
        }
    }

    @Test("unreadable, non-UTF-8, empty and malformed files are diagnostics naming the file")
    func loadProblems() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func problems(_ path: String) -> [String] {
            do {
                _ = try SchemaDocument(contentsOfFile: path).requireRoot()
                return []
            } catch {
                return error.diagnostics.map(\.description)
            }
        }
        let missing = directory.appendingPathComponent("missing.yaml").path
        #expect(problems(missing) == ["\(missing): error: cannot read the file"])
        #expect(problems(directory.path) == ["\(directory.path): error: cannot read the file"])

        let latin1 = directory.appendingPathComponent("latin1.yaml").path
        try Data([0x61, 0x3A, 0x20, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: latin1))
        #expect(problems(latin1) == ["\(latin1): error: the file is not UTF-8 text"])

        let empty = directory.appendingPathComponent("empty.yaml").path
        try Data("# nothing\n".utf8).write(to: URL(fileURLWithPath: empty))
        #expect(problems(empty) == ["\(empty):1:1: error: the file is empty"])
        #expect(try SchemaDocument(contentsOfFile: empty).root == nil)

        let duplicate = directory.appendingPathComponent("duplicate.yaml").path
        try Data("a: 1\na: 2\n".utf8).write(to: URL(fileURLWithPath: duplicate))
        #expect(problems(duplicate) == ["\(duplicate):2:1: error: duplicate key \"a\" in mapping (first defined at \(duplicate):1:1)"])
    }

    @Test("a YAML error becomes a diagnostic at its position with its message")
    func yamlErrorDiagnostic() throws {
        let error = try #require(parseError("a: [1, 2\n", file: "x.yaml"))
        let diagnostic = Diagnostic(error)
        #expect(diagnostic.file == "x.yaml")
        #expect(diagnostic.line == error.mark?.line && diagnostic.column == error.mark?.column)
        #expect(diagnostic.description == error.description)
        let io = Diagnostic(YAMLError.io(file: "y.yaml", message: "cannot open file: gone"))
        #expect(io.description == "y.yaml: error: cannot open file: gone")
    }

    @Test("the reader reports unknown and missing keys, wrong types and bad values with key paths, and goes on")
    func readerDiagnostics() throws {
        let text = """
            limits:
              max_conections: 3
              depth: 1.5
              mode: fats
              flag: maybe
            items: [1, x]
            """
        let document = try SchemaDocument(text: text, file: "c.yaml")
        let reader = SchemaReader(file: document.file)
        let top = try #require(reader.mapping(document.requireRoot(), "", allowed: ["limits", "items", "name"]))
        #expect(top.require("name", reader) == nil)
        let limits = try #require(top["limits"].flatMap {
            reader.mapping($0, top.path("limits"), allowed: ["max_connections", "depth", "mode", "flag"])
        })
        #expect(limits["depth"].flatMap { reader.integer($0, limits.path("depth"), min: 0) } == nil)
        #expect(limits["mode"].flatMap { reader.choice($0, limits.path("mode"), ["fast", "slow"]) } == nil)
        #expect(limits["flag"].flatMap { reader.bool($0, limits.path("flag")) } == nil)
        let items = try #require(top["items"].flatMap { reader.sequence($0, top.path("items")) })
        #expect(reader.literal(items[0], "items[0]") == 1)
        #expect(reader.literal(items[1], "items[1]") == nil)
        #expect(reader.marks["items[1]"] == at(6, 12))
        #expect(reader.diagnostics.map(\.description) == [
            "c.yaml:1:1: error: missing required key 'name'",
            "c.yaml:2:3: error: limits.max_conections: unknown key 'max_conections' (did you mean 'max_connections'?)",
            "c.yaml:3:10: error: limits.depth: expected a whole number, found 1.5",
            "c.yaml:4:9: error: limits.mode: 'fats' is not one of: fast, slow",
            "c.yaml:5:9: error: limits.flag: expected true or false, found 'maybe'",
            "c.yaml:6:12: error: items[1]: expected a number, found 'x'",
        ])
    }

    @Test("numbers: decimal, hex, octal and underscores; anything else is not a number")
    func numbers() {
        #expect(parseNumber("1_000") == 1000)
        #expect(parseNumber("-0x10") == -16)
        #expect(parseNumber("0o17") == 15)
        #expect(parseNumber("+2.5e-1") == 0.25)
        #expect(parseNumber("1_\u{301}0") == nil)
        #expect(parseNumber("abc") == nil)
        #expect(parseNumber("") == nil)
        #expect(formatNumber(3) == "3")
        #expect(formatNumber(0.5) == "0.5")
    }
}
