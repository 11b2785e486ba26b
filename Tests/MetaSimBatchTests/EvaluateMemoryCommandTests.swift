import Foundation
import MetaLearning
import MetaSimCore
import MetaSimTestSupport
import Testing

/// `metasim evaluate --memory` and `metasim adapt` with a policy with memory (rl2, context), run as
/// the binary: tiny policies trained by `metasim train`, a few held-out tasks.
@Suite("metasim evaluate --memory, metasim adapt with rl2 and context")
struct EvaluateMemoryCommandTests {
    static func metasim(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(TestPaths.builtProduct("metasim"), "no metasim binary; build it with swift build")
        let r = try ProcessOutput.run(binary, [arguments[0], "--worlds", TestPaths.worldsRoot] + arguments.dropFirst())
        return (r.status, r.stdout, r.stderr)
    }

    /// A MAML policy and an rl2 policy for point-nav on 10-step episodes, one iteration each.
    static func policies(in folder: String) throws -> (maml: String, rl2: String) {
        let common = ["--world", "point-nav", "--iterations", "1", "--meta-batch", "2", "--episodes", "2", "--horizon", "10", "--seed", "1"]
        let maml = folder + "/maml.safetensors", rl2 = folder + "/rl2.safetensors"
        let a = try metasim(["train"] + common + ["--algo", "maml", "--hidden", "4", "--output", maml])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try metasim(["train"] + common + ["--algo", "rl2", "--hidden", "5", "--output", rl2])
        #expect(b.status == 0, "\(b.stderr)")
        return (maml, rl2)
    }

