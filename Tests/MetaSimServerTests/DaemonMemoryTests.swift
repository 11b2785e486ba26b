import Foundation
import MetaSimClient
import MetaSimProtocol
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's frame buffers grown for a large message go back to their usual size (issue 27:
/// after two 16 MiB pings each idle connection kept 32 MB). The buffers themselves:
/// MetaSimProtocolTests' FrameBufferTests.
@Suite("Frame buffers shrink back in the daemon")
struct DaemonMemoryTests {
    /// The daemon's resident memory in bytes (VmRSS).
    static func residentBytes(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return (Int(fields[1]) ?? 0) * 1024
        }
        return 0
    }

    /// Under AddressSanitizer (`make leaks`) freed memory sits in its quarantine: RSS says nothing.
    static let sanitized = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

    @Test("metasimd: idle connections after two 16 MiB pings each do not keep 32 MB", .enabled(if: !sanitized))
    func daemonIdleConnectionsAfterLargePings() async throws {
        let socket = temporarySocketPath()
        let daemon = try DaemonProcess(socket: socket)
        defer { daemon.process.terminate() }
        let first = try await daemon.waitUntilServing()
        let pid = daemon.process.processIdentifier
        let connections = 6
        var clients = [first]
        for _ in 1..<connections { clients.append(try MetaSimConnection(socketPath: socket)) }
        _ = try first.status()
        let before = Self.residentBytes(pid)
        // The largest ping a 16 MiB frame holds, twice on each connection; the connections stay open.
        let payload = [UInt8](repeating: 7, count: (16 << 20) - FrameHeader.size)
        for c in clients {
            for _ in 0..<2 { #expect(try c.ping(payload).count == payload.count) }
        }
        // Let every connection thread finish its flush.
        for c in clients { _ = try c.status() }
        let after = Self.residentBytes(pid)
        let grownMB = Double(after - before) / 1e6
        // Without shrinking, each connection keeps a 32 MiB reader and writer (touched: ~32 MB):
        // about 200 MB for 6. Allow 8 MB a connection for the allocator's caches.
        #expect(grownMB < 8 * Double(connections), "RSS grew by \(grownMB) MB over \(connections) idle connections")
        withExtendedLifetime(clients) {}
    }
}

@Suite("Memory goes back to the system after closes")
struct MemoryReclaimTests {
    @Test("metasimd: RSS falls back once large sessions and their connection have closed", .enabled(if: !DaemonMemoryTests.sanitized))
    func daemonReturnsMemoryOfClosedSessions() async throws {
        let socket = temporarySocketPath()
        let daemon = try DaemonProcess(socket: socket)
        defer { daemon.process.terminate() }
        let first = try await daemon.waitUntilServing()
        let pid = daemon.process.processIdentifier
        _ = try first.status()
        let before = DaemonMemoryTests.residentBytes(pid)
        var peak = 0
        // Several rounds of large sessions (about 40 MB of worlds each) opened, stepped and
        // closed on connections of their own: what open/close churn does to the heap.
        for round in 0..<3 {
            let c = try MetaSimConnection(socketPath: socket)
            var sessions: [RemoteSession] = []
            for k in 0..<2 {
                let s = try c.open(OpenRequest(world: "bipedal-walker", batch: 256, seed: UInt64(round * 2 + k)))
                let actions = [Float](repeating: 0.3, count: 256 * 4)
                for _ in 0..<20 { try s.step(actions) }
                sessions.append(s)
            }
            peak = max(peak, DaemonMemoryTests.residentBytes(pid))
            for s in sessions { try s.close() }
        }
        _ = try first.status()
        #expect(Double(peak - before) / 1e6 > 40, "the sessions were too small to test anything")
        // The trim comes a second after the last close: wait for it (generously).
        var after = DaemonMemoryTests.residentBytes(pid)
        let deadline = Date().addingTimeInterval(10)
        while Double(after - before) / 1e6 > 20, Date() < deadline {
            try await _Concurrency.Task.sleep(for: .milliseconds(200))
            after = DaemonMemoryTests.residentBytes(pid)
        }
        #expect(Double(after - before) / 1e6 < 20,
                "RSS \(before / 1_000_000) MB before, \(peak / 1_000_000) MB at the peak, \(after / 1_000_000) MB 10 s after the closes")
        withExtendedLifetime(first) {}
    }
}
