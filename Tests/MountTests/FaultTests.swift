import CANedge
import Foundation
import Glibc
import S3
import TestSupport
import Testing

/// Faults, outages and hostile input, injected for real: the right bytes or an error, never
/// wrong bytes; no hang; no partial object; no secret anywhere.
@Suite(.serialized) struct FaultTests {
  func client(via proxy: FaultProxy, bucket: String) throws -> S3Client {
    S3Client(
      bucket: bucket, endpoint: try S3Endpoint(url: proxy.endpoint, region: "us-east-1"), credentials: try TestS3.credentials,
      transport: CurlTransport(),
      retryPolicy: RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(5), maxDelay: .milliseconds(50)))
  }

  @Test func aThousandRangedGetsUnderTenPercentFaultsNeverReturnWrongBytes() throws {
    let s3 = try TestS3.freshBucket("faultget")
    let body = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
    try s3.putObject(key: "obj", body: body)
    let proxy = try FaultProxy(port: 18_981)
    defer { proxy.stop() }
    try proxy.inject(rate: 0.1, faults: ["503", "500", "reset", "short", "badlength"])
    let faulty = try client(via: proxy, bucket: s3.bucket)
    var rng = SystemRandomNumberGenerator()
    var right = 0
    var failed = 0
    var wrong = 0
    for _ in 0..<1000 {
      let start = UInt64.random(in: 0..<UInt64(body.count - 70_000), using: &rng)
      let range = start..<start + UInt64.random(in: 1...65_536, using: &rng)
      do {
        let got = try faulty.getObject(key: "obj", range: range)
        if got == Array(body[Int(range.lowerBound)..<Int(range.upperBound)]) { right += 1 } else { wrong += 1 }
      } catch {
        failed += 1
      }
    }
    #expect(wrong == 0)
    #expect(right + failed == 1000)
    #expect(faulty.counters.snapshot.retries > 50, "faults were injected and retried")
    print("fault run: \(right) right, \(failed) failed, \(wrong) wrong, \(faulty.counters.snapshot.retries) retries")
  }

  // SEMANTICS.md § Reading
  @Test func aThousandReadsThroughTheMountUnderFaultsAreRightOrEIO() throws {
    let s3 = try TestS3.freshBucket("faultmount")
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    // Twice the memory block cache, so reads keep going to S3 through the faults.
    let size = 96 << 20
    let body = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 9) }
    try s3.putObject(key: key, body: body)
    let proxy = try FaultProxy(port: 18_982)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: proxy.endpoint)
    defer { mount.unmount() }
    try proxy.inject(rate: 0.1, faults: ["503", "500", "reset", "short", "badlength", "stall"], stallSeconds: 0.5)
    var wrong = 0
    var eio = 0
    var buffer = [UInt8](repeating: 0, count: 4096)
    var rng = SystemRandomNumberGenerator()
    for i in 0..<1000 {
      // A fresh descriptor now and then, and the page cache dropped, so reads reach the daemon.
      if i % 100 == 0 { _ = try Command.shell("echo 1 > /proc/sys/vm/drop_caches") }
      let fd = open(mount.file(key), O_RDONLY)
      #expect(fd >= 0)
      let offset = Int.random(in: 0..<(size - 4096), using: &rng)
      let n = pread(fd, &buffer, 4096, off_t(offset))
      if n < 0 {
        #expect(errno == EIO)
        eio += 1
      } else if Array(buffer[0..<n]) != Array(body[offset..<offset + 4096]) {
        wrong += 1
      }
      close(fd)
    }
    #expect(wrong == 0)
    let gets = try mount.counters()["requests_get"]!
    #expect(gets > 100, "the reads reached S3")
    print(
      "mount fault run: 1000 reads, \(eio) EIO, \(wrong) wrong, \(gets) GETs, \(try mount.counters()["requests_retried"]!) retries"
    )
  }

  @Test func aFrozenServerFailsUncachedReadsWithEIOInBoundedTime() throws {
    let s3 = try TestS3.freshBucket("frozen")
    let a = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let b = "A1B2C3D4/00000001/00000002-5E0BE200.MF4"
    try s3.putObject(key: a, body: [UInt8](repeating: 1, count: 200_000))
    try s3.putObject(key: b, body: [UInt8](repeating: 2, count: 200_000))
    let proxy = try FaultProxy(port: 18_985, lifetime: 120)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: proxy.endpoint, options: ["--list-ttl", "1"])
    defer { mount.unmount() }
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(a))).count == 200_000)
    try proxy.set(mode: "frozen")
    Thread.sleep(forTimeInterval: 1.2)
    _ = try Command.shell("echo 3 > /proc/sys/vm/drop_caches")
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(a))).count == 200_000, "cached data stays readable")
    let started = Date()
    let r = try Command.run(["cat", mount.file(b)])
    let seconds = Date().timeIntervalSince(started)
    #expect(r.status != 0 && r.stderr.contains("Input/output error"), "\(r.stderr)")
    #expect(seconds < 75, "EIO after \(seconds) s")
    print("frozen server: uncached read failed with EIO after \(Int(seconds)) s")
    try proxy.set(mode: "normal")
  }

  @Test func anOutageKeepsCachedDataReadableFailsTheRestWithEIOAndRecovers() throws {
    let s3 = try TestS3.freshBucket("outage")
    let a = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let b = "A1B2C3D4/00000001/00000002-5E0BE200.MF4"
    try s3.putObject(key: a, body: [UInt8](repeating: 1, count: 300_000))
    try s3.putObject(key: b, body: [UInt8](repeating: 2, count: 300_000))
    try s3.putObject(key: "A1B2C3D4/config-01.09.json", body: Array("{}".utf8))
    let proxy = try FaultProxy(port: 18_983)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: proxy.endpoint, options: ["--list-ttl", "1"])
    defer { mount.unmount() }
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(a))).count == 300_000)
    try proxy.set(mode: "down")
    _ = try Command.shell("echo 3 > /proc/sys/vm/drop_caches")
    Thread.sleep(forTimeInterval: 1.2)
    // Cached: the data (memory blocks) and the listing (served after its TTL when S3 is down).
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(a))).count == 300_000)
    #expect(try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001")).count == 2)
    // Not cached: EIO after the bounded retries, not a hang.
    let started = Date()
    let r = try Command.run(["cat", mount.file(b)])
    #expect(r.status != 0 && r.stderr.contains("Input/output error"), "\(r.stderr)")
    #expect(Date().timeIntervalSince(started) < 25)
    // A save during the outage fails with EIO and changes nothing.
    let save = try Command.shell(
      "printf '{\"a\": 1}' > /tmp/outage-config.json && cp /tmp/outage-config.json \(mount.file("A1B2C3D4/config-01.09.json"))")
    #expect(save.status != 0)
    try proxy.set(mode: "normal")
    #expect(try s3.getObject(key: "A1B2C3D4/config-01.09.json") == Array("{}".utf8))
    // Back: everything works again without a remount.
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(b))) == Data(repeating: 2, count: 300_000))
  }

  @Test func killDashNineDuringASaveLeavesNoPartialObjectAndARemountWorks() throws {
    let s3 = try TestS3.freshBucket("kill9")
    let config = "A1B2C3D4/config-01.09.json"
    let original = Array("{\"original\": true}".utf8)
    try s3.putObject(key: config, body: original)
    let log = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let body = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    try s3.putObject(key: log, body: body)
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent("k9-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: cache) }
    let proxy = try FaultProxy(port: 18_984, lifetime: 60)
    defer { proxy.stop() }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnt-k9-\(UUID().uuidString.prefix(6))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let daemon = try BackgroundProcess([
      MountedBucket.edgemount, s3.bucket, dir, "--endpoint", proxy.endpoint, "--foreground", "--cache-dir", cache,
    ])
    waitForMount(dir)
    #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + log)) == Data(body))
    // The save hangs in its PUT (S3 frozen); the daemon is killed meanwhile.
    try proxy.set(mode: "frozen")
    let local = FileManager.default.temporaryDirectory.appendingPathComponent("k9-new.json").path
    try "{\"new\": true}".write(toFile: local, atomically: true, encoding: .utf8)
    let saver = try BackgroundProcess(["/bin/cp", local, dir + "/" + config])
    Thread.sleep(forTimeInterval: 1)
    kill(daemon.pid, SIGKILL)
    daemon.stop()
    saver.stop()
    try proxy.set(mode: "normal")
    #expect(try s3.getObject(key: config) == original, "a partial or new object reached S3")
    // The dead mount is cleaned up and mounted again; the disk cache is still sound.
    #expect(try Command.run(["umount", "-l", dir]).status == 0)
    let again = try MountedBucket(bucket: s3.bucket, options: ["--cache-dir", cache])
    defer { again.unmount() }
    #expect(try Data(contentsOf: URL(fileURLWithPath: again.file(log))) == Data(body))
    #expect(try again.counters()["requests_get"] == 0, "served from the disk cache")
  }

  @Test func hostileKeysNeitherCrashNorEscapeAndTheRestLists() throws {
    let s3 = try TestS3.freshBucket("hostile")
    let good = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    try s3.putObject(key: good, body: [1])
    let hostile = [
      "A1B2C3D4/00000001/../../../etc/passwd", "A1B2C3D4/./x", "A1B2C3D4//00000002/00000001-5E0BE100.MF4",
      "A1B2C3D4/00000001/" + String(repeating: "n", count: 300), "A1B2C3D4/00000001/ctl\u{01}\u{1b}[31m.MF4",
      "A1B2C3D4/00000001/newline\nname", "A1B2C3D4/\u{feff}BOM", "A1B2C3D4/00000001/a%2Fb", "../escape",
      "A1B2C3D4/00000001/caf\u{e9}", "A1B2C3D4/00000001/cafe\u{301}", "A1B2C3D4/00000001/a+b", "A1B2C3D4/00000001/a b",
    ]
    for key in hostile { _ = try? s3.putObject(key: key, body: [9]) }
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    let found = try Command.run(["find", mount.path, "-path", "*/.edgemount", "-prune", "-o", "-print"])
    #expect(found.status == 0, "\(found.stderr)")
    #expect(found.stdout.contains("00000001-5E0BE100.MF4"))
    for line in found.stdout.split(separator: "\n") { #expect(line.hasPrefix(mount.path), "escaped: \(line)") }
    #expect(try Data(contentsOf: URL(fileURLWithPath: mount.file(good))) == Data([1]))
    // Names that look alike stay apart: NFC and NFD forms, "+" and " ".
    let session = try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001"))
    for name in ["caf\u{e9}", "cafe\u{301}", "a+b", "a b"] {
      #expect(session.contains { Array($0.utf8) == Array(name.utf8) }, "\(name.unicodeScalars.map(\.value))")
    }
    let raw = try Command.run(["find", mount.file(".raw")])
    #expect(raw.status == 0)
  }

  @Test func secretsAppearNowhere() throws {
    let s3 = try TestS3.freshBucket("secrets")
    try s3.putObject(key: "A1B2C3D4/config-01.09.json", body: Array("{}".utf8))
    let secret = try TestS3.credentials.secretAccessKey
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mnt-sec-\(UUID().uuidString.prefix(6))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let daemon = try BackgroundProcess([
      MountedBucket.edgemount, s3.bucket, dir, "--endpoint", try TestS3.endpointURL, "--foreground", "--log-level", "trace",
    ])
    defer {
      daemon.stop()
      _ = try? Command.run(["umount", "-l", dir])
    }
    waitForMount(dir)
    _ = try Command.run(["ls", "-lR", dir])
    _ = try Command.shell("echo 'not json' > \(dir)/A1B2C3D4/config-01.09.json; cat \(dir)/A1B2C3D4/nope.MF4")
    let ps = try Command.run(["ps", "-eo", "args"]).stdout
    var seen = daemon.output + ps
    for file in ["status", "errors", "duplicates", "devices.csv"] {
      seen += (try? String(contentsOfFile: "\(dir)/.edgemount/\(file)", encoding: .utf8)) ?? ""
    }
    #expect(seen.contains("rejected"), "the log and errors were read")
    #expect(!seen.contains(secret))
  }
}
