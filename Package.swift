// swift-tools-version:6.2
import PackageDescription

/// One set of settings for every target: Swift 6 mode plus the upcoming features
/// hummingbird-auth builds with.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "SecureNotes",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NotesModels", targets: ["NotesModels"]),
        .library(name: "NotesServer", targets: ["NotesServer"]),
        .library(name: "NotesClient", targets: ["NotesClient"]),
        .executable(name: "notes-server", targets: ["notes-server"]),
        .executable(name: "notes", targets: ["notes"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // postgres-nio's TLS (sslmode=prefer|require) is configured with NIOSSL's types.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // jwt-kit 5.8 already depends on swift-crypto 4.x; naming it here lets the server hash
        // refresh tokens, sign cursors and generate RSA keys with it (Crypto, CryptoExtras).
        .package(url: "https://github.com/apple/swift-crypto", "4.1.0"..<"5.0.0"),
        // Metrics: the swift-metrics API, exported in the Prometheus text format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // base64url for tokens, cursors and JWKs without Foundation's string replacing.
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
    ],
    targets: [
        .target(
            name: "NotesModels",
            path: "Shared",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NotesServer",
            dependencies: [
                "NotesModels",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            resources: [.copy("Resources/openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "notes-server",
            dependencies: [
                "NotesServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CReadline",
            // No pkgConfig: readline.pc adds -D_DEFAULT_SOURCE/-D_XOPEN_SOURCE, which SwiftPM
            // refuses with a warning; the headers are in the default include path anyway.
            providers: [.apt(["libreadline-dev"])]
        ),
        .target(
            name: "NotesClient",
            dependencies: [
                "NotesModels",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                // --cacert: AsyncHTTPClient's TLS configuration takes NIOSSL's certificate types.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "notes",
            dependencies: [
                "NotesClient",
                "NotesModels",
                "CReadline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // libFuzzer targets (Fuzz/README.md): built with `--sanitize fuzzer -DFUZZING` by
        // scripts/fuzz.sh; every other build makes a replayer of the same inputs.
        .executableTarget(
            name: "notes-fuzz",
            dependencies: [
                "NotesServer",
                "NotesClient",
                "NotesModels",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Fuzz/Targets",
            swiftSettings: swiftSettings
        ),
        // What every test target shares (DESIGN.md rule 18): processes, deadlines and polling,
        // the test clock, temporary folders, resources released on every path.
        .target(
            name: "TestSupport",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client")
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotesServerTests",
            dependencies: [
                "TestSupport",
                "NotesServer",
                "NotesModels",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // The cluster tests' load generator.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NotesClientTests",
            dependencies: [
                "TestSupport",
                "NotesClient",
                "NotesServer",
                "NotesModels",
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "TestSupport",
                "NotesModels",
                "NotesServer",
                "notes",
                "notes-server",
                "notes-fuzz",
                // Small hostile or TLS servers that the built `notes` is pointed at.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
