import Digest
import Foundation
import Glibc
import Locking
import S3
import TestSupport
import Testing

/// Mounts of a SeaweedFS cluster of separate processes (scripts/s3-cluster: a master, three
/// volume servers with every object on two, a filer, two S3 gateways), with gateways and volume
/// servers killed under load.
@Suite(.serialized) struct ClusterTests {
  typealias Cluster = S3Cluster

  func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

  /// A device with a config and one log of `megabytes` random MiB; returns the log's MD5.
  func seed(_ s3: S3Client, megabytes: Int) throws -> String {
    _ = try seedCANedge2Device(s3, id: "A1B2C3D4")
    let folder = try freshDirectory("clusterlog")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let local = folder + "/log.MF4"
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
  func mountedCluster(_ label: String, megabytes: Int = 256, options: [String] = []) throws -> (
    Cluster, S3Client, String, MountedBucket
  ) {
    let cluster = try Cluster()
    let s3 = try cluster.client(bucket: "\(label)-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    let expected = try seed(s3, megabytes: megabytes)
    let mount = try MountedBucket(
      bucket: s3.bucket, endpoint: cluster.endpoints[0], options: ["--endpoint", cluster.endpoints[1]] + options)
    return (cluster, s3, expected, mount)
  }

  static let log = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"

  /// The cluster 40 ms away, each gateway behind a delay proxy of its own: a mount through both
  /// sees the round trip, and the gateway it uses killed during a 128 MiB read loses nothing:
  /// the read goes on through the other, and its bytes are exact.
  @Test func fortyMillisecondsAwayBothGatewaysServeAndOneDyingLosesNothing() throws {
    let cluster = try Cluster()
    defer { cluster.stop() }
    let s3 = try cluster.client(bucket: "cfar-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    let expected = try seed(s3, megabytes: 128)
    let proxies = try cluster.endpoints.enumerated().map { i, endpoint in
      try DelayProxy.start(port: cluster.portBase + 20 + i, upstreamPort: URL(string: endpoint)!.port!, milliseconds: 40)
    }
    defer { for proxy in proxies { proxy.stop() } }
    let far = (0..<2).map { "http://127.0.0.1:\(cluster.portBase + 20 + $0)" }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: far[0], options: ["--endpoint", far[1]])
    defer { mount.unmount() }
    let (sum, seconds) = try md5(mount.file(Self.log)) {
      try waitUntil("the read is under way", timeout: 20) {
        (try mount.counters()["bytes_downloaded"] ?? 0) > 16 << 20
      }
      try cluster.kill("s3a")
    }
    #expect(sum == expected, "the read through a dying gateway gave other bytes")
    // A device file is fetched at each open: through the other gateway now.
    #expect(
      text(mount.file("A1B2C3D4/device.json"))
        == String(
          decoding: try cluster.client(bucket: s3.bucket, endpoint: 1).getObject(key: "A1B2C3D4/device.json"), as: UTF8.self))
    let status = text(mount.file(".edgemount/status"))
    func requests(_ n: Int) -> Int {
      status.split(separator: "\n").first { $0.hasPrefix("endpoint_\(n): ") }
        .flatMap { $0.split(separator: " ").first { $0.hasPrefix("requests=") } }
        .flatMap { Int($0.dropFirst("requests=".count)) } ?? 0
    }
    #expect(requests(1) > 0 && requests(2) > 0, "\(status)")
    #expect(status.contains("endpoint_1: \(far[0]) backing_off") || status.contains("endpoint_1: \(far[0]) retry_due"))
    let rtt =
      status.split(separator: "\n").first { $0.hasPrefix("round_trip_ms: ") }
      .flatMap { Double($0.dropFirst("round_trip_ms: ".count)) } ?? 0
    // Far: the read-ahead was sized for the link (once in a few runs the estimate was 32 ms,
    // not 40: not explained, see docs/performance.md).
    #expect(rtt >= 20 && rtt < 200, "round_trip_ms: \(rtt) in \(status)")
    print(
      "cluster 40 ms away: 128 MiB read in \(String(format: "%.2f", seconds)) s with a gateway killed; requests \(requests(1)) and \(requests(2))"
    )
  }

  @Test func aGatewayKilledDuringAReadAndASaveLosesNothingWithTwoEndpoints() throws {
    let (cluster, s3, expected, mount) = try mountedCluster("cgw", options: ["--list-ttl", "1", "--heartbeat-ttl", "1"])
    defer {
      mount.unmount()
      cluster.stop()
    }
    // Read in 1 MiB calls, each timed, while the gateway in use is killed.
    let killedAt = Locked<Date?>(nil)
    let killer = Thread {
      Thread.sleep(forTimeInterval: 0.1)
      try? cluster.kill("s3a")
      killedAt.withLock { $0 = Date() }
    }
    let fd = open(mount.file(Self.log), O_RDONLY)
    #expect(fd >= 0)
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    var longest = 0.0
    killer.start()
    while true {
      let t = Date()
      let n = read(fd, &chunk, chunk.count)
      longest = max(longest, Date().timeIntervalSince(t))
      guard n > 0 else {
        #expect(n == 0, "read failed: errno \(errno)")
        break
      }
      bytes += chunk[0..<n]
    }
    close(fd)
    let readEnded = Date()
    #expect(killedAt.withLock { $0 }.map { $0 < readEnded } == true, "the gateway was killed after the read ended")
    let sum = Digest.hex(Digest.md5(bytes))
    #expect(sum == expected, "read through a killed gateway: \(sum)")
    // One request timeout: a stalled transfer is cut after 15 s (TransportOptions.lowSpeedTime).
    #expect(longest < 15, "the longest read call took \(longest) s")
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
    print(
      "gateway killed: longest 1 MiB read call \(String(format: "%.2f", longest)) s; the save through the other gateway took \(String(format: "%.2f", seconds)) s"
    )
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

  /// A volume server killed during a 1 GiB read and during a run of config saves: the read's
  /// bytes are exact; each save lands whole or fails with an errno, and the server holds the
  /// last save that landed.
  @Test func aVolumeServerKilledDuringAReadAndSavesLosesNothing() throws {
    let (cluster, s3, expected, mount) = try mountedCluster("cvol", megabytes: 1024)
    defer {
      mount.unmount()
      cluster.stop()
    }
    let config = mount.file("A1B2C3D4/config-01.09.json")
    let saves = Locked<[(value: Int, status: Int32)]>([])
    let saving = Thread {
      for value in 100..<130 {
        let r = try? Command.run(["sed", "-i", "-E", "s/\"split_size\": [0-9]+/\"split_size\": \(value)/", config])
        saves.withLock { $0.append((value, r?.status ?? -1)) }
        Thread.sleep(forTimeInterval: 0.05)
      }
    }
    let (sum, seconds) = try md5(mount.file(Self.log)) {
      saving.start()
      Thread.sleep(forTimeInterval: 0.3)
      try cluster.kill("volume2")
    }
    #expect(sum == expected, "read with a volume server killed: \(sum)")
    try waitUntil("the saves end", timeout: 120) { saves.withLock { $0.count } == 30 }
    let all = saves.withLock { $0 }
    let landed = all.filter { $0.status == 0 }.map(\.value)
    let stored = String(decoding: try s3.getObject(key: "A1B2C3D4/config-01.09.json"), as: UTF8.self)
    #expect((try? JSONSerialization.jsonObject(with: Data(stored.utf8))) != nil, "the stored config is whole JSON")
    #expect(landed.last.map { stored.contains("\"split_size\": \($0)") } ?? stored.contains("\"split_size\": 50"))
    print(
      "volume server killed: 1 GiB read in \(String(format: "%.2f", seconds)) s, md5 exact; \(landed.count) of 30 saves landed, the rest failed with an errno"
    )
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
