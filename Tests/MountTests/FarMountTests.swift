import DemoFleet
import Foundation
import Locking
import S3
import TestSupport
import Testing

/// The mount 40 ms from its server, through the benchmark's delay proxy
/// (Benchmarks/delay-proxy.c): the round trip is measured, the read-ahead grows to cover it,
/// and an `rsync -a` of a device across sessions copies every byte with one GET a log.
@Suite(.serialized) struct FarMountTests {
  static let proxyPort = 18_957

  /// The delay proxy in front of the test server.
  func delayProxy(milliseconds: Int) throws -> BackgroundProcess {
    let upstream = URL(string: try TestS3.endpointURL)!.port!
    return try DelayProxy.start(port: Self.proxyPort, upstreamPort: upstream, milliseconds: milliseconds)
  }

  /// Logs of device A1B2C3D4 of a little over `size` bytes each, each different, put in the
  /// bucket; returns them by key.
  func seedLogs(_ s3: S3Client, sessions: Int, splits: Int, size: Int) throws -> [String: [UInt8]] {
    var all: [String: [UInt8]] = [:]
    for session in 1...sessions {
      for split in 1...splits {
        let key = String(format: "A1B2C3D4/%08d/%08d-%08X.MF4", session, split, 0x5E0B_E100 + session * 100 + split)
        all[key] = (0..<(size + split * 997)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ split &* 13 &+ session) }
      }
    }
    for (key, bytes) in all { try s3.putObject(key: key, body: bytes) }
    return all
  }

  // SEMANTICS.md § Reading
  @Test func fortyMillisecondsAwayACopyOfADeviceReadsAheadAndIsExact() throws {
    let s3 = try TestS3.freshBucket("far")
    let all = try seedLogs(s3, sessions: 3, splits: 20, size: 200_000)
    let proxy = try delayProxy(milliseconds: 40)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: "http://127.0.0.1:\(Self.proxyPort)")
    defer { mount.unmount() }
    // Far away the mount opens its connections as it comes up, 16 HEADs at once.
    // (A request is counted when it is sent, a connection when its answer came.)
    try waitUntil("the connections are warm", timeout: 5) {
      let c = try mount.counters()
      return c["requests_head"] == 16 && c["connections_opened"] ?? 0 >= 16
    }
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
    // Far (40 ms, and at least 30): under load the estimate has read 32-37 ms through this
    // proxy, not explained yet (docs/performance.md, session 14).
    #expect(rtt >= 30 && rtt < 200, "round_trip_ms: \(rtt)")
    let ahead = field("read_ahead_bytes").flatMap { $0.split(separator: " ").first }.flatMap { Int($0) } ?? 0
    #expect(ahead > 8 << 20, "read_ahead_bytes: \(ahead)")
    // One GET a log, none fetched twice; the listing of the device covers its sessions.
    let counts = try mount.counters()
    #expect(counts["requests_get"] == all.count, "\(counts)")
  }

  /// Over HTTPS (SeaweedFS's own TLS) 40 ms away the mount sees the round trip as over HTTP.
  /// The start-up's probe PUT measured a first-byte wait of 0 over TLS, so the link looked like
  /// loopback: no read-ahead for the round trip, no warm connections.
  @Test func overHTTPSFortyMillisecondsAwayTheRoundTripIsSeen() throws {
    let s3 = try TestS3.freshBucket("far-tls")
    try s3.putObject(key: "A1B2C3D4/device.json", body: Array("{}".utf8))
    let https = try TestS3.https
    let proxy = try DelayProxy.start(
      port: Self.proxyPort + 3, upstreamPort: URL(string: https.endpoint)!.port!, milliseconds: 40)
    defer { proxy.stop() }
    let mount = try MountedBucket(
      bucket: s3.bucket, endpoint: "https://127.0.0.1:\(Self.proxyPort + 3)", options: ["--ca-file", https.caFile])
    defer { mount.unmount() }
    try waitUntil("the connections are warm", timeout: 5) { try mount.counters()["requests_head"] == 16 }
    let status = try String(contentsOfFile: mount.file(".edgemount/status"), encoding: .utf8)
    let rtt =
      status.split(separator: "\n").first { $0.hasPrefix("round_trip_ms: ") }
      .flatMap { Double($0.dropFirst("round_trip_ms: ".count)) } ?? 0
    // Far (40 ms, and at least 30): under load the estimate has read 32-37 ms through this
    // proxy, not explained yet (docs/performance.md, session 14).
    #expect(rtt >= 30 && rtt < 200, "round_trip_ms: \(rtt)")
  }

  /// 40 ms away, `rsync -a` of a device folder fetches each device file once: the opens of
  /// device.json and the schema take the copies the config's open fetched ahead. Then saves by
  /// the shell's idioms (`cat >`, `sed -i`, `cp` from another filesystem), each read back at
  /// once with `cat`: the copy fetched ahead never hides a save.
  // SEMANTICS.md § Consistency and caching
  @Test func fortyMillisecondsAwayDeviceFilesComeOnceAndSavesReadBackAtOnce() throws {
    let s3 = try TestS3.freshBucket("far-devfiles")
    let config = try seedCANedge2Device(s3)
    let proxy = try delayProxy(milliseconds: 40)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: "http://127.0.0.1:\(Self.proxyPort)")
    defer { mount.unmount() }
    try waitUntil("the connections are warm", timeout: 5) { try mount.counters()["connections_opened"] ?? 0 >= 16 }
    let destination = try freshDirectory("far-devfiles")
    let before = try mount.counters()
    let copy = try Command.run(["rsync", "-a", mount.file("A1B2C3D4") + "/", destination + "/"])
    #expect(copy.status == 0, "\(copy.stderr)")
    for name in ["config-01.09.json", "schema-01.09.json", "device.json"] {
      let copied = FileManager.default.contents(atPath: destination + "/" + name).map(Array.init)
      #expect(copied == (try s3.getObject(key: "A1B2C3D4/" + name)), "\(name) copied differently")
    }
    let after = try mount.counters()
    #expect(after["requests_get"]! - before["requests_get"]! == 3, "\(before) -> \(after)")
    // Saves, each read back right away (within the second a copy fetched ahead is kept).
    let path = mount.file("A1B2C3D4/config-01.09.json")
    let text = String(decoding: config, as: UTF8.self)
    func saved(_ splitSize: Int) -> String {
      text.replacingOccurrences(of: "\"split_size\": 50", with: "\"split_size\": \(splitSize)")
    }
    #expect(text.contains("\"split_size\": 50"))
    let local = try temporaryFile(Array(saved(62).utf8), named: "config-01.09.json")
    let idioms: [(String, [String], Int)] = [
      ("cat >", ["sh", "-c", "cat > '\(path)' <<'EOF'\n\(saved(60))\nEOF"], 60),
      ("sed -i", ["sed", "-i", "s/\"split_size\": 60/\"split_size\": 61/", path], 61),
      ("cp from /tmp", ["cp", local, path], 62),
    ]
    for (idiom, command, size) in idioms {
      _ = try Command.run(["cat", mount.file("A1B2C3D4/device.json")])  // fetches the config ahead
      let requests = try mount.counters()
      let save = try Command.run(command)
      #expect(save.status == 0, "\(idiom): \(save.stderr)")
      let read = try Command.run(["cat", path])
      #expect(read.stdout.contains("\"split_size\": \(size)"), "\(idiom): read back \(read.stdout.prefix(200))")
      let counts = try mount.counters()
      let used = ["requests_get", "requests_head", "requests_put"].map { "\($0.dropFirst(9)) \(counts[$0]! - requests[$0]!)" }
      print("far save by \(idiom), then cat: \(used.joined(separator: ", "))")
    }
  }

  /// Over a link of 40 ms and 50 Mbit/s, the first read of a log never opened (`head -c`) is
  /// answered once its bytes are in, while the rest of the 1 MiB block is still coming (170 ms
  /// more on this link): when head has its bytes, the GET was sent and had not ended. Every
  /// byte is exact, the first read's and a whole read's after it.
  // SEMANTICS.md § Reading
  @Test func overASlowLinkTheFirstBytesOfALogComeBeforeItsBlock() throws {
    let s3 = try TestS3.freshBucket("far-slow")
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let object = (0..<1_500_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
    try s3.putObject(key: key, body: object)
    let upstream = URL(string: try TestS3.endpointURL)!.port!
    let proxy = try DelayProxy.start(port: Self.proxyPort, upstreamPort: upstream, milliseconds: 40, megabits: 50)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: "http://127.0.0.1:\(Self.proxyPort)")
    defer { mount.unmount() }
    try waitUntil("the connections are warm", timeout: 5) { try mount.counters()["connections_opened"] ?? 0 >= 16 }
    _ = try FileManager.default.contentsOfDirectory(atPath: mount.file("A1B2C3D4/00000001"))
    let destination = try freshDirectory("far-slow") + "/head"
    let before = try mount.counters()
    let head = try Command.run(["sh", "-c", "head -c 4096 '\(mount.file(key))' > '\(destination)'"])
    let after = try mount.counters()
    #expect(head.status == 0, "\(head.stderr)")
    #expect(after["requests_get"]! > before["requests_get"]!, "\(before) -> \(after)")
    #expect(after["bytes_downloaded"] == before["bytes_downloaded"], "head waited for the GET's end: \(after)")
    #expect(FileManager.default.contents(atPath: destination).map(Array.init) == Array(object[..<4096]))
    let whole = FileManager.default.contents(atPath: mount.file(key)).map(Array.init)
    #expect(whole == object)
  }

  /// Two mounts of one bucket on one host, 40 ms from the server, each copying the same device
  /// at the same time (two engineers, or two jobs): both copies are exact, neither mount's
  /// requests failed or were retried, and each fetched each log once.
  @Test func fortyMillisecondsAwayTwoMountsCopyTheSameDeviceAtOnce() throws {
    let s3 = try TestS3.freshBucket("far-two")
    let all = try seedLogs(s3, sessions: 2, splits: 15, size: 300_000)
    let proxy = try delayProxy(milliseconds: 40)
    defer { proxy.stop() }
    let mounts = try (0..<2).map { _ in
      try MountedBucket(bucket: s3.bucket, endpoint: "http://127.0.0.1:\(Self.proxyPort)")
    }
    defer { for mount in mounts { mount.unmount() } }
    let destinations = try mounts.map { _ in try freshDirectory("far-two") }
    let copies = Locked<[Int: Command.Result]>([:])
    DispatchQueue.concurrentPerform(iterations: 2) { i in
      let result = try? Command.run(["rsync", "-a", mounts[i].file("A1B2C3D4") + "/", destinations[i] + "/"])
      copies.withLock { $0[i] = result }
    }
    for i in 0..<2 {
      let copy = copies.withLock { $0[i] }
      #expect(copy?.status == 0, "mount \(i): \(copy?.stderr ?? "did not run")")
      var wrong: [String] = []
      for (key, bytes) in all {
        let copied = FileManager.default.contents(atPath: destinations[i] + "/" + key.dropFirst("A1B2C3D4/".count))
        if copied.map(Array.init) != bytes { wrong.append(key) }
      }
      #expect(wrong.isEmpty, "mount \(i) copied differently: \(wrong.sorted().prefix(3))")
      let counts = try mounts[i].counters()
      #expect(counts["requests_failed"] == 0 && counts["requests_retried"] == 0, "mount \(i): \(counts)")
      #expect(counts["requests_get"] == all.count, "mount \(i): \(counts)")
    }
  }

  /// Close to the server no connection is opened ahead: nothing waits for a handshake there.
  @Test func closeByNoConnectionsAreOpenedAhead() throws {
    let s3 = try TestS3.freshBucket("near")
    try s3.putObject(key: "A1B2C3D4/device.json", body: Array("{}".utf8))
    let mount = try MountedBucket(bucket: s3.bucket)
    defer { mount.unmount() }
    Thread.sleep(forTimeInterval: 1)
    let counts = try mount.counters()
    #expect(counts["requests_head"] == 0, "\(counts)")
    #expect(counts["connections_opened"] ?? 99 <= 2, "\(counts)")
  }

  /// `rsync` of a `.by-date/` day 40 ms away: two devices, two sessions each, logs past the
  /// header read's 128 KiB. The day's search and its read-ahead across session folders give
  /// every byte exactly, with one GET a log besides the header reads.
  // SEMANTICS.md § Listing
  @Test func fortyMillisecondsAwayACopyOfADayIsExactWithOneGetALog() throws {
    let s3 = try TestS3.freshBucket("farday")
    let dayStart: Int64 = 1_795_132_800  // 2026-11-20T00:00:00Z
    var all: [String: [UInt8]] = [:]
    for device in ["AA000001", "AA000002"] {
      for session in 1...2 {
        let start = dayStart + Int64(session) * 4 * 3600
        for split in 1...8 {
          let offset = Double(split - 1) * 60 + 1
          let key = "\(device)/0000000\(session)/" + SampleLog.name(split: split, uploaded: start + Int64(offset) + 70)
          all[key] =
            try SampleLog.bytes(sessionStart: start, offset: offset) + Array(repeating: UInt8(split), count: 300_000)
        }
      }
    }
    for (key, bytes) in all { try s3.putObject(key: key, body: bytes) }
    let proxy = try delayProxy(milliseconds: 40)
    defer { proxy.stop() }
    let mount = try MountedBucket(bucket: s3.bucket, endpoint: "http://127.0.0.1:\(Self.proxyPort)")
    defer { mount.unmount() }
    let destination = FileManager.default.temporaryDirectory.appendingPathComponent("farday-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: destination) }
    let copy = try Command.run(["rsync", "-a", mount.file(".by-date/2026-11-20") + "/", destination + "/"])
    #expect(copy.status == 0, "\(copy.stderr)")
    var wrong: [String] = []
    for (key, bytes) in all where FileManager.default.contents(atPath: destination + "/" + key).map(Array.init) != bytes {
      wrong.append(key)
    }
    #expect(wrong.isEmpty, "copied differently: \(wrong.sorted().prefix(3))")
    let counts = try mount.counters()
    let headers =
      try String(contentsOfFile: mount.file(".edgemount/status"), encoding: .utf8)
      .split(separator: "\n").first { $0.hasPrefix("headers_read: ") }.flatMap { Int($0.dropFirst(14)) } ?? -1
    #expect(headers > 0 && headers < all.count, "headers_read: \(headers)")
    #expect(counts["requests_get"] == all.count + headers, "\(counts), headers_read \(headers)")
  }
}
