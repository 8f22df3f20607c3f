import DemoFleet
import Foundation
import Testing

@testable import Cache

/// `LRUIndex` against a plain array model under random operations, and the caches built on it
/// staying within their bounds however much they are fed.
@Suite struct LRUIndexTests {
  @Test func randomOperationsKeepTheOrderOfAnArrayModel() {
    var rng = SplitMix64(seed: 16)
    var index = LRUIndex<Int>()
    var model: [Int] = []  // least recent first
    for _ in 0..<20_000 {
      let key = Int(rng.next() % 64)
      switch rng.next() % 5 {
      case 0, 1:
        index.touch(key)
        model.removeAll { $0 == key }
        model.append(key)
      case 4:
        index.makeOldest(key)
        if model.contains(key) {
          model.removeAll { $0 == key }
          model.insert(key, at: 0)
        }
      case 2:
        index.remove(key)
        model.removeAll { $0 == key }
      default:
        #expect(index.removeLeastRecent() == (model.isEmpty ? nil : model.removeFirst()))
      }
      #expect(index.count == model.count)
    }
    // Drained, the index gives its keys least recent first, as the model holds them.
    var drained: [Int] = []
    while let key = index.removeLeastRecent() { drained.append(key) }
    #expect(drained == model)
  }

  @Test func aBoundedCacheFedPastItsLimitStaysAtItAndKeepsTheRecent() {
    var cache = BoundedCache<Int, String>(limit: 100)
    for i in 0..<10_000 {
      cache[i] = String(i)
      if i % 10 == 0 { _ = cache[0] }  // kept in use
    }
    #expect(cache.count == 100)
    #expect(cache.peek(0) == "0" && cache.peek(9_999) == "9999" && cache.peek(5_000) == nil)
  }

  @Test func theMemoryCacheFedPastItsCapacityStaysWithinIt() {
    let cache = MemoryBlockCache(capacity: 8 << 20)
    for i in 0..<200 { cache.put(BlockID(key: "k", etag: "e", index: i), [UInt8](repeating: UInt8(i % 256), count: 1 << 20)) }
    #expect(cache.usedBytes <= 8 << 20 && cache.blockCount == 8)
    #expect(cache.get(BlockID(key: "k", etag: "e", index: 199)) != nil)
    #expect(cache.get(BlockID(key: "k", etag: "e", index: 0)) == nil)
  }

  func directory() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("lru-\(UUID())").path }

  /// A block fetched ahead and not read yet stays; the blocks its reader went through go
  /// first, though they were used after it came in.
  @Test func blocksReadThroughGoBeforeBlocksNotReadYet() {
    let cache = MemoryBlockCache(capacity: 4 << 20)
    let block = [UInt8](repeating: 1, count: 1 << 20)
    let ahead = BlockID(key: "next", etag: "e", index: 0)
    cache.put(ahead, block)
    for i in 0..<3 {
      let id = BlockID(key: "now", etag: "e", index: i)
      cache.put(id, block)
      _ = cache.get(id)
      cache.readThrough(id)
    }
    // Full: the next block in evicts a block read through, not the one fetched ahead.
    cache.put(BlockID(key: "now", etag: "e", index: 3), block)
    #expect(cache.get(ahead) != nil)
    #expect(cache.blockCount == 4)
    #expect(cache.get(BlockID(key: "now", etag: "e", index: 2)) == nil, "the last read through goes first")
  }

  @Test func theDiskCacheFedPastItsCapacityStaysWithinIt() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = try DiskBlockCache(directory: dir, capacity: 4 << 20)
    for i in 0..<40 { cache.put(BlockID(key: "k", etag: "e", index: i), [UInt8](repeating: 1, count: 1 << 19)) }
    #expect(cache.usage.bytes <= 4 << 20)
    let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/blocks")
    #expect(files.count == cache.usage.blocks && files.count == 7, "\(files.count) files")
    // The most recent survive, the oldest went first.
    #expect(cache.get(BlockID(key: "k", etag: "e", index: 39), expectedLength: 1 << 19) != nil)
    #expect(cache.get(BlockID(key: "k", etag: "e", index: 0), expectedLength: 1 << 19) == nil)
  }

  /// The data path never waits for the disk: a block that does not fit the write queue is
  /// skipped, and every block that was queued is written whole.
  @Test func aFullWriteQueueSkipsBlocksInsteadOfWaiting() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = try DiskBlockCache(directory: dir, capacity: 1 << 30, writeQueueCapacity: 1 << 20)
    var queued: [Int] = []
    for i in 0..<50 where cache.putLater(BlockID(key: "k", etag: "e", index: i), [UInt8](repeating: 2, count: 1 << 20)) {
      queued.append(i)
    }
    cache.drainWrites()
    let usage = cache.usage
    #expect(usage.skipped == 50 - queued.count && usage.skipped > 0, "\(usage)")
    #expect(usage.queuedBytes == 0)
    for i in queued { #expect(cache.get(BlockID(key: "k", etag: "e", index: i), expectedLength: 1 << 20) != nil) }
  }
}
