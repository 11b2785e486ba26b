import Foundation
import MetaSimTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import MetaSimBatch

/// Crash safety end to end: the built `metasim` binary is killed with SIGKILL in the middle of a
/// batch (once some of its units are journaled, at a random point of the first quarter of the
/// batch), resumed with `--resume` and killed again mid-run, then finished; it must end with the
/// files an uninterrupted run writes. Each kill is checked to have landed mid-run: the process
/// died of the signal (it had not exited), and its journal held some but not all units.
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

    /// How a killed run ended: its process, and the units its journal held when it was dead.
    struct Killed {
        var process: Process
        var journaled: Int
    }

    /// Starts `metasim ARGUMENTS`, waits until the journal holds at least `target` units, then
    /// kills the process with SIGKILL (unless it is no longer running, which the caller's checks
    /// catch) and waits for it to die.
    static func killMidRun(_ binary: String, _ arguments: [String], journal: String, target: Int) throws -> Killed {
        let p = try start(binary, arguments)
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning, Date() < deadline {
            if let n = try? BatchJournal.load(path: journal).results.count, n >= target { break }
            usleep(2_000)
        }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return Killed(process: p, journaled: try BatchJournal.load(path: journal).results.count)
    }

    @Test("kill -9 mid-run (twice), then --resume, gives the uninterrupted result byte for byte",
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

        let full = try Self.start(binary, arguments(root + "/full", resume: false))
        full.waitUntilExit()
        #expect(full.terminationReason == .exit && full.terminationStatus == 0)

        var rng = SystemRandomNumberGenerator()
        let folder = root + "/killed"
        var journaled = 0
        for round in 0..<2 {
            // Each run is killed once it has journaled a few more units: past the start, far
            // from the end (a quarter of the batch at most).
            let target = journaled + Int.random(in: 1...max(1, units / 8), using: &rng)
            let killed = try Self.killMidRun(binary, arguments(folder, resume: round > 0), journal: folder + "/" + BatchOutput.journalFile, target: target)
            let p = killed.process
            // It was running when the signal came (a run that had finished exits with a status).
            #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL,
                    "round \(round): the process was not killed mid-run (\(p.terminationReason == .exit ? "exited" : "signalled") with \(p.terminationStatus))")
            // It had made progress (this round's units on top of earlier rounds') and not finished.
            #expect(killed.journaled >= target && killed.journaled > journaled && killed.journaled < units,
                    "round \(round): killed with \(killed.journaled) of \(units) units journaled (at least \(target) wanted, \(journaled) before)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/" + BatchOutput.episodesFile),
                    "round \(round): the killed run wrote its final outputs")
            journaled = killed.journaled
        }
        let finish = try Self.start(binary, arguments(folder, resume: true))
        finish.waitUntilExit()
        #expect(finish.terminationReason == .exit && finish.terminationStatus == 0)

        for file in [BatchOutput.episodesFile, BatchOutput.summaryFile, BatchOutput.manifestFile] {
            let a = FileManager.default.contents(atPath: root + "/full/" + file)
            let b = FileManager.default.contents(atPath: folder + "/" + file)
            #expect(a != nil && a == b, "\(file) differs after kills leaving \(journaled) of \(units) units journaled")
        }
        if specText == Self.checkpointSpecText {
            let lines = try BatchOutput.readEpisodes(folder: folder)
            #expect(lines.count == units * 2 && lines.filter { $0.adaptReturns?.count == 2 }.count == 16 * 2)
        }
    }
}
