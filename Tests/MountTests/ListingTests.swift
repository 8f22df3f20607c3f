import DemoFleet
import Foundation
import S3
import TestSupport
import Testing

/// Listings: completeness through pagination, the list TTL, and what rsync costs.
@Suite(.serialized) struct ListingTests {
  // SEMANTICS.md § Listing
  @Test func sessionWithTwoThousandFiveHundredSplitsListsCompletely() throws {
    let s3 = try TestS3.freshBucket("bigsession")
    let names = (1...2500).map { String(format: "%08d-%08X.MF4", $0, 0x5E0B_E100 + $0) }
    let failures = LockedErrors()
    DispatchQueue.concurrentPerform(iterations: 8) { w in
      for (i, name) in names.enumerated() where i % 8 == w {
        do { try s3.putObject(key: "A1B2C3D4/00000001/\(name)", body: Array(name.utf8)) } catch { failures.add(error) }
      }
    }
    #expect(failures.isEmpty)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let listed = try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001")).sorted()
    #expect(listed == names)
    let lsCount = try Command.shell("ls -l \(mount.file("A1B2C3D4/00000001")) | grep -c MF4").stdout
    #expect(lsCount.trimmingCharacters(in: .whitespacesAndNewlines) == "2500")
    #expect(try mount.counters()["requests_list"]! >= 3)
  }

  @Test func rsyncRerunListsNoChangesAndMakesNoGetOrHead() throws {
    var options = DemoFleet.Options()
    options.generatedDevices = 1
    options.sessionsPerDevice = 4
    options.splitsPerSession = 30
    let seeded = try SeededFleet("rsync", options: options)
    let mount = try MountedBucket(bucket: seeded.bucket)
    defer { mount.unmount() }
    let device = seeded.fleet.devices.last!
    let target = FileManager.default.temporaryDirectory.appendingPathComponent("rsync-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: target) }
    let first = try Command.run(["rsync", "-a", mount.file(device) + "/", target + "/"])
    #expect(first.status == 0, "\(first.stderr)")
    #expect(try Command.run(["diff", "-r", mount.file(device), target]).status == 0)
    let before = try mount.counters()
    let second = try Command.run(["rsync", "-ai", mount.file(device) + "/", target + "/"])
    #expect(second.status == 0)
    #expect(second.stdout.isEmpty, "rsync saw changes: \(second.stdout)")
    let after = try mount.counters()
    #expect(after["requests_get"] == before["requests_get"])
    #expect(after["requests_head"] == before["requests_head"])
  }

  // SEMANTICS.md § Consistency and caching
  @Test func newObjectsAppearAfterTheListTTL() throws {
    let s3 = try TestS3.freshBucket("ttl")
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [1, 2, 3])
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--list-ttl", "2"])
    defer { mount.unmount() }
    let session = mount.file("A1B2C3D4/00000001")
    #expect(try FileManager.default.contentsOfDirectory(atPath: session) == ["00000001-5E0BE100.MF4"])
    try s3.putObject(key: "A1B2C3D4/00000001/00000002-5E0BE200.MF4", body: [4, 5])
    try s3.putObject(key: "B1B2C3D4/00000009/00000001-5E0BE100.MF4", body: [6])
    // Within the TTL the cached listing is served (no request per ls).
    #expect(try FileManager.default.contentsOfDirectory(atPath: session) == ["00000001-5E0BE100.MF4"])
    Thread.sleep(forTimeInterval: 2.5)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: session).sorted() == ["00000001-5E0BE100.MF4", "00000002-5E0BE200.MF4"])
    #expect(FileManager.default.fileExists(atPath: mount.file("B1B2C3D4/00000009/00000001-5E0BE100.MF4")))
    #expect(try Data(contentsOf: URL(fileURLWithPath: session + "/00000002-5E0BE200.MF4")) == Data([4, 5]))
  }
}

final class LockedErrors: @unchecked Sendable {
  private let lock = NSLock()
  private var errors: [any Error] = []
  func add(_ e: any Error) { lock.withLock { errors.append(e) } }
  var isEmpty: Bool { lock.withLock { errors.isEmpty } }
}

