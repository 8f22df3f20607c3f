import CANedge
import DemoFleet
import Digest
import Foundation
import Glibc
import Locking
import S3
import TestSupport
import Testing

/// Several mounts of one SeaweedFS cluster (scripts/s3-cluster): on separate network hosts
/// editing one config at once with a device on a host of its own, sharing one header index,
/// and eight at once behind a front that throttles.
@Suite(.serialized) struct ScaleOutTests {
  func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

  func status(_ mount: MountedBucket, _ name: String) -> Int? {
    for line in text(mount.file(".edgemount/status")).split(separator: "\n") where line.hasPrefix(name + ": ") {
      return Int(line.dropFirst(name.count + 2))
    }
    return nil
  }

  static func splitSize(_ config: String) -> Int? {
    guard let r = config.range(of: #""split_size": [0-9]+"#, options: .regularExpression) else { return nil }
    return Int(config[r].split(separator: " ").last!)
  }

  /// Writes `bytes` over a file already opened read-write and closes it: the close's result.
  static func writeAndClose(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
    guard ftruncate(fd, 0) == 0, bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
      return errno
    }
    return close(fd) == 0 ? 0 : errno
  }

  /// Three engineers on three hosts, one config, a device on a fourth host, the store on a fifth.
  @Test func threeMountsOnThreeHostsRefuseEveryLostUpdateAndTheDeviceGetsEveryAcceptedConfig() throws {
    let hosts = try NetworkHosts()
    defer { hosts.remove() }
    for host in ["store", "m1", "m2", "m3", "device"] { try hosts.add(host) }
    let cluster = try S3Cluster(on: hosts, host: "store")
    defer { cluster.stop() }
    let s3 = try cluster.client(bucket: "three-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    let id = "5E1A7E05"
    let key = "\(id)/config-01.09.json"
    let sim = try startSimulatedDevice(
      bucket: s3.bucket, device: id, endpoint: cluster.endpoints[1], launcher: hosts.on("device"), duration: 150)
    defer { sim.stop() }
    try waitUntil("the device uploads its config", timeout: 30) { (try? s3.headObject(key: key)) != nil }
    let ttl = 2
    let mounts = try ["m1", "m2", "m3"].map { host in
      try MountedBucket(
        bucket: s3.bucket, endpoint: cluster.endpoints[0],
        options: ["--endpoint", cluster.endpoints[1], "--list-ttl", String(ttl), "--heartbeat-ttl", "1"],
        launcher: hosts.on(host))
    }
    defer { for m in mounts { m.unmount() } }
    #expect(text(mounts[0].file(".edgemount/status")).contains("conditional_put: honoured"))
    let files = mounts.map { $0.file(key) }

    /// Waits until every mount shows `config` and the device reports running it.
    func settle(_ config: String, _ what: String) throws -> Double {
      let start = Date()
      try waitUntil("every mount shows \(what)", timeout: Double(ttl) + 10) { files.allSatisfy { text($0) == config } }
      let seen = Date().timeIntervalSince(start)
      let crc = CRC32.hex(Array(config.utf8))
      try waitUntil("the device runs \(what)", timeout: 30) {
        String(decoding: try s3.getObject(key: "\(id)/device.json"), as: UTF8.self).contains("\"cfg_crc32\": \"\(crc)\"")
      }
      return seen
    }
    var current = String(decoding: try s3.getObject(key: key), as: UTF8.self)
    _ = try settle(current, "the default config")

    // A lost update by the book: m1 and m2 open the config and read it; m1 saves, then m2
    // saves the copy it read. m2's close is refused with EBUSY; m3 sees m1's save within its TTL.
    var longestSeen = 0.0
    for round in 0..<2 {
      let fd1 = open(files[0], O_RDWR)
      let fd2 = open(files[1], O_RDWR)
      #expect(fd1 >= 0 && fd2 >= 0)
      var buffer = [UInt8](repeating: 0, count: 1 << 16)
      #expect(read(fd1, &buffer, buffer.count) > 0 && read(fd2, &buffer, buffer.count) > 0)
      let first = current.replacingOccurrences(
        of: #""split_size": [0-9]+"#, with: "\"split_size\": \(60 + round)", options: .regularExpression)
      let second = current.replacingOccurrences(
        of: #""split_size": [0-9]+"#, with: "\"split_size\": \(70 + round)", options: .regularExpression)
      #expect(Self.writeAndClose(fd1, Array(first.utf8)) == 0)
      let refused = Self.writeAndClose(fd2, Array(second.utf8))
      #expect(refused == EBUSY, "m2's save over m1's got errno \(refused)")
      #expect(text(mounts[1].file(".edgemount/errors")).contains("changed on the server since it was read"))
      #expect(String(decoding: try s3.getObject(key: key), as: UTF8.self) == first)
      current = first
      longestSeen = max(longestSeen, try settle(current, "m1's save \(round)"))
    }

    // All three edit at once with sed -i, from the same version: one save lands, the others
    // are refused with EBUSY and a reason; the server holds a whole, accepted config.
    var refusals = 0
    for round in 0..<3 {
      let results = Locked<[Int: Command.Result]>([:])
      DispatchQueue.concurrentPerform(iterations: 3) { i in
        let r = try? Command.run(["sed", "-i", "-E", "s/\"split_size\": [0-9]+/\"split_size\": \(80 + round * 3 + i)/", files[i]])
        results.withLock { $0[i] = r }
      }
      let all = results.withLock { $0 }
      let landed = all.filter { $0.value.status == 0 }.map(\.key)
      let stored = String(decoding: try s3.getObject(key: key), as: UTF8.self)
      #expect(landed.count >= 1, "\(all.mapValues(\.stderr))")
      #expect(
        landed.contains { Self.splitSize(stored) == 80 + round * 3 + $0 }, "the server holds \(Self.splitSize(stored) ?? -1)")
      for (i, r) in all where r.status != 0 {
        refusals += 1
        #expect(r.stderr.contains("Device or resource busy"), "mount \(i + 1): \(r.stderr)")
        #expect(text(mounts[i].file(".edgemount/errors")).contains("changed on the server since it was read"))
      }
      current = stored
      longestSeen = max(longestSeen, try settle(current, "round \(round)'s save"))
    }
    #expect(longestSeen <= Double(ttl) + 3, "a save took \(longestSeen) s to show on every mount")
    print(
      "three mounts: \(refusals) of 9 concurrent sed saves refused with EBUSY; saves seen everywhere within \(String(format: "%.2f", longestSeen)) s (list TTL \(ttl) s)"
    )
    let changes = mounts.map { text($0.file(".edgemount/changes.csv")) }
    #expect(changes.map { $0.components(separatedBy: ",refused,").count - 1 }.reduce(0, +) == refusals + 2)
  }

  /// Logs of two devices, two sessions each, on one day: 2 × 2 × `splits` headers to read.
  static func seedDay(_ s3: S3Client, splits: Int) throws -> String {
    let dayStart: Int64 = 1_795_132_800  // 2026-11-20T00:00:00Z
    for device in ["AA000001", "AA000002"] {
      for session in 1...2 {
        let start = dayStart + Int64(session) * 4 * 3600
        for split in 1...splits {
          let offset = Double(split - 1) * 60 + 1
          let name = SampleLog.name(split: split, uploaded: start + Int64(offset) + 70)
          try s3.putObject(
            key: "\(device)/0000000\(session)/\(name)", body: try SampleLog.bytes(sessionStart: start, offset: offset))
        }
      }
    }
    return "2026-11-20"
  }

  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aFreshMountListsADayAnotherMountListedWithIndexObjectsOnly() throws {
    let cluster = try S3Cluster()
    defer { cluster.stop() }
    let s3 = try cluster.client(bucket: "shidx-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    let day = try Self.seedDay(s3, splits: 25)
    let options = ["--endpoint", cluster.endpoints[1], "--shared-index"]
    let first = try MountedBucket(bucket: s3.bucket, endpoint: cluster.endpoints[0], options: options)
    defer { first.unmount() }
    let listing = try Command.run(["ls", "-lR", first.file(".by-date/\(day)")])
    #expect(listing.status == 0 && listing.stdout.components(separatedBy: ".MF4").count - 1 == 100, "\(listing.stdout)")
    let readByFirst = status(first, "headers_read") ?? 0
    try waitUntil("the first mount publishes", timeout: 20) {
      status(first, "shared_index_pending") == 0 && status(first, "shared_index_puts") ?? 0 >= 4
    }
    let objects = try s3.listAll(prefix: ".edgemount-index/v1/", delimiter: nil).objects.map(\.key)
    #expect(objects.count == 4, "\(objects)")
    // Outside the device tree: only .raw/ shows the index.
    #expect(try FileManager.default.contentsOfDirectory(atPath: first.path).sorted() == ["AA000001", "AA000002"])
    #expect(try FileManager.default.contentsOfDirectory(atPath: first.file(".raw")).contains(".edgemount-index"))

    let second = try MountedBucket(bucket: s3.bucket, endpoint: cluster.endpoints[1], options: options)
    defer { second.unmount() }
    let gets = status(second, "requests_get") ?? -1
    let again = try Command.run(["ls", "-lR", second.file(".by-date/\(day)")])
    #expect(
      again.stdout.replacingOccurrences(of: second.path, with: "")
        == listing.stdout.replacingOccurrences(of: first.path, with: ""))
    let find = try Command.run(["find", first.file(".by-date/\(day)"), "-type", "f", "-printf", "%P %s\n"])
    let findSecond = try Command.run(["find", second.file(".by-date/\(day)"), "-type", "f", "-printf", "%P %s\n"])
    #expect(find.stdout == findSecond.stdout && !find.stdout.isEmpty)
    #expect(status(second, "headers_read") == 0)
    let indexGets = status(second, "shared_index_gets") ?? -1
    #expect(indexGets == 4)
    #expect((status(second, "requests_get") ?? -1) - gets == indexGets, "GETs other than of index objects")
    #expect(status(second, "shared_index_puts") == 0)
    print(
      "shared index: first mount read \(readByFirst) headers for 100 logs; a fresh mount listed the day with \(indexGets) GETs of index objects and 0 header reads"
    )
    // A read-only mount reads the index and writes nothing.
    let reader = try MountedBucket(bucket: s3.bucket, endpoint: cluster.endpoints[0], options: options + ["--read-only"])
    defer { reader.unmount() }
    #expect(try Command.run(["ls", "-R", reader.file(".by-date/\(day)")]).status == 0)
    #expect(status(reader, "headers_read") == 0 && status(reader, "requests_put") == 0)
  }

  /// Eight mounts rsync eight devices at once while the front answers 503 SlowDown to 30 % of
  /// requests: every byte arrives, no operation fails, and the mounts show their retries.
  @Test func eightMountsRsyncThroughAFrontThatThrottlesThirtyPercent() throws {
    let cluster = try S3Cluster()
    defer { cluster.stop() }
    let s3 = try cluster.client(bucket: "thr-\(UUID().uuidString.prefix(6).lowercased())")
    try s3.createBucket()
    var expected: [String: String] = [:]
    let devices = (1...8).map { String(format: "BB0000%02X", $0) }
    for device in devices {
      for split in 1...12 {
        let bytes = (0..<(256 << 10)).map { _ in UInt8.random(in: 0...255) }
        let key = "\(device)/00000001/\(SampleLog.name(split: split, uploaded: 1_764_000_000 + Int64(split) * 60))"
        try s3.putObject(key: key, body: bytes)
        expected[key] = Digest.hex(Digest.md5(bytes))
      }
    }
    let front = try FaultProxy(port: cluster.portBase + 20, lifetime: 600, upstreamPort: URL(string: cluster.endpoints[0])!.port!)
    defer { front.stop() }
    try front.inject(rate: 0.3, faults: ["503"])
    let mounts = try devices.map { _ in try MountedBucket(bucket: s3.bucket, endpoint: front.endpoint) }
    defer { for m in mounts { m.unmount() } }
    let target = try freshDirectory("throttled")
    let results = Locked<[Int: Command.Result]>([:])
    let start = Date()
    DispatchQueue.concurrentPerform(iterations: 8) { i in
      let r = try? Command.run(["rsync", "-a", mounts[i].file(devices[i]) + "/", "\(target)/\(devices[i])/"])
      results.withLock { $0[i] = r }
    }
    let seconds = Date().timeIntervalSince(start)
    for (i, r) in results.withLock({ $0 }) { #expect(r.status == 0, "mount \(i + 1): \(r.stderr)") }
    var exact = 0
    for (key, md5) in expected {
      let local = target + "/" + key.split(separator: "/").dropFirst().joined(separator: "/")
      let bytes = FileManager.default.contents(atPath: target + "/" + key) ?? FileManager.default.contents(atPath: local)
      if let bytes, Digest.hex(Digest.md5([UInt8](bytes))) == md5 { exact += 1 }
    }
    #expect(exact == expected.count, "\(exact) of \(expected.count) logs exact")
    let retried = mounts.map { status($0, "requests_retried") ?? 0 }
    let failed = mounts.map { status($0, "requests_failed") ?? -1 }
    #expect(failed.allSatisfy { $0 == 0 }, "requests_failed per mount: \(failed)")
    #expect(retried.allSatisfy { $0 > 0 }, "requests_retried per mount: \(retried)")
    Thread.sleep(forTimeInterval: 0.6)
    let counts = front.counts()
    let throttled = counts["503"] ?? 0
    let total = throttled + (counts["ok"] ?? 0)
    #expect(total > 0 && Double(throttled) / Double(total) > 0.2, "\(counts)")
    print(
      "throttling: 8 mounts rsynced 96 logs (24 MiB) in \(String(format: "%.1f", seconds)) s; the front answered 503 to \(throttled) of \(total) requests; retries per mount \(retried); 0 failures"
    )
  }
}
