// swift-tools-version:6.1
import PackageDescription

let package = Package(
  name: "EdgeMount",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "edgemount", targets: ["edgemount"]),
    .executable(name: "canedge-sim", targets: ["canedge-sim"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    // Counts allocations for Benchmarks/allocations.sh only.
    .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
  ],
  targets: [
    // C libraries, each behind a module map over a small shim header.
    .systemLibrary(
      name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
    .systemLibrary(
      name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
    .systemLibrary(
      name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .systemLibrary(
      name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(
      name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
    .systemLibrary(name: "CFileIO"),

    // A pthread-mutex-guarded value (visible to ThreadSanitizer), shared by the layers.
    .target(name: "Locking"),
    // SHA-256, HMAC, MD5 and SHA-1 from OpenSSL: SigV4, ETags, cache file names.
    .target(name: "Digest", dependencies: ["COpenSSL"]),
    // The S3 client: SigV4, credentials, libcurl transport, XML listings.
    .target(
      name: "S3",
      dependencies: ["CCurl", "Digest", "Locking", .product(name: "Logging", package: "swift-log")]),
    // The CANedge bucket model: keys, devices, sessions, splits, duplicate folding.
    .target(name: "CANedge", dependencies: ["CZlib", "Digest"]),
    // Caches of immutable log data: blocks in memory and on disk (--cache-dir).
    .target(name: "Cache", dependencies: ["CFileIO", "CISAL", "Digest", "Locking"]),
    // Validation of what users upload: JSON, JSON Schema, the device's cross-field rules.
    .target(name: "Validation", dependencies: ["CANedge", "COpenSSL", "Locking"]),
    // The filesystem core: inode table, directory model, attributes, errno mapping.
    .target(
      name: "FileSystem",
      dependencies: [
        "S3", "CANedge", "Validation", "Cache", "Digest", "Locking", .product(name: "Logging", package: "swift-log"),
      ]),
    // The thin libfuse3 low-level adapter over the filesystem core.
    .target(
      name: "FUSE",
      dependencies: ["CFuse", "FileSystem", "Locking", .product(name: "Logging", package: "swift-log")]),
    // Command-line parsing and start-up, shared by the executable and its tests.
    .target(
      name: "EdgeMount",
      dependencies: [
        "S3", "CANedge", "FileSystem", "FUSE", "Cache",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .executableTarget(name: "edgemount", dependencies: ["EdgeMount"]),
    // A generated CANedge fleet (real sample logs plus made-up devices) for the demo and tests.
    .target(name: "DemoFleet", dependencies: ["S3", "CANedge", "Locking"]),
    .executableTarget(
      name: "canedge-sim",
      dependencies: [
        "S3", "CANedge", "DemoFleet", "Validation", "Locking",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // Benchmarks/allocations.sh: allocations per getattr and lookup, on the in-memory S3.
    .executableTarget(
      name: "getattr-allocations",
      dependencies: [
        "FileSystem", "TestSupport", .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
      ],
      path: "Benchmarks/Allocations"),

    .target(name: "TestSupport", dependencies: ["S3", "Digest", "DemoFleet", "Locking"], path: "Tests/TestSupport"),
    .testTarget(name: "S3Tests", dependencies: ["S3", "Digest", "TestSupport"]),
    .testTarget(
      name: "CANedgeTests", dependencies: ["CANedge", "Digest", "TestSupport", "DemoFleet"]),
    .testTarget(name: "CacheTests", dependencies: ["Cache", "CANedge", "CFileIO", "DemoFleet"]),
    .testTarget(name: "ValidationTests", dependencies: ["Validation", "TestSupport", "DemoFleet"]),
    .testTarget(
      name: "FileSystemTests",
      dependencies: [
        "FileSystem", "TestSupport", "Locking", "Validation", "CANedge", "DemoFleet",
        .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(name: "EdgeMountTests", dependencies: ["EdgeMount", "TestSupport"]),
    .testTarget(name: "MountTests", dependencies: ["S3", "Digest", "TestSupport", "DemoFleet", "CANedge", "Locking"]),
  ],
  swiftLanguageModes: [.v6]
)