/// The disk cache and deleting logs.
@Suite(.serialized) struct CacheAndDeleteTests {
  @Test func theDiskCacheServesARemountWithoutRequests() throws {
    let s3 = try TestS3.freshBucket("diskcache")
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let body = (0..<(3 * 1_048_576 + 12345)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    try s3.putObject(key: key, body: body)
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent("dc-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: cache) }
    var mount = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache, "--cache-size", "64M"])
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(key))) == Data(body))
    mount.unmount()
    mount = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache, "-o", "cache_size=64M"])
    defer { mount.unmount() }
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(key))) == Data(body))
    let counters = try mount.counters()
    #expect(counters["requests_get"] == 0, "\(counters)")
    #expect(counters["cache_disk_hits"]! >= 4, "all four blocks came from disk")
  }

  /// A block the cache's writer had no room for is skipped, never waited for; the next read
  /// fetches exactly the skipped blocks and caches them, and the one after makes no request.
  /// (`--cache-write-queue 0` skips every block, as a cold read faster than the disk skips some.)
  @Test func blocksSkippedByOneReadAreCachedByTheNext() throws {
    let s3 = try TestS3.freshBucket("diskskip")
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let blocks = 12
    let body = (0..<(blocks * 1_048_576 - 777)).map { UInt8(truncatingIfNeeded: ($0 >> 3) &* 31 &+ $0) }
    try s3.putObject(key: key, body: body)
    let cache = try freshDirectory("dskip")
    defer { try? FileManager.default.removeItem(atPath: cache) }
    func read(_ options: [String] = []) throws -> [String: Int] {
      let mount = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache] + options)
      defer { mount.unmount() }
      #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(key))) == Data(body))
      // The queued blocks reach the disk in the background (and at unmount).
      let deadline = Date().addingTimeInterval(20)
      while try mount.counters()["cache_disk_write_queue_bytes"] != 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
      return try mount.counters()
    }
    let skipping = try read(["--cache-write-queue", "0"])
    #expect(skipping["cache_disk_skipped"] == blocks, "\(skipping)")
    #expect(skipping["cache_disk_blocks"] == 0, "\(skipping)")
    let filling = try read()
    #expect(filling["cache_disk_hits"] == 0 && filling["requests_get"]! > 0, "\(filling)")
    #expect(filling["cache_disk_skipped"] == 0 && filling["cache_disk_blocks"] == blocks, "\(filling)")
    let cached = try read(["-o", "cache_write_queue=1M"])
    #expect(cached["requests_get"] == 0 && cached["cache_disk_hits"]! >= blocks, "\(cached)")
  }

  @Test func rmOfALogNeedsAllowDeleteAndThenRemovesEveryCopy() throws {
    let s3 = try TestS3.freshBucket("allowdelete")
    let keep = "A1B2C3D4/00000001/00000002-5E0BE200.MF4"
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [1, 2])
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE1FF.MF4", body: [1, 2])
    try s3.putObject(key: keep, body: [3])
    let plain = try MountedBucket(bucket: s3.bucket)
    #expect(try Command.run(["rm", plain.file("A1B2C3D4/00000001/00000001-5E0BE100.MF4")]).status != 0)
    plain.unmount()
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--allow-delete"])
    defer { mount.unmount() }
    #expect(try Command.run(["rm", mount.file("A1B2C3D4/00000001/00000001-5E0BE100.MF4")]).status == 0)
    #expect(try s3.listAll(prefix: "", delimiter: nil).objects.map(\.key) == [keep])
    #expect(try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001")) == ["00000002-5E0BE200.MF4"])
  }
}

/// What reading costs in S3 requests and bytes, through a real mount.
@Suite(.serialized) struct ReadCostTests {
  @Test func jumpsIntoABigLogFetchJustWhatIsReadAndACopyStreamsIt() throws {
    let s3 = try TestS3.freshBucket("readcost")
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let body = (0..<(6 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 29 &+ $0 >> 10) }
    try s3.putObject(key: key, body: body)
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let before = try mount.counters()
    // An MF4 reader following a link: a few KiB in the middle of the file.
    let piece = try freshDirectory("readcost") + "/piece"
    let dd = try Command.run(["dd", "if=\(mount.file(key))", "of=\(piece)", "bs=4096", "skip=1000", "count=1", "status=none"])
    #expect(dd.status == 0, "\(dd.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: piece)) == Data(body[4_096_000..<4_100_096]))
    let jump = try mount.counters()
    #expect(jump["bytes_downloaded"]! - before["bytes_downloaded"]! < 256 << 10, "\(jump)")
    // A copy streams it: every byte right, in a few big GETs.
    let copy = try freshDirectory("readcost") + "/copy.MF4"
    #expect(try Command.run(["cp", mount.file(key), copy]).status == 0)
    #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == Data(body))
    let after = try mount.counters()
    #expect(after["requests_get"]! - jump["requests_get"]! <= 8, "\(after)")
    #expect(after["inode_table_bytes"]! > 0)
  }
}

/// The listing strategy, proved with request counts.
@Suite(.serialized) struct ListingStrategyTests {
  func put(_ s3: S3Client, _ keys: [String]) {
    DispatchQueue.concurrentPerform(iterations: 16) { w in
      for (i, key) in keys.enumerated() where i % 16 == w { _ = try? s3.putObject(key: key, body: [1]) }
    }
  }

  // SEMANTICS.md § Listing
  @Test func manySmallSessionsAreListedFlatInFewRequests() throws {
    let s3 = try TestS3.freshBucket("flat")
    let keys = (1...60).flatMap { session in
      (1...25).map { String(format: "A1B2C3D4/%08d/%08d-5E0BE100.MF4", session, $0) }
    }
    put(s3, keys + ["A1B2C3D4/device.json"])
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let found = try Command.run(["find", mount.file("A1B2C3D4"), "-type", "f"]).stdout.split(separator: "\n").count
    #expect(found == 1501)
    // 1,501 objects: the start-up check, the root, then 2 flat pages for the device, instead of
    // 1 + 60 session listings.
    #expect(try mount.counters()["requests_list"]! <= 4)
  }

  @Test func fewBigSessionsUseADelimiterListing() throws {
    let s3 = try TestS3.freshBucket("bigsessions")
    let keys = (1...2).flatMap { session in
      (1...1100).map { String(format: "A1B2C3D4/%08d/%08d-5E0BE100.MF4", session, $0) }
    }
    put(s3, keys)
    // Pages of 1,000 (as AWS answers): the first page then cannot hold the device.
    let mount = try MountedBucket(bucket: s3.bucket, options: ["--list-page-size", "1000"])
    defer { mount.unmount() }
    #expect(try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4")).sorted() == ["00000001", "00000002"])
    // start-up check + root + first flat page + the delimiter listing, not a walk through 2,200 keys
    #expect(try mount.counters()["requests_list"]! == 4)
    let found = try Command.run(["find", mount.file("A1B2C3D4"), "-type", "f"]).stdout.split(separator: "\n").count
    #expect(found == 2200)
  }
}
