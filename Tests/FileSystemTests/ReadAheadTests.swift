import Cache
import DemoFleet
import Foundation
import Locking
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// The read-ahead sized to the link's round trip (SEMANTICS.md § Reading): how much it fetches
/// for a round trip, that its memory stays within the documented bound while a walk and a
/// sequential reader run 80 ms from the server, and that every byte is exact under faults.
@Suite struct ReadAheadTests {
  static let mib = 1 << 20

  @Test func theReadAheadCoversTheRoundTripUpToItsLimit() {
    let ahead = ReadAhead()
    #expect(ahead.limit == 128 * Self.mib)
    #expect(ahead.bytes(roundTrip: nil) == ReadAhead.floor)
    #expect(ahead.bytes(roundTrip: .microseconds(400)) == 8 * Self.mib)
    // 20 ms at two gigabytes a second: 40 MiB and a bit (a GiB/s is 1.07 GB/s).
    #expect(ahead.bytes(roundTrip: .milliseconds(20)) == Int(0.02 * Double(2 << 30)))
    #expect(ahead.bytes(roundTrip: .milliseconds(80)) == 128 * Self.mib)
    #expect(ReadAhead(limit: 64 * Self.mib).bytes(roundTrip: .milliseconds(80)) == 64 * Self.mib)
    #expect(ReadAhead(limit: 512 * Self.mib).bytes(roundTrip: .milliseconds(80)) == Int(0.08 * Double(2 << 30)))
    #expect(ReadAhead(limit: 512 * Self.mib).bytes(roundTrip: .seconds(10)) == 512 * Self.mib)
    // On loopback: a window of 16 blocks, the first 2 MiB of each of the next four files.
    #expect(ahead.windowBlocks(bytes: ReadAhead.floor) == 16)
    #expect(ahead.bytesPerFile(bytes: ReadAhead.floor) == 2 * Self.mib)
    #expect(ahead.windowBlocks(bytes: 128 * Self.mib) == 128)
    #expect(ahead.bytesPerFile(bytes: 128 * Self.mib) == 32 * Self.mib)
  }

  @Test func theRoundTripIsTheLeastRecentWait() {
    let estimate = RoundTripEstimate()
    #expect(estimate.current == nil)
    for ms in [95, 80, 300, 81] { estimate.record(.milliseconds(ms)) }
    #expect(estimate.current == .milliseconds(80))
    // A link that got slower is seen once a window of answers has gone by.
    for _ in 0..<RoundTripEstimate.windowSize { estimate.record(.milliseconds(120)) }
    #expect(estimate.current == .milliseconds(120))
  }

