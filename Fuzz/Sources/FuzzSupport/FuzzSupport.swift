// What every fuzz target shares: its `main`.
//
// Built with -DFUZZING -sanitize=fuzzer (Fuzz/fuzz.sh, `make fuzz`), `main` hands the target's
// test function to libFuzzer's driver (LLVMFuzzerRunDriver, in the runtime -sanitize=fuzzer links;
// SwiftPM gives an executable its own `main`, so libFuzzer's is not used), which reads the usual
// libFuzzer flags and corpus folders from the command line.
//
// In a plain build (`swift build`), `main` replays the files and folders it is given through the
// same test function, once each: `make fuzz-smoke` runs the committed corpus and regressions
// this way, in seconds and without an instrumented build. See docs/fuzzing.md.
import Foundation

/// A target's test: one input, its return value ignored (libFuzzer's LLVMFuzzerTestOneInput).
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>, Int) -> Int32

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ test: FuzzTest) -> Int32
#endif

/// Runs libFuzzer on `test` (a fuzzing build) or replays the inputs named on the command line.
public func fuzzMain(_ test: FuzzTest) -> Never {
#if FUZZING
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
#else
    exit(replay(Array(CommandLine.arguments.dropFirst()), test))
#endif
}

/// Runs `test` once on each file named, and on each file of each folder named (sorted). A crash
/// stops the process (the file being run is printed first); 0 when all ran, 2 on a bad argument.
public func replay(_ arguments: [String], _ test: FuzzTest) -> Int32 {
    guard !arguments.isEmpty else {
        print("usage: \(CommandLine.arguments[0]) FILE_OR_FOLDER... (replays inputs; `make fuzz` builds the libFuzzer target)")
        return 2
    }
    let files = FileManager.default
    var count = 0
    for argument in arguments {
        var isFolder: ObjCBool = false
        guard files.fileExists(atPath: argument, isDirectory: &isFolder) else {
            print("no such file or folder: \(argument)")
            return 2
        }
        let paths = isFolder.boolValue
            ? ((try? files.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { argument + "/" + $0 }
            : [argument]
        for path in paths {
            guard let data = files.contents(atPath: path) else { continue }
            // Unbuffered, so that a crash leaves the name of the input that caused it.
            FileHandle.standardError.write(Data("running \(path)\n".utf8))
            let bytes = [UInt8](data)
            _ = bytes.withUnsafeBufferPointer { p in
                // A valid pointer even for an empty input, as libFuzzer gives.
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(1, p.count)) { buffer in
                    if p.count > 0 { _ = buffer.initialize(fromContentsOf: p) }
                    return test(UnsafePointer(buffer.baseAddress!), p.count)
                }
            }
            count += 1
        }
    }
    print("replayed \(count) inputs: no crash")
    return 0
}
