// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "metasim",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "metasim", targets: ["MetaSimCLI"]),
        .library(name: "MetaSimCore", targets: ["MetaSimCore"]),
        .library(name: "MetaSimYAML", targets: ["MetaSimYAML"]),
        .library(name: "MetaLearning", targets: ["MetaLearning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        .target(
            name: "MetaSimCore",
            dependencies: [
                "CMetaSimPhysics",
                "MetaSimYAML",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "MetaLearning",
            dependencies: [
                "MetaSimCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "MetaSimCLI",
            dependencies: [
                "MetaSimCore",
                "MetaLearning",
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
            dependencies: ["MetaSimCore", "MetaSimYAML"],
            resources: [.copy("Malformed")]
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
