import Foundation
import MetaSimTestSupport
import Testing

@testable import MetaSimCore

/// Every file in `Malformed/` is a small world with exactly one mistake. Its first line states
/// the diagnostic it must produce (`MalformedExpectation`):
///
///     # expect: LINE:COLUMN KEY.PATH | message fragment
///
/// (KEY.PATH is empty for problems found by the YAML parser). Loading must fail with
/// `WorldError.invalid`, holding exactly one diagnostic, at exactly that place, printed
/// compiler style as `FILE:LINE:COLUMN: error: KEY.PATH: message`.
@Suite("Malformed worlds")
struct MalformedWorldTests {
    static var folder: URL? { Bundle.module.url(forResource: "Malformed", withExtension: nil) }

    /// File names (not paths) of the malformed worlds, sorted.
    static let files: [String] = {
        guard let folder,
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    static func expectation(in text: String) -> MalformedExpectation? {
        MalformedExpectation(firstLineOf: text)
    }

    @Test("the resource folder holds at least 24 malformed worlds, each with an expectation")
    func folderIsComplete() throws {
        let folder = try #require(Self.folder, "Bundle.module has no Malformed folder")
        #expect(Self.files.count >= 24, "found \(Self.files.count) files in \(folder.path)")
        for name in Self.files {
            let text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            #expect(Self.expectation(in: text) != nil, "\(name): first line is not '# expect: LINE:COLUMN KEY.PATH | fragment'")
        }
    }

    @Test("malformed world reports its one mistake precisely", arguments: files)
    func reportsTheMistake(name: String) throws {
        let folder = try #require(Self.folder)
        let path = folder.appendingPathComponent(name).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let expected = try #require(Self.expectation(in: text), "\(name) has no '# expect:' line")

        let diagnostics: [Diagnostic]
        do {
            let definition = try WorldDefinition.load(contentsOfFile: path)
            Issue.record("\(name) loaded as world '\(definition.name)'; expected \(expected)")
            return
        } catch {
            guard case .invalid(let d) = error else {
                Issue.record("\(name): expected WorldError.invalid, got \(error)")
                return
            }
            diagnostics = d
        }

        let report = diagnostics.map(\.description).joined(separator: "\n")
        #expect(diagnostics.count == 1, "one mistake, one diagnostic; got:\n\(report)")
        let match = diagnostics.first { d in
            d.line == expected.line && d.column == expected.column && d.keyPath == expected.keyPath
                && d.message.contains(expected.fragment)
        }
        #expect(match != nil, "expected \(expected); got:\n\(report)")
        for d in diagnostics {
            #expect(d.file == path)
            #expect(d.line >= 1 && d.column >= 1, "no position: \(d)")
        }

        // The printed form, as editors and terminals parse it.
        let location = "\(path):\(expected.line):\(expected.column): error: "
        let prefix = expected.keyPath.isEmpty ? location : location + expected.keyPath + ": "
        if let match {
            #expect(match.description.hasPrefix(prefix), "\(match.description)")
            #expect(match.description.hasSuffix(match.message))
        }
        // WorldError's description lists the diagnostics, one per line.
        let all = WorldError.invalid(diagnostics).description
        #expect(all.split(separator: "\n").contains { $0.hasPrefix(prefix) && $0.contains(expected.fragment) },
                "printed: \(all)")
    }

    @Test("independent mistakes are all reported, and nothing is returned")
    func collectsAllErrors() {
        let yaml = """
        name: three_mistakes
        simulation:
          timestep: 0.02
          gravty: [0, -9.8]
        bodies:
          ball:
            position: [0, 2]
            shapes:
              - circle: 0.5
                density: -1
        actions:
          - name: push
            type: forse
            body: ball
        observations:
          - name: ball_y
            type: position
            body: ball
            axis: y
        reward:
          - name: alive
            type: alive
        """
        var loaded: WorldDefinition?
        var diagnostics: [Diagnostic] = []
        do {
            loaded = try WorldDefinition.parse(yaml, file: "three.yaml")
        } catch {
            if case .invalid(let d) = error { diagnostics = d } else { Issue.record("unexpected error \(error)") }
        }
        #expect(loaded == nil, "a world with mistakes was returned")
        let report = diagnostics.map(\.description).joined(separator: "\n")
        #expect(diagnostics.count == 3, "\(report)")
        let expected: [(Int, Int, String, String)] = [
            (4, 3, "simulation.gravty", "did you mean 'gravity'?"),
            (10, 18, "bodies.ball.shapes[0].density", "must be zero or positive, found -1"),
            (13, 11, "actions[0].type", "'forse' is not one of"),
        ]
        for (line, column, keyPath, fragment) in expected {
            #expect(diagnostics.contains { $0.line == line && $0.column == column && $0.keyPath == keyPath && $0.message.contains(fragment) },
                    "missing \(line):\(column) \(keyPath) | \(fragment) in:\n\(report)")
        }
        // Reported in file order.
        #expect(diagnostics.map(\.line) == diagnostics.map(\.line).sorted())
        #expect(diagnostics.allSatisfy { $0.file == "three.yaml" && $0.description.hasPrefix("three.yaml:\($0.line):\($0.column): error: ") })
    }

    @Test("an unreadable file is an error naming the file, not a crash")
    func missingFile() {
        let path = "/nonexistent/metasim/world.yaml"
        #expect {
            _ = try WorldDefinition.load(contentsOfFile: path)
        } throws: { error in
            guard let e = error as? WorldError, case .invalid(let d) = e else { return false }
            return d.count == 1 && d[0].file == path && e.description.hasPrefix(path + ": error: ")
        }
    }
}
