import Foundation
import MetaSimTestSupport
import Synchronization
import Testing

@testable import MetaSimCore

#if canImport(Glibc)
import Glibc
#endif

/// `AtomicFile`, the one temp+rename writer: unique temporary names, O_EXCL | O_NOFOLLOW.
@Suite("AtomicFile")
struct AtomicFileTests {
    @Test("concurrent writers of one file all succeed; the file is one of theirs; no temporary file is left")
    func concurrentWriters() throws {
        let dir = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/shared.bin"
        let contents = (0..<8).map { k in [UInt8](repeating: UInt8(k), count: 100_000 + k) }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { k in
            for _ in 0..<20 {
                do { try AtomicFile.write(contents[k], to: path) } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        #expect(contents.contains([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["shared.bin"])
    }

    @Test("symlinks planted at the target or the old temporary name are not followed; names are unique and parse")
    func symlinks() throws {
        let dir = TestPaths.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/victim"
        try Data("victim".utf8).write(to: URL(fileURLWithPath: victim))
        #expect(symlink(victim, dir + "/out.txt") == 0)
        #expect(symlink(victim, dir + "/.out.txt.tmp-\(getpid())") == 0)
        try AtomicFile.write("new", to: dir + "/out.txt")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "victim")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/.out.txt.tmp-\(getpid())") == victim)
        var st = stat()
        #expect(lstat(dir + "/out.txt", &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG)
        #expect(try String(contentsOfFile: dir + "/out.txt", encoding: .utf8) == "new")

        let a = AtomicFile.temporaryName(for: "x.csv"), b = AtomicFile.temporaryName(for: "x.csv")
        #expect(a != b && AtomicFile.isTemporary(a) && AtomicFile.temporaryOwner(a) == getpid())
        #expect(AtomicFile.temporaryOwner(".x.csv.tmp-999999") == 999_999)
        #expect(!AtomicFile.isStaleTemporary(a), "this process's own temporary file is not stale")
    }
}
