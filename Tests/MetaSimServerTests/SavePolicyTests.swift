import Foundation
import MetaLearning
import MetaSimClient
import MetaSimCore
import MetaSimProtocol
import MetaSimServer
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `save_policy` under hostile or concurrent clients (issue 27): unique temporary files opened
/// with O_EXCL | O_NOFOLLOW, client saves in their own folder (configured policies read-only),
/// a count and byte quota, and concurrent saves under one name serialized.
/// A connection and its session, handed to one writer thread (used by that thread alone).
final class Writer: @unchecked Sendable {
    let connection: MetaSimConnection
    let session: RemoteSession
    init(connection: MetaSimConnection, session: RemoteSession) {
        self.connection = connection
        self.session = session
    }
}

@Suite("save_policy: concurrency, symlinks, read-only policies, quota", .serialized)
struct SavePolicyTests {
    /// A server on a private copy of the shipped policies, saving into `FOLDER/saved`.
    static func server(_ configure: @escaping (inout ServerConfiguration) -> Void = { _ in }) async throws -> (TestServer, String) {
        let folder = try temporaryPolicies()
        let server = try await TestServer {
            $0.policiesRoot = folder
            $0.savedPoliciesRoot = folder + "/saved"
            configure(&$0)
        }
        return (server, folder)
    }

    /// A point-nav session holding the shipped policy adapted one step with `seed`.
    static func adaptedSession(_ c: MetaSimConnection, seed: UInt64) throws -> RemoteSession {
        let s = try c.open(OpenRequest(world: "point-nav", batch: 1, taskSeed: heldOutTasks[0]))
        _ = try s.adapt(policy: "point-nav", steps: 1, episodes: 4, seed: seed)
        return s
    }

