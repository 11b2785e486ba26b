import Foundation
import MetaSimYAML
import Testing

@Suite("Errors")
struct YAMLErrorTests {
    @Test func duplicateKeyNamesBothPlaces() throws {
        let error = try #require(parseError("""
            name: a
            size: 1
            name: b
            """, file: "world.yaml"))
        #expect(error == .duplicateKey(file: "world.yaml", mark: at(3, 1), key: "name", firstMark: at(1, 1)))
        #expect(error.description
            == "world.yaml:3:1: error: duplicate key \"name\" in mapping (first defined at world.yaml:1:1)")
        #expect(error.file == "world.yaml")
        #expect(error.mark == at(3, 1))
    }

    @Test func duplicateKeyInNestedFlowMapping() throws {
        let error = try #require(parseError("outer:\n  inner: {k: 1, j: 2, k: 3}\n"))
        #expect(error == .duplicateKey(file: "test.yaml", mark: at(2, 23), key: "k", firstMark: at(2, 11)))
    }

    @Test func sameKeyInDifferentMappingsIsFine() throws {
        let root = try document("a: {k: 1}\nb: {k: 2}\n")
        #expect(root["b"]?["k"]?.scalar == "2")
    }

    @Test func badIndentation() throws {
        let error = try #require(parseError("a:\n  b: 1\n c: 2\n", file: "w.yaml"))
        #expect(error.mark == at(3, 2))
        #expect(error.description
            == "w.yaml:3:2: error: did not find expected key (while parsing a block mapping at 1:1)")
    }

    @Test func unclosedQuote() throws {
        let error = try #require(parseError("a: \"unclosed\nb: 2\n", file: "w.yaml"))
        guard case .syntax(let file, let mark, let message) = error else {
            Issue.record("expected a syntax error, got \(error)")
            return
        }
        #expect(file == "w.yaml")
        #expect(mark == at(3, 1))
        #expect(message == "found unexpected end of stream (while scanning a quoted scalar at 1:4)")
    }

    @Test func tabIndentation() throws {
        let error = try #require(parseError("a:\n\tb: 1\n", file: "w.yaml"))
        #expect(error.description.hasPrefix("w.yaml:2:1: error: found character that cannot start any token"))
    }

    @Test func unclosedFlowSequence() throws {
        let error = try #require(parseError("key: [1, 2\n"))
        #expect(error.mark == at(2, 1))
        #expect(error.description.contains("while parsing a flow sequence at 1:6"))
    }

    @Test func parserErrorWithoutContext() throws {
        let error = try #require(parseError("a: b: c\n"))
        #expect(error == .syntax(file: "test.yaml", mark: at(1, 5),
                                 message: "mapping values are not allowed in this context"))
    }

    @Test func controlCharacterIsLocated() throws {
        let error = try #require(parseError("ok: 1\nbad: é\u{01}\n"))
        #expect(error == .syntax(file: "test.yaml", mark: at(2, 7),
                                 message: "control characters are not allowed (#x1)"))
    }

    @Test func multipleDocuments() throws {
        let error = try #require(parseError("a: 1\n---\nb: 2\n", file: "two.yaml"))
        #expect(error == .multipleDocuments(file: "two.yaml", mark: at(2, 1)))
        #expect(error.description.hasPrefix("two.yaml:2:1: error: "))
    }

    @Test func complexKeysAreRejected() throws {
        let error = try #require(parseError("? [a, b]\n: value\n"))
        #expect(error == .syntax(file: "test.yaml", mark: at(1, 3), message: "mapping keys must be scalars, found a sequence"))
        let flow = try #require(parseError("{{x: 1}: 2}"))
        #expect(flow.mark == at(1, 2))
        #expect(flow.description.contains("found a mapping"))
    }

    @Test func unknownAlias() throws {
        let error = try #require(parseError("a: 1\nb: *nope\n"))
        #expect(error == .unknownAlias(file: "test.yaml", mark: at(2, 4), name: "nope"))
        #expect(error.description.contains("*nope"))
        // An anchor cannot be used inside its own node.
        let recursive = try #require(parseError("&r [*r]"))
        #expect(recursive == .unknownAlias(file: "test.yaml", mark: at(1, 5), name: "r"))
    }

    @Test func invalidMergeValues() throws {
        let scalar = try #require(parseError("a: &s text\nb:\n  <<: *s\n"))
        guard case .invalidMergeKey(_, let mark, _) = scalar else {
            Issue.record("expected invalidMergeKey, got \(scalar)")
            return
        }
        #expect(mark == at(3, 7))
        #expect(scalar.description.hasPrefix("test.yaml:3:7: error: invalid merge key:"))

        let listItem = try #require(parseError("a: &m {x: 1}\nb:\n  <<: [*m, [1]]\n"))
        guard case .invalidMergeKey(_, let itemMark, let message) = listItem else {
            Issue.record("expected invalidMergeKey, got \(listItem)")
            return
        }
        #expect(itemMark == at(3, 12))
        #expect(message.contains("sequence"))
    }

    @Test func twoMergeKeysAreDuplicates() throws {
        let error = try #require(parseError("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n"))
        #expect(error == .duplicateKey(file: "test.yaml", mark: at(4, 3), key: "<<", firstMark: at(3, 3)))
    }

    @Test func aliasBombIsRejected() throws {
        var lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
        let names = ["a", "b", "c", "d", "e", "f", "g", "h"]
        for (previous, name) in zip(names, names.dropFirst()) {
            let refs = Array(repeating: "*\(previous)", count: 10).joined(separator: ", ")
            lines.append("\(name): &\(name) [\(refs)]")
        }
        let error = try #require(parseError(lines.joined(separator: "\n")))
        guard case .syntax(_, let mark, let message) = error else {
            Issue.record("expected a syntax error, got \(error)")
            return
        }
        #expect(message.contains("alias bomb"))
        #expect(mark.line == 6)  // level f (1,111,111 nodes) crosses the 1,000,000 cap
    }

    @Test func excessiveNestingIsRejected() throws {
        let deep = String(repeating: "[", count: 1_001) + String(repeating: "]", count: 1_001)
        let error = try #require(parseError(deep))
        #expect(error.mark == at(1, 1_001))
        #expect(error.description.contains("nested more than 1000 levels"))
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try YAML.parse(fine)?.sequence?.count == 1)
    }

    @Test func missingFileIsIOError() throws {
        let path = "/nonexistent-metasim-dir/world.yaml"
        do {
            _ = try YAML.load(contentsOfFile: path)
            Issue.record("expected an error")
        } catch {
            guard case .io(let file, let message) = error else {
                Issue.record("expected an io error, got \(error)")
                return
            }
            #expect(file == path)
            #expect(message.contains("No such file or directory"))
            #expect(error.mark == nil)
            #expect(error.description.hasPrefix("\(path): error: cannot open file"))
        }
    }

    @Test func directoryIsIOError() throws {
        let error = try #require(throws: YAMLError.self) {
            try YAML.load(contentsOfFile: NSTemporaryDirectory())
        }
        guard case .io(let file, let message) = error else {
            Issue.record("expected an io error, got \(error)")
            return
        }
        #expect(message.contains("Is a directory"))
        #expect(file == NSTemporaryDirectory())
    }

    @Test func loadsFileAndUsesPathInErrors() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("metasim-yaml-\(UInt64.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let good = directory.appendingPathComponent("good.yaml").path
        try Data("name: Arena\nsize: [3, 4]\n".utf8).write(to: URL(fileURLWithPath: good))
        let root = try #require(try YAML.load(contentsOfFile: good))
        #expect(root["name"]?.scalar == "Arena")
        #expect(root["size"]?.mark == at(2, 7))

        let bad = directory.appendingPathComponent("bad.yaml").path
        try Data("a: 1\na: 2\n".utf8).write(to: URL(fileURLWithPath: bad))
        #expect(throws: YAMLError.duplicateKey(file: bad, mark: at(2, 1), key: "a", firstMark: at(1, 1))) {
            try YAML.load(contentsOfFile: bad)
        }

        let invalidUTF8 = directory.appendingPathComponent("latin1.yaml").path
        try Data([0x61, 0x3A, 0x20, 0x0A, 0x62, 0x3A, 0x20, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: invalidUTF8))
        let error = try #require(throws: YAMLError.self) { try YAML.load(contentsOfFile: invalidUTF8) }
        #expect(error.file == invalidUTF8)
        #expect(error.mark == at(2, 4))
        #expect(error.description.contains("UTF-8"))

        let empty = directory.appendingPathComponent("empty.yaml").path
        try Data().write(to: URL(fileURLWithPath: empty))
        #expect(try YAML.load(contentsOfFile: empty) == nil)
    }
}
