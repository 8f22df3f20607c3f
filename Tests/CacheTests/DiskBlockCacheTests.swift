import CANedge
import CFileIO
import Foundation
import Testing

@testable import Cache

@Suite struct DiskBlockCacheTests {
  func directory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID())").path
  }

  let id = BlockID(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", etag: "0cc175b9c0f1b6a831c399e269772661", index: 3)

  @Test(arguments: [true, false])
  func blocksSurviveAReopenOfTheCache(direct: Bool) throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let data = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
    try DiskBlockCache(directory: dir, capacity: 1 << 20, direct: direct).put(id, data)
    let reopened = try DiskBlockCache(directory: dir, capacity: 1 << 20)
    #expect(reopened.get(id, expectedLength: 5000) == data)
    #expect(reopened.usage.hits == 1)
  }

  /// O_DIRECT writes whole pages; the file is cut back to header and data, whatever the length.
  @Test(arguments: [true, false])
  func aBlockFileHoldsExactlyHeaderAndData(direct: Bool) throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = try DiskBlockCache(directory: dir, capacity: 1 << 30, direct: direct)
    for (i, length) in [0, 1, 4080, 4081, 4096, 1 << 20, (1 << 20) - 16, 777_777].enumerated() {
      let block = BlockID(key: "k", etag: "e", index: i)
      let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
      cache.put(block, data)
      let path = dir + "/blocks/" + DiskBlockCache.fileName(block)
      let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
      #expect(size == 16 + length, "length \(length)")
      #expect(cache.get(block, expectedLength: length) == data, "length \(length)")
    }
    // The direct path was the one taken, unless this folder's filesystem refuses O_DIRECT.
    let page = AlignedBuffer(capacity: AlignedBuffer.alignment)
    let probe = open(dir + "/probe", O_WRONLY | O_CREAT | em_open_direct_flag(), 0o600)
    let takesDirectIO = probe >= 0 && write(probe, page.pointer, page.capacity) == page.capacity
    if probe >= 0 { close(probe) }
    #expect(cache.writesDirectly == (direct && takesDirectIO))
  }

  /// The block checksum comes from ISA-L; it must be the CRC-32 of zlib (the file format's), so
  /// a cache written by an earlier build stays valid. Checked against the published check value
  /// and against zlib itself at every alignment and many lengths.
  @Test func theBlockChecksumIsZlibsCRC32() {
    #expect(DiskBlockCache.checksum(Array("123456789".utf8)[...]) == 0xCBF4_3926)
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
    for start in 0..<16 {
      for length in [0, 1, 2, 3, 7, 15, 16, 17, 31, 63, 64, 65, 127, 128, 255, 256, 1000, 4096, 65_536] {
        let slice = bytes[start..<(start + length)]
        #expect(DiskBlockCache.checksum(slice) == CRC32.checksum(Array(slice)), "start \(start), length \(length)")
      }
    }
  }

  @Test func anotherETagNeverMeetsTheOldVersionsBlocks() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = try DiskBlockCache(directory: dir, capacity: 1 << 20)
    cache.put(id, [1, 2, 3])
    #expect(cache.get(BlockID(key: id.key, etag: "ffffffffffffffffffffffffffffffff", index: 3), expectedLength: 3) == nil)
  }

  @Test func aTruncatedCorruptedOrWrongLengthBlockIsDeletedNotServed() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = try DiskBlockCache(directory: dir, capacity: 1 << 20)
    let path = dir + "/blocks/" + DiskBlockCache.fileName(id)
    let data = [UInt8](repeating: 7, count: 1000)

    cache.put(id, data)
    #expect(cache.get(id, expectedLength: 999) == nil, "a block of the wrong length")
    #expect(!FileManager.default.fileExists(atPath: path))

    cache.put(id, data)
    let file = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try file.truncate(atOffset: 500)
    try file.close()
    #expect(cache.get(id, expectedLength: 1000) == nil, "a half-written block")

    cache.put(id, data)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[bytes.count - 1] ^= 1
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect(cache.get(id, expectedLength: 1000) == nil, "a flipped bit")
    #expect(cache.usage.rejected == 3)
  }

  @Test func leftoverTemporaryFilesFromACrashAreRemovedAtStart() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try DiskBlockCache(directory: dir, capacity: 1 << 20)
    let temp = dir + "/blocks/" + DiskBlockCache.fileName(id) + ".123.tmp"
    FileManager.default.createFile(atPath: temp, contents: Data([1, 2, 3]))
    let cache = try DiskBlockCache(directory: dir, capacity: 1 << 20)
    #expect(!FileManager.default.fileExists(atPath: temp))
    #expect(cache.usage.blocks == 0)
  }

  @Test func theLeastRecentlyUsedBlocksAreEvictedBeyondTheBound() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cache = try DiskBlockCache(directory: dir, capacity: 3 * 1016)
    let ids = (0..<4).map { BlockID(key: "k", etag: "e", index: $0) }
    let data = [UInt8](repeating: 1, count: 1000)
    cache.put(ids[0], data)
    cache.put(ids[1], data)
    cache.put(ids[2], data)
    _ = cache.get(ids[0], expectedLength: 1000)  // 0 is now more recent than 1
    cache.put(ids[3], data)
    #expect(cache.usage.blocks == 3)
    #expect(cache.get(ids[1], expectedLength: 1000) == nil)
    #expect(cache.get(ids[0], expectedLength: 1000) == data)
    #expect(cache.usage.bytes <= cache.capacity)
  }

  @Test func memoryCacheEvictsByBytes() {
    let memory = MemoryBlockCache(capacity: 2500)
    for i in 0..<3 { memory.put(BlockID(key: "k", etag: "e", index: i), [UInt8](repeating: 0, count: 1000)) }
    #expect(memory.usedBytes == 2000)
    #expect(memory.get(BlockID(key: "k", etag: "e", index: 0)) == nil)
  }
}