  func body(_ size: Int, seed: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: size)
    bytes.withUnsafeMutableBufferPointer { b in
      for i in 0..<size { b[i] = UInt8(truncatingIfNeeded: i &* 131 &+ seed &* 7) }
    }
    return bytes
  }

  /// Three sessions of 40 logs of about 1 MiB and a session with one 40 MiB log.
  func seed(_ server: InMemoryS3) -> [String: [UInt8]] {
    var objects: [String: [UInt8]] = [:]
    for session in 1...3 {
      for split in 1...40 {
        let key = String(format: "A1B2C3D4/%08d/%08d-%08X.MF4", session, split, 0x5E0B_E100 + session * 100 + split)
        objects[key] = body(Self.mib - split * 512, seed: session * 1000 + split)
      }
    }
    objects[String(format: "A1B2C3D4/%08d/00000001-5E0BF000.MF4", 4)] = body(40 * Self.mib + 12345, seed: 4)
    for (key, bytes) in objects { server.put("fleet", key, bytes) }
    return objects
  }

  /// Reads every log of every session in order, as `cp -r` and `rsync` do (open, read through in
  /// 1 MiB reads, close), then the big log; returns the logs that read differently.
  /// `pause`: seconds each read waits after it returns (a reader slower than the link, as `cp`
  /// writing to a disk).
  func walk(_ fs: FleetFileSystem, _ objects: [String: [UInt8]], pause: TimeInterval = 0, count: Int = mib) throws
    -> [String]
  {
    var wrong: [String] = []
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4")
    for key in objects.keys.sorted() {
      let parts = key.split(separator: "/").map(String.init)
      let session = try fs.lookup(parent: device.ino, name: parts[1])
      let log = try fs.lookup(parent: session.ino, name: parts[2])
      let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
      defer { fs.release(handle: opened.handle) }
      var got: [UInt8] = []
      while true {
        let chunk = try fs.read(handle: opened.handle, offset: UInt64(got.count), count: count).bytes
        if chunk.isEmpty { break }
        got += chunk
        if pause > 0 { Thread.sleep(forTimeInterval: pause) }
      }
      if got != objects[key] { wrong.append(key) }
    }
    return wrong
  }

  // SEMANTICS.md § Reading
  @Test func eightyMillisecondsAwayTheReadAheadRunsInParallelWithinItsMemoryBound() throws {
    let server = InMemoryS3()
    let objects = seed(server)
    server.roundTrip.withLock { $0 = 0.08 }
    let settings = MountSettings()
    let fs = FleetFileSystem(
      s3: server.client(bucket: "fleet"), settings: settings,
      logger: Logger(label: "read-ahead") { _ in SwiftLogNoOpLogHandler() })
    // Sampled through the walk: blocks in memory plus the bytes of prefetch GETs under way.
    let peak = Locked(0)
    let done = Locked(false)
    let sampler = Thread {
      while !done.withLock({ $0 }) {
        let used = fs.fetcher.memory.usedBytes + fs.fetcher.prefetchingBytes + fs.fetcher.demandBytes
        peak.withLock { $0 = max($0, used) }
        Thread.sleep(forTimeInterval: 0.002)
      }
    }
    sampler.start()
    // In the kernel's 128 KiB reads: a read of a block's start may send its GET to the demand lane.
    let wrong = try walk(fs, objects, count: 128 << 10)
    done.withLock { $0 = true }
    #expect(wrong.isEmpty, "read differently: \(wrong.prefix(3))")
    let ahead = fs.fetcher.aheadBytes()
    #expect(ahead == settings.readAheadLimit, "80 ms away the read-ahead is its limit")
    // The bound of SEMANTICS.md: the memory cache (24 MiB plus the read-ahead), the prefetch
    // GETs under way (the read-ahead plus one GET of 8 blocks) and the demand lane's (4 blocks).
    let bound =
      settings.memoryCacheBytes + 2 * ahead + (BlockFetcher.blocksPerRequest + BlockFetcher.demandThreads) * BlockID.size
    #expect(peak.withLock { $0 } <= bound, "peak \(peak.withLock { $0 }) over the bound \(bound)")
    #expect(fs.fetcher.memory.capacity == settings.memoryCacheBytes + ahead)
    // In parallel: far more GETs at once than the loopback read-ahead's few.
    #expect(server.concurrency.withLock { $0.most } >= 16, "at most \(server.concurrency.withLock { $0.most }) at once")
    // Each small log is fetched once: nothing fetched ahead was thrown away before its read.
    let smallGETs = server.requestLog.filter { $0.hasPrefix("GET A1B2C3D4/0000000") && !$0.contains("/00000004/") }
    #expect(smallGETs.count == 120, "\(smallGETs.count) GETs of 120 small logs")
  }

  /// `cp -r` of a session of large logs 20 ms away: the reader's window and the walk's files
  /// ahead fill the memory cache, and the blocks already read must go before those not read
  /// yet. Before, a file fetched ahead was older than the blocks read after it was fetched,
  /// and was evicted and fetched again (seen in wan.sh's session copy).
  @Test func twentyMillisecondsAwayACopyOfLargeLogsFetchesEachByteOnce() throws {
    let server = InMemoryS3()
    var objects: [String: [UInt8]] = [:]
    for split in 1...10 {
      let key = String(format: "A1B2C3D4/00000001/%08d-%08X.MF4", split, 0x5E0B_E100 + split)
      objects[key] = body(12 * Self.mib + split * 1000, seed: split)
    }
    for (key, bytes) in objects { server.put("fleet", key, bytes) }
    server.roundTrip.withLock { $0 = 0.02 }
    let s3 = server.client(bucket: "fleet")
    // The cache's own share made small (4 MiB, not 24), so 12 MiB logs press on it as 20 MiB
    // ones do on the default.
    var settings = MountSettings()
    settings.memoryCacheBytes = 4 << 20
    let fs = FleetFileSystem(
      s3: s3, settings: settings, logger: Logger(label: "read-ahead") { _ in SwiftLogNoOpLogHandler() })
    let before = s3.counters.snapshot.bytesDownloaded
    // 4 ms a MiB: the reader keeps well behind the link, so what is fetched ahead fills the
    // cache's share of the read-ahead.
    let wrong = try walk(fs, objects, pause: 0.004)
    #expect(wrong.isEmpty, "read differently: \(wrong.prefix(3))")
    let logBytes = objects.values.reduce(0) { $0 + $1.count }
    let fetched = Int(s3.counters.snapshot.bytesDownloaded - before)
    // The listings' few KiB besides; no block twice.
    #expect(fetched < logBytes + 64 << 10, "fetched \(fetched) bytes for \(logBytes) of logs")
  }

  /// Far away, a walk fetches the opened file's rest at its open, and the next files whole as
  /// far as the read-ahead goes, not their first quarter of it: a 14 MiB log 20 ms away (the
  /// read-ahead 40 MiB) had its reader wait a round trip 10 MiB into it.
  @Test func farAwayAWalkFetchesTheOpenedFileAndTheNextWhole() throws {
    let server = InMemoryS3()
    var keys: [String] = []
    for split in 1...3 {
      let key = String(format: "A1B2C3D4/00000001/%08d-%08X.MF4", split, 0x5E0B_E100 + split)
      server.put("fleet", key, body(14 * Self.mib, seed: split))
      keys.append(key)
    }
    server.roundTrip.withLock { $0 = 0.02 }
    let fs = FleetFileSystem(
      s3: server.client(bucket: "fleet"), settings: MountSettings(),
      logger: Logger(label: "read-ahead") { _ in SwiftLogNoOpLogHandler() })
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4")
    let session = try fs.lookup(parent: device.ino, name: "00000001")
    func open(_ key: String) throws -> UInt64 {
      let log = try fs.lookup(parent: session.ino, name: String(key.split(separator: "/").last!))
      let handle = try fs.open(ino: log.ino, flags: O_RDONLY).handle
      _ = try fs.read(handle: handle, offset: 0, count: 128 << 10)
      return handle
    }
    let first = try open(keys[0])
    fs.release(handle: first)
    let second = try open(keys[1])
    defer { fs.release(handle: second) }
    let deadline = Date().addingTimeInterval(10)
    while !fs.fetcher.isIdle, Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
    #expect(fs.fetcher.aheadBytes() == Int(0.02 * Double(2 << 30)))
    for key in keys[1...] {
      let log = try fs.lookup(parent: session.ino, name: String(key.split(separator: "/").last!))
      let etag = try fs.node(log.ino).etag
      let missing = (0..<14).filter { !fs.fetcher.memory.contains(BlockID(key: key, etag: etag, index: $0)) }
      #expect(missing.isEmpty, "\(key): blocks \(missing) not fetched")
    }
  }

  /// In reads of 1 MiB (`cp`'s) and of 128 KiB (the kernel's, each answered from the part of a
  /// block that has arrived while the rest is still coming).
  // SEMANTICS.md § Reading
  @Test(arguments: [mib, 128 << 10])
  func underFaultsTheReadAheadReturnsExactBytes(readSize: Int) throws {
    let server = InMemoryS3()
    let objects = seed(server)
    server.roundTrip.withLock { $0 = 0.02 }
    let faults: [InMemoryS3.Fault] = [
      .status(500, "InternalError"), .status(503, "SlowDown"), .resetMidBody, .shortBody, .wrongContentRange,
      .rangeAs200, .wholeBodyFor200, .timeout,
    ]
    let random = Locked(SplitMix64(seed: 23))
    let injected = Locked(0)
    server.faults.withLock {
      $0 = { method, key in
        guard method == "GET", key?.hasSuffix(".MF4") == true else { return nil }
        return random.withLock { r in
          guard r.next() % 5 == 0 else { return nil }
          injected.withLock { $0 += 1 }
          return faults[Int(r.next() % UInt64(faults.count))]
        }
      }
    }
    let fs = FleetFileSystem(
      s3: server.client(bucket: "fleet", retryPolicy: RetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(1))),
      settings: MountSettings(), logger: Logger(label: "read-ahead") { _ in SwiftLogNoOpLogHandler() })
    let wrong = try walk(fs, objects, count: readSize)
    #expect(wrong.isEmpty, "read differently: \(wrong.prefix(3))")
    #expect(injected.withLock { $0 } >= 20, "only \(injected.withLock { $0 }) faults injected")
    #expect(fs.fetcher.aheadBytes() > ReadAhead.floor, "20 ms away the read-ahead is above its floor")
  }

  /// A read of the start of a block that a GET is bringing is answered once its bytes are in,
  /// not when the block's last byte is: `head -c 1` of a log far away waits for one round trip,
  /// not for a whole 1 MiB block over a slow link. The bytes are exact, and the block that
  /// arrives later is the one the rest of the file is read from.
  @Test func aReadOfTheStartOfABlockUnderWayIsAnsweredBeforeTheBlockEnds() throws {
    let server = InMemoryS3()
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let object = body(3 * Self.mib + 777, seed: 5)
    server.put("fleet", key, object)
    server.roundTrip.withLock { $0 = 0.02 }
    let s3 = server.client(bucket: "fleet")
    let fs = FleetFileSystem(
      s3: s3, settings: MountSettings(), logger: Logger(label: "read-ahead") { _ in SwiftLogNoOpLogHandler() })
    let session = try fs.lookup(parent: try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino, name: "00000001")
    let log = try fs.lookup(parent: session.ino, name: "00000001-5E0BE100.MF4")
    let before = s3.counters.snapshot.bytesDownloaded
    let etag = try fs.node(log.ino).etag
    #expect(fs.fetcher.isFar, "20 ms away the open fetches the log ahead")
    // From now on each GET's body comes in pieces of 64 KiB, 40 ms apart: a block takes 640 ms.
    server.faults.withLock { $0 = { method, _ in method == "GET" ? .trickle(64 << 10, 0.04) : nil } }
    let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
    defer { fs.release(handle: opened.handle) }
    let head = try fs.read(handle: opened.handle, offset: 0, count: 4096).bytes
    #expect(head == Array(object[..<4096]))
    #expect(!fs.fetcher.memory.contains(BlockID(key: key, etag: etag, index: 0)), "the read waited for the whole block")
    // A read further into the block waits for its own bytes, and the rest reads exactly.
    let middle = try fs.read(handle: opened.handle, offset: 300_000, count: 128 << 10).bytes
    #expect(middle == Array(object[300_000..<300_000 + (128 << 10)]))
    var got = head
    while true {
      let chunk = try fs.read(handle: opened.handle, offset: UInt64(got.count), count: 128 << 10).bytes
      if chunk.isEmpty { break }
      got += chunk
    }
    #expect(got == object)
    #expect(s3.counters.snapshot.bytesDownloaded - before == UInt64(object.count), "each block once")
  }

  /// Far away, the first log of a session opened before any walk shows fetches the logs after
  /// it, A/4 bytes of them (a copy of one session would wait for the second log's own GETs);
  /// close by it fetches nothing ahead. The second log in a row is a walk: the rest comes ahead.
  @Test func farAwayTheFirstLogOfASessionFetchesTheNextOnes() throws {
    for roundTrip in [0.0, 0.02] {
      let server = InMemoryS3()
      var keys: [String] = []
      let size = 3 * Self.mib + 5000
      for split in 1...6 {
        let key = String(format: "A1B2C3D4/00000001/%08d-%08X.MF4", split, 0x5E0B_E100 + split)
        server.put("fleet", key, body(size + split, seed: split))
        keys.append(key)
      }
      server.roundTrip.withLock { $0 = roundTrip }
      let fs = FleetFileSystem(
        s3: server.client(bucket: "fleet"), settings: MountSettings(),
        logger: Logger(label: "read-ahead") { _ in SwiftLogNoOpLogHandler() })
      let session = try fs.lookup(parent: try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino, name: "00000001")
      let names = try fs.listDirectory(ino: session.ino).map(\.name)
      func gets(_ key: String) -> Int { server.requestLog.filter { $0 == "GET \(key)" }.count }
      func read(_ i: Int) throws {
        let log = try fs.lookup(parent: session.ino, name: names[i])
        let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
        defer { fs.release(handle: opened.handle) }
        var got: [UInt8] = []
        while true {
          let chunk = try fs.read(handle: opened.handle, offset: UInt64(got.count), count: 1 << 20).bytes
          if chunk.isEmpty { break }
          got += chunk
        }
        #expect(got == body(size + i + 1, seed: i + 1), "\(keys[i])")
      }
      let first = try fs.lookup(parent: session.ino, name: names[0])
      let opened = try fs.open(ino: first.ino, flags: O_RDONLY)
      fs.release(handle: opened.handle)
      try waitUntil("the read-ahead settles") { fs.fetcher.isIdle }
      let ahead = fs.fetcher.aheadBytes()
      if roundTrip > 0 {
        // 20 ms away: A is 40 MiB, a guess 10 MiB: logs 2 to 4 whole and the start of log 5.
        #expect(ahead / 4 >= 3 * size && ahead / 4 < 4 * size)
        #expect(keys[1...4].allSatisfy { gets($0) >= 1 }, "\(keys.map(gets))")
        #expect(gets(keys[5]) == 0, "a guess spends no more than A/4")
      } else {
        #expect(keys.allSatisfy { gets($0) == 0 }, "close by an open fetches nothing ahead")
      }
      for i in 0..<6 { try read(i) }
      try waitUntil("the read-ahead settles") { fs.fetcher.isIdle }
      #expect(keys.allSatisfy { gets($0) >= 1 }, "\(keys.map(gets))")
    }
  }
}
