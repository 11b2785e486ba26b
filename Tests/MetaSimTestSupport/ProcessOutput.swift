import Foundation

/// A command-line tool run to its end: its exit status, standard output and standard error.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// Runs `executable` with `arguments` and waits for it. Standard error must stay small (a few
    /// lines, far below a pipe's buffer): standard output is read to its end first, which then
    /// cannot leave the process blocked writing to standard error.
    public static func run(_ executable: String, _ arguments: [String]) throws -> ProcessOutput {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return ProcessOutput(status: p.terminationStatus, stdout: stdout, stderr: stderr)
    }
}
