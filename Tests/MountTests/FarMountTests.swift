import Foundation
import S3
import TestSupport
import Testing

/// The mount 40 ms from its server, through the benchmark's delay proxy
/// (Benchmarks/delay-proxy.c): the round trip is measured, the read-ahead grows to cover it,
/// and an `rsync -a` of a device across sessions copies every byte with one GET a log.
@Suite(.serialized) struct FarMountTests {
  static let proxyPort = 18_957

  /// Builds the delay proxy and starts it in front of the test server.
  func delayProxy(milliseconds: Int) throws -> BackgroundProcess {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
    let binary = FileManager.default.temporaryDirectory.appendingPathComponent("delay-proxy-\(UUID())").path
    let built = try Command.run(["/usr/bin/cc", "-O2", "-pthread", "-o", binary, root + "/Benchmarks/delay-proxy.c"])
    try #require(built.status == 0, "cc failed: \(built.stderr)")
    let upstream = URL(string: try TestS3.endpointURL)!.port!
    let proxy = try BackgroundProcess([binary, String(Self.proxyPort), String(upstream), String(milliseconds)])
    Thread.sleep(forTimeInterval: 0.3)
    return proxy
  }

  // SEMANTICS.md § Reading
  @Test func fortyMillisecondsAwayACopyOfADeviceReadsAheadAndIsExact() throws {
    let s3 = try TestS3.freshBucket("far")
    var all: [String: [UInt8]] = [:]
    for session in 1...3 {
      for split in 1...20 {
        let key = String(format: "A1B2C3D4/%08d/%08d-%08X.MF4", session, split, 0x5E0B_E100 + session * 100 + split)
        all[key] = (0..<(200_000 + split * 997)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ split &* 13 &+ session) }
      }
    }
    for (key, bytes) in all { try s3.putObject(key: key, body: bytes) }
    let proxy = try delayProxy(milliseconds: 40)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: "http://127.0.0.1:\(Self.proxyPort)")
    defer { mount.unmount() }
    let destination = FileManager.default.temporaryDirectory.appendingPathComponent("far-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: destination) }
    let copy = try Command.run(["rsync", "-a", mount.file("A1B2C3D4") + "/", destination + "/"])
    #expect(copy.status == 0, "\(copy.stderr)")
    var wrong: [String] = []
    for (key, bytes) in all {
      let copied = FileManager.default.contents(atPath: destination + "/" + key.dropFirst("A1B2C3D4/".count))
      if copied.map(Array.init) != bytes { wrong.append(key) }
    }
    #expect(wrong.isEmpty, "copied differently: \(wrong.sorted().prefix(3))")
    let status = try String(contentsOfFile: mount.file(".edgemount/status"), encoding: .utf8)
    func field(_ name: String) -> String? {
      status.split(separator: "\n").first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) }
    }
    let rtt = field("round_trip_ms").flatMap(Double.init) ?? 0
    #expect(rtt >= 39 && rtt < 200, "round_trip_ms: \(rtt)")
    let ahead = field("read_ahead_bytes").flatMap { $0.split(separator: " ").first }.flatMap { Int($0) } ?? 0
    #expect(ahead > 8 << 20, "read_ahead_bytes: \(ahead)")
    // One GET a log, none fetched twice; the listing of the device covers its sessions.
    let counts = try mount.counters()
    #expect(counts["requests_get"] == all.count, "\(counts)")
  }
}
