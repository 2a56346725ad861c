// swift-tools-version:6.2
import PackageDescription

// A bare Hummingbird 2 server for `make bench` (BENCH_BARE=1): the speed of the framework
// alone, and of the framework plus one JWTKit RS256 verification, measured beside
// notes-server in the same run. Not part of the product, of `make test` or of CI.
let package = Package(
    name: "SecureNotesBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", "4.1.0"..<"5.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "bare-server",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
