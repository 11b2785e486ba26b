import Foundation

/// Where the test suites find the package's files and its built products.
public enum TestPaths {
    /// The package root: this file is `<root>/Tests/MetaSimTestSupport/TestPaths.swift`.
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // MetaSimTestSupport
        .deletingLastPathComponent()   // Tests
        .deletingLastPathComponent()   // package root

    /// The catalog folder `<root>/worlds`.
    public static var worldsRoot: String { packageRoot.appendingPathComponent("worlds").path }

    /// A fresh temporary folder (the caller removes it, e.g. in a `defer`).
    public static func temporaryFolder() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metasim-test-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The executable `name` (e.g. `metasim`) next to the running test bundle: SwiftPM puts both
    /// in the build products folder. Nil when it was not built.
    public static func builtProduct(_ name: String) -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }
}
