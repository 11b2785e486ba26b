import Foundation
import MetaLearning
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Testing

/// What a daemon does, until it serves recurrent policies (issue 31), with an rl2 checkpoint in
/// its policies folder: it loads and lists it, refuses to bind it to a session with a clear
/// error, and goes on serving.
@Suite("A recurrent (rl2) checkpoint in the policies folder", .serialized)
struct RecurrentPolicyTests {
    @Test func itIsListedAndRefusedForSessionsWithoutHarm() async throws {
        let folder = try temporaryPolicies()
        let definition = try WorldCatalog.resolve("point-nav", root: worldsRoot)
        let specs = try WorldProgram(definition: definition, task: definition.nominalTask()).specs
        let architecture = PolicyArchitecture.recurrent(PolicyArchitecture(specs: specs, hidden: []), hiddenSize: 8)
        let config = MetaTrainingConfig(algorithm: .rl2, hidden: [8])
        let checkpoint = Checkpoint(policy: Policy(architecture: architecture, seed: 1),
                                    metadata: CheckpointMetadata(definition: definition, specs: specs, algorithm: "rl2",
                                                                 hyperparameters: RecurrentLearner().hyperparameters(config),
                                                                 trainingSeed: 0, metasimVersion: "test"))
        try checkpoint.write(to: folder + "/pn-rl2.safetensors")
        let server = try await TestServer { $0.policiesRoot = folder }
        let c = try server.connect()
        let list = try c.listPolicies()
        let entry = try #require(list.policies.first { $0.name == "pn-rl2" })
        #expect(entry.algorithm == "rl2" && entry.adaptFirst == true)
        #expect(list.rejected.isEmpty)
        let s = try c.open(OpenRequest(world: "point-nav"))
        var reply: ErrorReply?
        do { _ = try s.adapt(policy: "pn-rl2", steps: 0) } catch {
            if case .server(_, _, let r) = error { reply = r }
        }
        #expect(reply?.code == .policyMismatch)
        #expect(reply?.message.contains("it is a recurrent policy (rl2, a GRU of 8 units)") == true, "\(String(describing: reply))")
        // The daemon goes on serving the feed-forward policies.
        _ = try s.adapt(policy: "point-nav", steps: 0)
        #expect(try s.act([0.1, 0.1]).count == 2)
        try await server.stop()
    }
}
