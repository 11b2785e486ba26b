// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "metasim",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "metasim", targets: ["MetaSimCLI"]),
        .executable(name: "metasimd", targets: ["MetaSimDaemon"]),
        .library(name: "MetaSimClient", targets: ["MetaSimClient"]),
        .library(name: "MetaSimProtocol", targets: ["MetaSimProtocol"]),
        .library(name: "MetaSimCore", targets: ["MetaSimCore"]),
        .library(name: "MetaSimYAML", targets: ["MetaSimYAML"]),
        .library(name: "MetaLearning", targets: ["MetaLearning"]),
        .library(name: "MetaSimBatch", targets: ["MetaSimBatch"]),
        .library(name: "MetaSimRender", targets: ["MetaSimRender"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The daemon's optional web view and /metrics (MetaSimWeb).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Debian libbox2d-dev (Box2D 2.4.1, C++). Only the C++ shim includes it; Swift never imports it.
        .systemLibrary(name: "CBox2D", pkgConfig: "box2d", providers: [.apt(["libbox2d-dev"])]),
        // Debian libyaml-dev (libyaml 0.2).
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // The C++ shim around Box2D with a pure-C header: opaque handles, flat arrays, one call per step.
        .target(
            name: "CMetaSimPhysics",
            dependencies: ["CBox2D"],
            cxxSettings: [.unsafeFlags(["-O2"])]
        ),
        .target(name: "MetaSimYAML", dependencies: ["CYAML"]),
        // Debian libcairo2-dev (cairo 1.16): the raster frames' 2D drawing.
        .systemLibrary(name: "CCairo", pkgConfig: "cairo", providers: [.apt(["libcairo2-dev"])]),
        // Debian libgif-dev (giflib 5.2): animated GIFs of raster frames.
        .systemLibrary(name: "CGIF", pkgConfig: "libgif", providers: [.apt(["libgif-dev"])]),
        // Raster frames of a world (docs/worlds.md §21): the scene of SVGRenderer drawn with cairo
        // into RGB bytes (the daemon's `render`, `metasim render --png/--gif`), PNG and GIF files.
        .target(name: "MetaSimRender", dependencies: ["MetaSimCore", "CCairo", "CGIF"]),
        .target(
            name: "MetaSimCore",
            dependencies: [
                "CMetaSimPhysics",
                "MetaSimYAML",
            ]
        ),
        // The control protocol v1 (docs/protocol.md): frames, message kinds, JSON metadata and the
        // packed binary layouts. No I/O: the server and the client share it.
        .target(name: "MetaSimProtocol"),
        // The daemon's server: a Unix-domain socket, a thread per connection, sessions, observers, limits.
        .target(
            name: "MetaSimServer",
            dependencies: [
                "MetaSimCore",
                "MetaSimYAML",
                "MetaSimProtocol",
                "MetaLearning",
                "MetaSimRender",
                "CMetaSimIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The daemon's web view and Prometheus metrics over HTTP (docs/operations.md, "Web view and
        // metrics"): reads MetaSimServer's monitor, never changes the simulation.
        .target(
            name: "MetaSimWeb",
            dependencies: [
                "MetaSimServer",
                "MetaSimCore",
                "MetaSimBatch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A blocking client over POSIX sockets, for hot loops and for the CLI and the tests.
        .target(name: "MetaSimClient", dependencies: ["MetaSimProtocol", "CMetaSimIO"]),
        // What a client's wait needs of POSIX that Swift cannot import (ppoll, prctl), and malloc_trim.
        .target(name: "CMetaSimIO"),
        .executableTarget(
            name: "MetaSimDaemon",
            dependencies: [
                "MetaSimServer",
                "MetaSimWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "MetaLearning",
            dependencies: [
                "MetaSimCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Batches (docs/batch.md): specs, plans, the crash-safe parallel runner, journal and merge,
        // the checkpoint policies of batches (adapted or not), and the batch and adaptation plots.
        .target(
            name: "MetaSimBatch",
            dependencies: ["MetaSimCore", "MetaSimYAML", "MetaLearning"]
        ),
        .executableTarget(
            name: "MetaSimCLI",
            dependencies: [
                "MetaSimCore",
                "MetaSimClient",
                "MetaSimProtocol",
                "MetaLearning",
                "MetaSimBatch",
                "MetaSimRender",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "MetaSimYAMLTests", dependencies: ["MetaSimYAML"]),
        .testTarget(
            name: "MetaLearningTests",
            dependencies: ["MetaLearning", "MetaSimCore", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "MetaSimCoreTests",
            // CMetaSimPhysics: the shim's own calls (WorldReadyTests).
            dependencies: ["MetaSimCore", "MetaSimYAML", "CMetaSimPhysics", "MetaSimTestSupport"],
            resources: [.copy("Malformed")]
        ),
        .testTarget(name: "MetaSimProtocolTests", dependencies: ["MetaSimProtocol"]),
        // CGIF: the GIF test decodes what GIFEncoder wrote.
        .testTarget(name: "MetaSimRenderTests", dependencies: ["MetaSimRender", "MetaSimCore", "MetaSimTestSupport", "CGIF"]),
        .testTarget(name: "MetaSimClientTests", dependencies: ["MetaSimClient", "MetaSimProtocol"]),
        .testTarget(
            name: "MetaSimBatchTests",
            // MetaSimCLI: the `metasim` binary that the end-to-end tests run (BatchKillTests,
            // BatchCheckpointTests, HostileBatchCheckpointTests, ValidatePrintTests); none imports the module.
            dependencies: ["MetaSimBatch", "MetaSimCore", "MetaLearning", "MetaSimTestSupport", "MetaSimCLI"],
            resources: [.copy("MalformedBatches")]
        ),
        // What the test targets share: the package's folders, temporary folders, the built
        // executables (`metasim`), the `# expect:` lines of malformed corpora. Foundation only.
        .target(name: "MetaSimTestSupport", path: "Tests/MetaSimTestSupport"),
        .testTarget(
            name: "MetaSimServerTests",
            dependencies: [
                "MetaSimServer", "MetaSimClient", "MetaSimProtocol", "MetaSimCore", "MetaLearning", "MetaSimRender",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MetaSimWebTests",
            // MetaSimDaemon: the `metasimd` binary the HTTP tests run (none imports the module).
            dependencies: [
                "MetaSimWeb", "MetaSimServer", "MetaSimClient", "MetaSimProtocol", "MetaSimTestSupport", "MetaSimDaemon",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // libFuzzer targets (docs/fuzzing.md): stubs unless built with -DFUZZING -sanitize=fuzzer (`make fuzz`).
        .target(name: "FuzzSupport", path: "Fuzz/Sources/FuzzSupport"),
        .executableTarget(name: "FuzzProtocol", dependencies: [
            "FuzzSupport", "MetaSimServer", "MetaSimProtocol", "MetaLearning", .product(name: "Logging", package: "swift-log"),
        ], path: "Fuzz/Sources/FuzzProtocol"),
        .executableTarget(name: "FuzzWorld", dependencies: ["FuzzSupport", "MetaSimCore"], path: "Fuzz/Sources/FuzzWorld"),
        .executableTarget(name: "FuzzExpression", dependencies: ["FuzzSupport", "MetaSimCore"], path: "Fuzz/Sources/FuzzExpression"),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["FuzzSupport", "MetaLearning"], path: "Fuzz/Sources/FuzzSafeTensors"),
        .executableTarget(name: "FuzzYAML", dependencies: ["FuzzSupport", "MetaSimYAML"], path: "Fuzz/Sources/FuzzYAML"),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
