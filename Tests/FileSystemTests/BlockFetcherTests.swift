import Cache
import Foundation
import Locking
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// The fetcher's lanes: bounded queues, listings apart from block prefetches, and a dropped
/// prefetch never leaving a reader waiting or wrong.
@Suite struct BlockFetcherTests {
  func body(_ size: Int, seed: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed) } }

  func fileSystem(_ server: InMemoryS3) -> FleetFileSystem {
    FleetFileSystem(
      s3: server.client(bucket: "fleet"), settings: MountSettings(),
      logger: Logger(label: "lanes") { _ in SwiftLogNoOpLogHandler() })
  }

  /// 200 listings that never finish queued ahead of a walk (the list-ahead lane takes 16 and
  /// runs `listingThreads` at a time, so it is full for the whole read) while a 24 MiB log is read through with prefetching: no read
  /// waits more than a request's time, because block prefetches have a lane of their own.
  @Test func aListingStormDoesNotDelayAConcurrentRead() throws {
    let server = InMemoryS3()
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    let data = body(24 << 20, seed: 3)
    server.put("fleet", key, data)
    let fs = fileSystem(server)
    // Listings that hold their thread until the test ends: the lane stays full throughout.
    let gate = Wakeup()
    defer { for _ in 0..<(2 * BlockFetcher.listingThreads) { gate.signal() } }
    var accepted = 0
    for _ in 0..<200 where fs.fetcher.submitListing({ _ = gate.wait(until: .distantFuture) }) { accepted += 1 }
    #expect(accepted <= BlockFetcher.listingQueueLimit + BlockFetcher.listingThreads)
    #expect(fs.fetcher.queuedJobs.listings <= BlockFetcher.listingQueueLimit)
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4")
    let session = try fs.lookup(parent: device.ino, name: "00000001")
    let log = try fs.lookup(parent: session.ino, name: "00000001-5E0BE100.MF4")
    let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
    defer { fs.release(handle: opened.handle) }
    var offset = 0
    var worst: Duration = .zero
    var same = true
    while offset < data.count {
      let start = ContinuousClock.now
      let got = try fs.read(handle: opened.handle, offset: UInt64(offset), count: 128 << 10).bytes
      worst = max(worst, ContinuousClock.now - start)
      same = same && got[...] == data[offset..<min(data.count, offset + got.count)]
      offset += got.count
      if got.isEmpty { break }
    }
    #expect(same && offset == data.count)
    #expect(worst < .seconds(1), "a read waited \(worst) behind the listings")
  }

  /// Prefetches of 80 slow blocks: the lane queues 64 batches, drops the rest, and every block
  /// still reads right, the dropped ones fetched by their reader.
  @Test func droppedPrefetchesAreFetchedByTheirReaders() throws {
    let server = InMemoryS3()
    var objects: [(String, [UInt8])] = []
    for i in 0..<80 {
      let key = "A1B2C3D4/00000001/\(String(format: "%08d", i + 1))-5E0BE100.MF4"
      let bytes = body(1 << 20, seed: i)
      server.put("fleet", key, bytes)
      objects.append((key, bytes))
    }
    let etags = objects.map { server.object("fleet", $0.0)!.etag }
    server.faults.withLock { $0 = { method, key in method == "GET" && key != nil ? .delay(0.05) : nil } }
    let fs = fileSystem(server)
    for (i, (key, _)) in objects.enumerated() {
      fs.fetcher.prefetch([BlockID(key: key, etag: etags[i], index: 0)], objectSize: 1 << 20)
    }
    #expect(fs.fetcher.queuedJobs.prefetch <= BlockFetcher.prefetchQueueLimit)
    for (i, (key, bytes)) in objects.enumerated() {
      let got = try fs.fetcher.block(BlockID(key: key, etag: etags[i], index: 0), objectSize: 1 << 20)
      #expect(got == bytes ? true : false, "\(key) differs")
    }
  }
}
