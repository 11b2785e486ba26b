import Foundation
import MetaSimCore
import MetaSimTestSupport
import Testing

/// `metasim validate --print` (the binary): standard output is the world as it resolves, and
/// nothing else; the summary and errors go to standard error.
@Suite("metasim validate --print")
struct ValidatePrintTests {
    static func validate(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(TestPaths.builtProduct("metasim"), "no metasim binary; build it with swift build")
        let r = try ProcessOutput.run(binary, ["validate", "--worlds", TestPaths.worldsRoot] + arguments)
        return (r.status, r.stdout, r.stderr)
    }

    @Test("prints a catalog variant merged over its base; the text loads as the same world")
    func printsVariant() throws {
        let path = "\(TestPaths.worldsRoot)/robots/lunar-lander-discrete.yaml"
        let (status, stdout, stderr) = try Self.validate(["--print", path])
        #expect(status == 0, "\(stderr)")
        #expect(stdout == (try WorldDefinition.resolvedText(contentsOfFile: path, catalogRoot: TestPaths.worldsRoot)))
        #expect(stderr.contains("\(path): ok (lunar-lander-discrete, 3 family parameters)"))
        let printed = try WorldDefinition.parse(stdout, file: "printed.yaml")
        let original = try WorldDefinition.load(contentsOfFile: path, catalogRoot: TestPaths.worldsRoot)
        let specs = { (d: WorldDefinition) in try WorldProgram(definition: d, task: d.nominalTask()).specs }
        #expect(try specs(printed) == specs(original))
    }

    @Test("an invalid variant prints nothing on standard output and its error at the variant's line")
    func refusesInvalid() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "extends: lunar-lander\nname: x\nparameters:\n  gravty: -3\n".write(toFile: "\(folder)/x.yaml", atomically: true, encoding: .utf8)
        let (status, stdout, stderr) = try Self.validate(["--print", "\(folder)/x.yaml"])
        #expect(status != 0)
        #expect(stdout.isEmpty)
        #expect(stderr.contains("\(folder)/x.yaml:4:3: error: parameters.gravty: the base world 'lunar-lander' has no parameter 'gravty'"), "\(stderr)")
    }
}
