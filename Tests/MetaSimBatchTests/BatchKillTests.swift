import Foundation
import MetaSimTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import MetaSimBatch

/// Crash safety end to end: the built `metasim` binary is killed with SIGKILL at random moments
/// of a batch, resumed with `--resume`, and must end with the files an uninterrupted run writes.
@Suite("Batch kill -9")
struct BatchKillTests {
    static let specText = """
        worlds: [pendulum, point-nav]
        tasks: {seeds: {from: 0, count: 16}}
        policies: [random, zero]
        episodes: 8
        """

    /// A shipped checkpoint, as is and adapted (one step on 4 episodes) on every task.
    static let checkpointSpecText = """
        worlds: [point-nav]
        tasks: {seeds: {from: 1000000000, count: 16}}
        policies:
          - random
          - {checkpoint: \(TestPaths.packageRoot.appendingPathComponent("policies/point-nav.safetensors").path)}
          - checkpoint: \(TestPaths.packageRoot.appendingPathComponent("policies/point-nav.safetensors").path)
            adapt: {steps: 1, episodes: 4}
        episodes: 2
        """

    static func start(_ binary: String, _ arguments: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    @Test("kill -9 at random moments, then --resume, gives the uninterrupted result byte for byte",
          arguments: [specText, checkpointSpecText])
    func killAndResume(specText: String) throws {
        let binary = try #require(TestPaths.builtProduct("metasim"), "no metasim binary next to \(CommandLine.arguments[0]); build it with swift build")
        let root = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let spec = root + "/spec.yaml"
        try specText.write(toFile: spec, atomically: true, encoding: .utf8)
        let units = try BatchPlan(spec: BatchSpec.load(contentsOfFile: spec), worldsRoot: TestPaths.worldsRoot).units.count
        func arguments(_ folder: String, resume: Bool) -> [String] {
            ["batch", spec, "--output", folder, "--jobs", "2", "--worlds", TestPaths.worldsRoot, "--progress", "none"]
                + (resume ? ["--resume"] : [])
        }

        let t0 = Date()
        let full = try Self.start(binary, arguments(root + "/full", resume: false))
        full.waitUntilExit()
        let duration = Date().timeIntervalSince(t0)
        #expect(full.terminationStatus == 0)

        var rng = SystemRandomNumberGenerator()
        let folder = root + "/killed"
        var journalUnits: [Int] = []
        for round in 0..<2 {
            let p = try Self.start(binary, arguments(folder, resume: round > 0))
            let delay = Double.random(in: 0.02...max(0.05, 0.8 * duration), using: &rng)
            usleep(UInt32(delay * 1e6))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            journalUnits.append(try BatchJournal.load(path: folder + "/journal.log").results.count)
        }
        let finish = try Self.start(binary, arguments(folder, resume: true))
        finish.waitUntilExit()
        #expect(finish.terminationStatus == 0)

        for file in [BatchOutput.episodesFile, BatchOutput.summaryFile, BatchOutput.manifestFile] {
            let a = FileManager.default.contents(atPath: root + "/full/" + file)
            let b = FileManager.default.contents(atPath: folder + "/" + file)
            #expect(a != nil && a == b, "\(file) differs after kills leaving \(journalUnits) of \(units) units journaled (full run \(duration) s)")
        }
        if specText == Self.checkpointSpecText {
            let lines = try BatchOutput.readEpisodes(folder: folder)
            #expect(lines.count == units * 2 && lines.filter { $0.adaptReturns?.count == 2 }.count == 16 * 2)
        }
    }
}