    static func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test("concurrent saves under one name from several connections all succeed; the file is one of theirs")
    func concurrentSaves() async throws {
        let (server, folder) = try await Self.server()
        let writers = 6, rounds = 8
        // Each connection's own checkpoint, saved under its own name first: the reference bytes.
        let references = Mutex<[Int: [UInt8]]>([:])
        let failures = Mutex<[String]>([])
        var writerSessions: [Writer] = []
        for k in 0..<writers {
            let c = try server.connect("writer-\(k)")
            let s = try Self.adaptedSession(c, seed: UInt64(k + 1))
            let own = try c.savePolicy(session: s.id, name: "own-\(k)")
            let bytes = try Self.bytes(own.file)
            references.withLock { $0[k] = bytes }
            writerSessions.append(Writer(connection: c, session: s))
        }
        // One thread per connection (not a pool: all of them save at once), started together.
        let start = DispatchSemaphore(value: 0), done = DispatchGroup()
        for (k, w) in writerSessions.enumerated() {
            done.enter()
            Thread {
                start.wait()
                for _ in 0..<rounds {
                    do {
                        let r = try w.connection.savePolicy(session: w.session.id, name: "shared", overwrite: true)
                        if r.file != folder + "/saved/shared.safetensors" { failures.withLock { $0.append("file \(r.file)") } }
                    } catch {
                        failures.withLock { $0.append("writer \(k): \(error)") }
                    }
                }
                done.leave()
            }.start()
        }
        for _ in 0..<writers { start.signal() }
        done.wait()
        let refs = references.withLock { Array($0.values) }
        #expect(Set(refs).count == writers, "each writer's policy differs")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let final = try Self.bytes(folder + "/saved/shared.safetensors")
        #expect(refs.contains(final), "the saved file is the checkpoint of one writer")
        _ = try Checkpoint.decode(final, path: "shared.safetensors")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder + "/saved").filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")
        // The served policy is the file's: a new session taking it acts as the file's policy.
        let c = try server.connect()
        #expect(try c.listPolicies().policies.first { $0.name == "shared" }?.saved == true)
        try await server.stop()
    }

    @Test("a symlink planted at the target, or at the old predictable temporary name, is not followed")
    func plantedSymlinks() async throws {
        let (server, folder) = try await Self.server()
        let saved = folder + "/saved"
        try FileManager.default.createDirectory(atPath: saved, withIntermediateDirectories: true)
        let victim = folder + "/victim.txt"
        try "do not touch".write(toFile: victim, atomically: false, encoding: .utf8)
        // At the target: save with overwrite replaces the link itself.
        #expect(symlink(victim, saved + "/linked.safetensors") == 0)
        // At the temporary name the daemon used before (one per process, `.NAME.tmp-PID`).
        #expect(symlink(victim, saved + "/.planted.safetensors.tmp-\(getpid())") == 0)
        let c = try server.connect()
        let s = try Self.adaptedSession(c, seed: 3)
        let exists = #expect(throws: ClientError.self) { _ = try c.savePolicy(session: s.id, name: "linked") }
        #expect(exists?.code == .policyExists)
        _ = try c.savePolicy(session: s.id, name: "linked", overwrite: true)
        _ = try c.savePolicy(session: s.id, name: "planted")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "do not touch")
        for name in ["linked", "planted"] {
            var st = stat()
            #expect(lstat(saved + "/\(name).safetensors", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG, "\(name) is a regular file")
            #expect(st.st_mode & 0o777 & ~0o640 == 0, "mode \(String(st.st_mode & 0o777, radix: 8)) is at most 0640")
            _ = try Checkpoint.load(path: saved + "/\(name).safetensors")
        }
        try await server.stop()
    }

    @Test("a configured policy's name cannot be saved over, even with overwrite; its file is untouched")
    func configuredPoliciesAreReadOnly() async throws {
        let (server, folder) = try await Self.server()
        let shipped = try Self.bytes(folder + "/point-nav.safetensors")
        let c = try server.connect()
        let s = try Self.adaptedSession(c, seed: 4)
        for overwrite in [false, true] {
            let refused = #expect(throws: ClientError.self) { _ = try c.savePolicy(session: s.id, name: "point-nav", overwrite: overwrite) }
            #expect(refused?.code == .policyExists)
            #expect("\(refused.map { "\($0)" } ?? "")".contains("configured policy"))
        }
        #expect(try Self.bytes(folder + "/point-nav.safetensors") == shipped)
        #expect(!FileManager.default.fileExists(atPath: folder + "/saved/point-nav.safetensors"))
        // Another name lands in the saved folder, not the configured one.
        let r = try c.savePolicy(session: s.id, name: "mine")
        #expect(r.file == folder + "/saved/mine.safetensors")
        #expect(!FileManager.default.fileExists(atPath: folder + "/mine.safetensors"))
        let listed = try c.listPolicies().policies
        #expect(listed.first { $0.name == "point-nav" }?.saved == nil)
        try await server.stop()

        // A saved file named like a configured policy (planted, or the operator shipped one later)
        // is not served: the configured policy wins and the saved file is listed as rejected.
        try FileManager.default.copyItem(atPath: folder + "/saved/mine.safetensors", toPath: folder + "/saved/point-nav-multitask.safetensors")
        let again = try await TestServer {
            $0.policiesRoot = folder
            $0.savedPoliciesRoot = folder + "/saved"
        }
        let list = try again.connect().listPolicies()
        #expect(list.policies.first { $0.name == "point-nav-multitask" }?.saved == nil)
        #expect(list.policies.first { $0.name == "mine" }?.saved == true, "saved policies are served after a restart")
        #expect(list.rejected.contains { $0.file.hasSuffix("saved/point-nav-multitask.safetensors") && $0.error.contains("configured policy") })
        try await again.stop()
    }

    @Test("the saved-policies quota (count and bytes) refuses with limit_exceeded; overwriting stays allowed")
    func quota() async throws {
        let (server, folder) = try await Self.server { $0.maxSavedPolicies = 2 }
        let c = try server.connect()
        let s = try Self.adaptedSession(c, seed: 5)
        _ = try c.savePolicy(session: s.id, name: "a")
        _ = try c.savePolicy(session: s.id, name: "b")
        let third = #expect(throws: ClientError.self) { _ = try c.savePolicy(session: s.id, name: "c") }
        #expect(third?.code == .limitExceeded)
        #expect(!FileManager.default.fileExists(atPath: folder + "/saved/c.safetensors"))
        _ = try c.savePolicy(session: s.id, name: "a", overwrite: true)
        let size = try Self.bytes(folder + "/saved/a.safetensors").count
        try await server.stop()

        let (bytesServer, bytesFolder) = try await Self.server { $0.maxSavedPolicyBytes = size * 3 / 2 }
        let c2 = try bytesServer.connect()
        let s2 = try Self.adaptedSession(c2, seed: 5)
        _ = try c2.savePolicy(session: s2.id, name: "a")
        let over = #expect(throws: ClientError.self) { _ = try c2.savePolicy(session: s2.id, name: "b") }
        #expect(over?.code == .limitExceeded)
        #expect("\(over.map { "\($0)" } ?? "")".contains("max_saved_policy_bytes"))
        _ = try c2.savePolicy(session: s2.id, name: "a", overwrite: true)
        #expect(!FileManager.default.fileExists(atPath: bytesFolder + "/saved/b.safetensors"))
        try await bytesServer.stop()

        let (off, _) = try await Self.server { $0.maxSavedPolicies = 0 }
        let c3 = try off.connect()
        let refused = #expect(throws: ClientError.self) { _ = try c3.savePolicy(session: try Self.adaptedSession(c3, seed: 1).id, name: "x") }
        #expect(refused?.code == .limitExceeded)
        try await off.stop()
    }
}