    @Test("every method against episodes of experience: the table, the JSON and the plot; bad options are refused")
    func evaluate() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (maml, rl2) = try Self.policies(in: folder)
        let base = ["evaluate", "--world", "point-nav", "--policy", maml, "--tasks", "2", "--inner-steps", "2", "--episodes", "2", "--no-scratch", "--threads", "1"]
        let json = folder + "/eval.json", svg = folder + "/eval.svg"
        let run = try Self.metasim(base + ["--memory", rl2, "--experience", "0,1,2,4", "--memory-trials", "3", "--json", json, "--plot", svg])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("against episodes of experience of the task (sampled; one inner step = 2 episodes; memory policies: 3 trials per task"), "\(run.stdout)")
        #expect(run.stdout.contains("rl2 − maml per task (paired): 0: "))
        #expect(run.stdout.contains("rl2 after e episodes − maml after 2 steps (4 episodes), per task (paired): 0: "))
        let report = try #require(try EvaluationReport.load(contentsOfFile: json).first)
        #expect(report.experiencePoints == [0, 1, 2, 4] && report.memoryTrials == 3)
        let memory = try #require(report.memory?.first)
        #expect(memory.name == "rl2" && memory.perTask.count == 2 && memory.perTask.allSatisfy { $0.count == 5 }, "episodes 0…4 of each trial")
        #expect(report.memoryDeterministic?.first?.perTask.map(\.count) == [5, 5])
        // MAML after 2 episodes is its return after one step, after 4 after two.
        let m = try #require(report.perTaskByExperience(method: "maml", points: [0, 1, 2, 4]))
        #expect(m.map { [$0[0], $0[1], $0[2], $0[3]] } == report.methods[0].perTask.map { [$0[0], $0[0], $0[1], $0[2]] })
        let plot = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(plot.contains("episodes of experience of the task") && plot.contains("<title>rl2, after 4:"))

        // --validation: the same evaluation on validation tasks of the training range (its top
        // tenth), none a task either policy trained on; for choosing settings.
        let vjson = folder + "/validation.json"
        let v = try Self.metasim(base + ["--memory", rl2, "--experience", "0,1", "--validation", "--json", vjson])
        #expect(v.status == 0 && v.stdout.contains("VALIDATION tasks of the training range"), "\(v.stderr)")
        let vreport = try #require(try EvaluationReport.load(contentsOfFile: vjson).first)
        #expect(vreport.taskSeeds.count == 2 && vreport.taskSeeds.allSatisfy { (900_000_000..<1_000_000_000).contains($0) }, "\(vreport.taskSeeds)")
        #expect(vreport.memory?.first?.perTask.count == 2)
        let tooMany = try Self.metasim(base + ["--validation", "--tasks", "500000", "--blocks", "3"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("--validation: at most 1000000 tasks"), "\(tooMany.stderr)")
        #expect(throws: EvaluationError.self) {
            try Evaluator(definition: try WorldDefinition.load(contentsOfFile: TestPaths.worldsRoot + "/robots/point-nav.yaml"), inner: InnerLoop(),
                          validationTaskSeeds: [1_000_000_000], seed: 0, threads: 1)
        }

        // Bad input: a clear error, nothing written.
        let beyond = try Self.metasim(base + ["--memory", rl2, "--experience", "0,5"])
        #expect(beyond.status != 0 && beyond.stderr.contains("--experience: 5 episodes is beyond the 2 inner steps × 2 episodes (4)"), "\(beyond.stderr)")
        let huge = try Self.metasim(base + ["--memory", rl2, "--inner-steps", "9223372036854775807", "--experience", "0,1001"])
        #expect(huge.status != 0 && huge.stderr.contains("--experience: 1001 episodes is more than the 1000 a trial may hold"), "\(huge.stderr)")
        let unordered = try Self.metasim(base + ["--memory", rl2, "--experience", "2,1"])
        #expect(unordered.status != 0 && unordered.stderr.contains("--experience: give distinct counts in increasing order"), "\(unordered.stderr)")
        let feedForward = try Self.metasim(base + ["--memory", maml, "--experience", "0,1"])
        #expect(feedForward.status != 0 && feedForward.stderr.contains("not a memory-based policy"), "\(feedForward.stderr)")
        let horizon = try Self.metasim(base + ["--memory", rl2, "--horizon", "12", "--experience", "0,1"])
        #expect(horizon.status != 0 && horizon.stderr.contains("trained on episodes of 10 steps, the evaluation runs 12"), "\(horizon.stderr)")
        // Without --memory, --experience is not looked at: one inner step of one episode is a valid evaluation.
        let plain = try Self.metasim(base.map { $0 == "2" ? "1" : $0 })
        #expect(plain.status == 0 && !plain.stdout.contains("episodes of experience"), "\(plain.stderr)")
        let asPolicy = try Self.metasim(["evaluate", "--world", "point-nav", "--policy", rl2, "--tasks", "1"])
        #expect(asPolicy.status != 0 && asPolicy.stderr.contains("it is a recurrent policy (rl2, a GRU of 5 units)"), "\(asPolicy.stderr)")
    }

    @Test("metasim adapt acts with the state carried across a trial's episodes, and will not write an adapted copy")
    func adapt() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (_, rl2) = try Self.policies(in: folder)
        let args = ["adapt", "--world", "point-nav", "--policy", rl2, "--task-seed", "1000000000", "--inner-steps", "2", "--episodes", "3"]
        let run = try Self.metasim(args)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("3 trials of 3 episodes of up to 10 steps, the state carried across each trial's episodes"), "\(run.stdout)")
        let rows: [String] = run.stdout.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let experienceRows = rows.filter { row in ["0 ", "1 ", "2 "].contains(String(row.prefix(2))) }
        #expect(experienceRows.count == 3, "\(run.stdout)")
        let refused = try Self.metasim(args + ["--output", folder + "/adapted.safetensors"])
        #expect(refused.status != 0 && refused.stderr.contains("it adapts in its state, not its parameters"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/adapted.safetensors"))
    }

    /// The context policy through the binary: `train --algo context` with its own options (refused
    /// with any other algorithm), `evaluate --memory` beside rl2, `adapt`.
    @Test("metasim train --algo context, evaluated beside rl2 and adapted; its options refused elsewhere")
    func context() throws {
        let folder = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (maml, rl2) = try Self.policies(in: folder)
        let common = ["--world", "point-nav", "--iterations", "1", "--meta-batch", "2", "--horizon", "10", "--seed", "1"]
        let context = folder + "/context.safetensors"
        let t = try Self.metasim(["train"] + common + ["--algo", "context", "--hidden", "5", "--latent", "3", "--decoder-coef", "0.5", "--output", context])
        #expect(t.status == 0 && t.stdout.contains("context on point-nav"), "\(t.stderr)")
        let c = try Checkpoint.load(path: context)
        #expect(c.policy.architecture.recurrent == RecurrentCell(contextHiddenSize: 5, latentSize: 3) && c.metadata.algorithm == "context")
        #expect(c.metadata.trainingConfig?.recurrent?.decoderCoefficient == 0.5)
        let base = ["evaluate", "--world", "point-nav", "--policy", maml, "--tasks", "2", "--inner-steps", "2", "--episodes", "2", "--no-scratch", "--threads", "1"]
        let json = folder + "/eval.json"
        let run = try Self.metasim(base + ["--memory", rl2, "--memory", context, "--experience", "0,1,2", "--memory-trials", "2", "--json", json])
        #expect(run.status == 0 && run.stdout.contains("context − maml per task (paired): 0: "), "\(run.stderr)")
        let report = try #require(try EvaluationReport.load(contentsOfFile: json).first)
        #expect(report.memory?.map(\.name) == ["rl2", "context"])
        let adapt = try Self.metasim(["adapt", "--world", "point-nav", "--policy", context, "--task-seed", "1000000007", "--inner-steps", "2",
                                      "--episodes", "2", "--horizon", "10"])
        #expect(adapt.status == 0, "\(adapt.stderr)")
        for (option, value) in [("--latent", "3"), ("--decoder-coef", "1")] {
            for algo in ["rl2", "maml"] {
                let r = try Self.metasim(["train"] + common + ["--algo", algo, option, value, "--output", folder + "/x.safetensors"])
                #expect(r.status != 0 && r.stderr.contains("use it with --algo context") || r.stderr.contains("use them with --algo context"), "\(r.stderr)")
            }
        }
        let bptt = try Self.metasim(["train"] + common + ["--algo", "context", "--bptt", "5", "--output", folder + "/x.safetensors"])
        #expect(bptt.status != 0 && bptt.stderr.contains("a context policy has no chain of states to cut"), "\(bptt.stderr)")
        let zero = try Self.metasim(["train"] + common + ["--algo", "context", "--latent", "0", "--output", folder + "/x.safetensors"])
        #expect(zero.status != 0 && zero.stderr.contains("latent size 0 is not in"), "\(zero.stderr)")
        let negative = try Self.metasim(["train"] + common + ["--algo", "context", "--decoder-coef=-1", "--output", folder + "/x.safetensors"])
        #expect(negative.status != 0 && negative.stderr.contains("decoder coefficient -1.0 is not a non-negative number"), "\(negative.stderr)")
        // The reward input scale: recorded in the context policy's cell, refused out of range and
        // for a policy without memory.
        let scaled = folder + "/scaled.safetensors"
        let s = try Self.metasim(["train"] + common + ["--algo", "context", "--hidden", "5", "--reward-input-scale", "20", "--output", scaled])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(try Checkpoint.load(path: scaled).policy.architecture.recurrent?.rewardScale == 20)
        let mamlScale = try Self.metasim(["train"] + common + ["--algo", "maml", "--reward-input-scale", "20", "--output", folder + "/x.safetensors"])
        #expect(mamlScale.status != 0 && mamlScale.stderr.contains("use it with --algo rl2 or context, not maml"), "\(mamlScale.stderr)")
        let zeroScale = try Self.metasim(["train"] + common + ["--algo", "rl2", "--reward-input-scale", "0", "--output", folder + "/x.safetensors"])
        #expect(zeroScale.status != 0 && zeroScale.stderr.contains("reward input scale 0.0 is not a number in (0, 1e6]"), "\(zeroScale.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/x.safetensors"))
    }
}
