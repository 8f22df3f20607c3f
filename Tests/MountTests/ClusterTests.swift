import Digest
import Foundation
import Glibc
import S3
import TestSupport
import Testing

/// Mounts of a SeaweedFS cluster of separate processes (scripts/s3-cluster: a master, three
/// volume servers with every object on two, a filer, two S3 gateways), with gateways and volume
/// servers killed under load.
@Suite(.serialized) struct ClusterTests {
  /// A cluster started for one test and stopped after it.
  struct StartFailed: Error, CustomStringConvertible { var description: String }

  final class Cluster: @unchecked Sendable {
    let dir: String
    let endpoints: [String]
    let script = Fixtures.directory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
      "scripts/s3-cluster"
    ).path

    init() throws {
      dir = try freshDirectory("cluster")
      let r = try Command.run([script, "start", dir])
      guard r.status == 0 else { throw StartFailed(description: "s3-cluster: \(r.stderr)") }
      let env = try String(contentsOfFile: dir + "/env", encoding: .utf8)
      let line = env.split(separator: "\n").first { $0.contains("EDGEMOUNT_CLUSTER_ENDPOINTS=") } ?? ""
      endpoints = line.split(separator: "=", maxSplits: 1).last.map { $0.split(separator: ",").map(String.init) } ?? []
    }

    func kill(_ name: String) throws { _ = try Command.run([script, "kill", dir, name]) }
    func restart(_ name: String) throws { _ = try Command.run([script, "restart", dir, name]) }
    func stop() { _ = try? Command.run([script, "stop", dir]) }
    deinit { stop() }

    func client(bucket: String, endpoint: Int = 0) throws -> S3Client {
      S3Client(
        bucket: bucket, endpoint: try S3Endpoint(url: endpoints[endpoint], region: "us-east-1"),
        credentials: try TestS3.credentials, transport: CurlTransport())
    }
  }

  func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

  /// A device with a config and one log of `megabytes` random MiB; returns the log's MD5.
  func seed(_ s3: S3Client, megabytes: Int) throws -> String {
    _ = try seedCANedge2Device(s3, id: "A1B2C3D4")
    let local = try freshDirectory("clusterlog") + "/log.MF4"
    _ = try Command.shell("head -c \(megabytes << 20) /dev/urandom > \(local)")
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: local)))
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: bytes)
    return Digest.hex(Digest.md5(bytes))
  }

  /// md5sum of a file through the mount, in the background; `during` runs while it reads.
  func md5(_ path: String, during: () throws -> Void) throws -> (String, Double) {
    let start = Date()
    let reader = try BackgroundProcess(["/usr/bin/md5sum", path])
    defer { reader.stop() }
    try during()
    try waitUntil("md5sum ends", timeout: 120) { reader.output.contains(" ") || reader.output.contains("md5sum:") }
    return (String(reader.output.prefix(32)), Date().timeIntervalSince(start))
  }

  /// A fresh bucket on a new cluster with a device and a 256 MiB log (its MD5), mounted
  /// through both gateways.
  func mountedCluster(_ label: String, options: [String] = []) throws -> (Cluster, S3Client, String, MountedBucket) {
    let cluster = try Cluster()
    let s3 = try cluster.client(bucket: "\(label)-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    let expected = try seed(s3, megabytes: 256)
    let mount = try MountedBucket(
      bucket: s3.bucket, endpoint: cluster.endpoints[0], options: ["--endpoint", cluster.endpoints[1]] + options)
    return (cluster, s3, expected, mount)
  }

  static let log = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"

  @Test func aGatewayKilledDuringAReadAndASaveLosesNothingWithTwoEndpoints() throws {
    let (cluster, s3, expected, mount) = try mountedCluster("cgw", options: ["--list-ttl", "1", "--heartbeat-ttl", "1"])
    defer {
      mount.unmount()
      cluster.stop()
    }
    let (sum, _) = try md5(mount.file(Self.log)) {
      Thread.sleep(forTimeInterval: 0.3)
      try cluster.kill("s3a")
    }
    #expect(sum == expected, "read through a killed gateway: \(sum)")
    // A save goes through the other gateway, timed.
    let start = Date()
    let r = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 77/", mount.file("A1B2C3D4/config-01.09.json")])
    let seconds = Date().timeIntervalSince(start)
    #expect(r.status == 0, "\(r.stderr)")
    let other = try cluster.client(bucket: s3.bucket, endpoint: 1)
    #expect(
      String(decoding: try other.getObject(key: "A1B2C3D4/config-01.09.json"), as: UTF8.self).contains("\"split_size\": 77"))
    #expect(seconds < 10, "the save took \(seconds) s")
    let status = text(mount.file(".edgemount/status"))
    // Left alone (or, on a slow machine whose read outlasted the 5 s back-off, due for a retry):
    // not up until it answers again.
    #expect(
      status.contains("endpoint_1: \(cluster.endpoints[0]) backing_off")
        || status.contains("endpoint_1: \(cluster.endpoints[0]) retry_due"), "\(status)")
    #expect(status.contains("endpoint_2: \(cluster.endpoints[1]) up"), "\(status)")
    print("gateway killed: save through the other gateway took \(String(format: "%.2f", seconds)) s")
    // The first gateway back, its back-off (5 s) over, and the second killed: requests go to
    // the first again.
    try cluster.restart("s3a")
    Thread.sleep(forTimeInterval: 5.5)
    try cluster.kill("s3b")
    #expect(!text(mount.file("A1B2C3D4/device.json")).isEmpty, "a read after the second gateway died")
    let after = text(mount.file(".edgemount/status"))
    #expect(after.contains("endpoint_1: \(cluster.endpoints[0]) up"), "\(after)")
    #expect(after.contains("endpoint_2: \(cluster.endpoints[1]) backing_off"), "\(after)")
  }

  @Test func aVolumeServerKilledDuringAReadGivesExactBytes() throws {
    let (cluster, s3, expected, mount) = try mountedCluster("cvol")
    defer {
      mount.unmount()
      cluster.stop()
    }
    let (sum, seconds) = try md5(mount.file(Self.log)) {
      Thread.sleep(forTimeInterval: 0.3)
      try cluster.kill("volume2")
    }
    #expect(sum == expected, "read with a volume server killed: \(sum)")
    print("volume server killed: 256 MiB read in \(String(format: "%.2f", seconds)) s")
    // A save now either lands whole or fails with an errno; S3 never holds part of it.
    let config = mount.file("A1B2C3D4/config-01.09.json")
    let r = try Command.run(["sed", "-i", "s/\"split_size\": 50/\"split_size\": 78/", config])
    let stored = String(decoding: try s3.getObject(key: "A1B2C3D4/config-01.09.json"), as: UTF8.self)
    if r.status == 0 {
      #expect(stored.contains("\"split_size\": 78"))
    } else {
      #expect(stored.contains("\"split_size\": 50"), "a failed save changed the object")
    }
    #expect((try? JSONSerialization.jsonObject(with: Data(stored.utf8))) != nil, "the stored config is whole JSON")
  }

  @Test func withOneEndpointAKilledGatewayFailsFastAndRecovers() throws {
    let cluster = try Cluster()
    defer { cluster.stop() }
    let s3 = try cluster.client(bucket: "cone-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    _ = try seedCANedge2Device(s3, id: "A1B2C3D4")
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: cluster.endpoints[0], options: ["--heartbeat-ttl", "1"])
    defer { mount.unmount() }
    let heartbeat = mount.file("A1B2C3D4/device.json")
    #expect(!text(heartbeat).isEmpty)
    try cluster.kill("s3a")
    let start = Date()
    let failed = try Command.run(["cat", heartbeat])
    let seconds = Date().timeIntervalSince(start)
    #expect(failed.status != 0, "a read with the only gateway down must fail")
    #expect(seconds < 25, "failing took \(seconds) s")
    try cluster.restart("s3a")
    try waitUntil("the mount recovers by itself", timeout: 30) { !text(heartbeat).isEmpty }
    print("one endpoint: failed in \(String(format: "%.2f", seconds)) s")
  }
}
