import COpenSSL
import CZlib
import Foundation
import Locking

/// Blocks of immutable objects on disk (`--cache-dir`), bounded by `--cache-size`, least
/// recently used evicted, kept across remounts.
///
/// A block file is `header + data`: magic, data length and CRC-32. It is written to a
/// temporary name and renamed into place, so a crash leaves no block that looks complete; a
/// block whose length or CRC does not match is deleted, never served. File names come from a
/// SHA-256 of key and ETag, so a new version of an object never meets an old version's blocks.
///
/// Downloads never wait for the disk: `putLater` hands a block to a writer thread through a
/// queue bounded by `writeQueueCapacity` bytes, and a block that does not fit is skipped
/// (counted as `skipped`), never waited for. Eviction takes the least recently used block from
/// an `LRUIndex`, O(1) a block.
public final class DiskBlockCache: Sendable {
  public let directory: String
  public let capacity: UInt64
  /// Bytes of blocks that may wait for the writer.
  public let writeQueueCapacity: Int
  private static let magic: [UInt8] = Array("EMBLK01\n".utf8)
  private static let headerSize = 16

  private struct State: Sendable {
    var sizes: [String: UInt64] = [:]
    var order = LRUIndex<String>()
    var bytes: UInt64 = 0
    var hits = 0
    var misses = 0
    var rejected = 0
    var skipped = 0
  }
  private let state = Locked(State())
  private let writer: BlockWriter

  public struct Unusable: Error, CustomStringConvertible {
    public let description: String
  }

  /// Opens (creating) the cache folder and indexes what an earlier mount left, oldest first.
  public init(directory: String, capacity: UInt64, writeQueueCapacity: Int = 32 << 20) throws {
    self.directory = directory
    self.capacity = capacity
    self.writeQueueCapacity = writeQueueCapacity
    writer = BlockWriter(capacity: writeQueueCapacity)
    let blocks = directory + "/blocks"
    do {
      try FileManager.default.createDirectory(
        atPath: blocks, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw Unusable(description: "cache folder \(directory) cannot be created: \(error.localizedDescription)")
    }
    guard access(blocks, W_OK) == 0 else { throw Unusable(description: "cache folder \(directory) is not writable") }
    var found: [(String, UInt64, Double)] = []
    for name in (try? FileManager.default.contentsOfDirectory(atPath: blocks)) ?? [] {
      let path = blocks + "/" + name
      if name.hasSuffix(".tmp") {
        unlink(path)  // a write interrupted by a crash
        continue
      }
      var st = stat()
      guard stat(path, &st) == 0 else { continue }
      found.append((name, UInt64(st.st_size), Double(st.st_mtim.tv_sec)))
    }
    found.sort { $0.2 < $1.2 }
    state.withLock { s in
      for (name, size, _) in found {
        s.sizes[name] = size
        s.order.touch(name)
        s.bytes += size
      }
    }
    evict()
  }

  static func fileName(_ id: BlockID) -> String {
    var material = Array(id.key.utf8)
    material.append(0)
    material += Array(id.etag.utf8)
    var digest = [UInt8](repeating: 0, count: 32)
    material.withUnsafeBufferPointer { _ = SHA256($0.baseAddress, $0.count, &digest) }
    return digest.map { String(format: "%02x", $0) }.joined() + "-\(id.index)"
  }

  private func path(_ name: String) -> String { directory + "/blocks/" + name }

  /// The block's bytes if a complete, intact copy is on disk and it is `expectedLength` long.
  public func get(_ id: BlockID, expectedLength: Int) -> [UInt8]? {
    let name = Self.fileName(id)
    guard state.withLock({ $0.sizes[name] != nil }) else {
      state.withLock { $0.misses += 1 }
      return nil
    }
    guard let data = FileManager.default.contents(atPath: path(name)), let block = Self.decode([UInt8](data)),
      block.count == expectedLength
    else {
      remove(name)
      state.withLock {
        $0.rejected += 1; $0.misses += 1
      }
      return nil
    }
    state.withLock { s in
      s.order.touch(name)
      s.hits += 1
    }
    return block
  }

  /// Queues a block for the writer thread and returns at once; skips it (and says so) when the
  /// queue is full. What the data path calls.
  @discardableResult
  public func putLater(_ id: BlockID, _ data: [UInt8]) -> Bool {
    let queued = writer.enqueue(bytes: data.count) { [weak self] in self?.put(id, data) }
    if !queued { state.withLock { $0.skipped += 1 } }
    return queued
  }

  /// Waits until the blocks queued so far are written (tests, unmount).
  public func drainWrites() { writer.drain() }

  /// Stores a block now (complete or not at all). Failures only cost the caching.
  public func put(_ id: BlockID, _ data: [UInt8]) {
    let name = Self.fileName(id)
    let final = path(name)
    let temp = final + ".\(UInt64.random(in: 0...UInt64.max)).tmp"
    // The header and the data in one writev: the block is not copied.
    let header = Self.header(for: data)
    let total = header.count + data.count
    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return }
    let written = header.withUnsafeBytes { h in
      data.withUnsafeBytes { d in
        var parts = [
          iovec(iov_base: UnsafeMutableRawPointer(mutating: h.baseAddress), iov_len: h.count),
          iovec(iov_base: UnsafeMutableRawPointer(mutating: d.baseAddress), iov_len: d.count),
        ]
        return writev(fd, &parts, 2)
      }
    }
    close(fd)
    guard written == total, rename(temp, final) == 0 else {
      unlink(temp)
      return
    }
    state.withLock { s in
      if let old = s.sizes[name] { s.bytes -= old }
      s.sizes[name] = UInt64(total)
      s.order.touch(name)
      s.bytes += UInt64(total)
    }
    evict()
  }

  private func remove(_ name: String) {
    unlink(path(name))
    state.withLock { s in
      if let old = s.sizes.removeValue(forKey: name) { s.bytes -= old }
      s.order.remove(name)
    }
  }

  private func evict() {
    var victims: [String] = []
    state.withLock { s in
      while s.bytes > capacity, let name = s.order.removeLeastRecent() {
        s.bytes -= s.sizes.removeValue(forKey: name) ?? 0
        victims.append(name)
      }
    }
    for name in victims { unlink(path(name)) }
  }

  public struct Usage: Sendable, Equatable {
    public var bytes: UInt64
    public var blocks: Int
    public var hits: Int
    public var misses: Int
    public var rejected: Int
    /// Blocks not cached because the write queue was full.
    public var skipped: Int
    /// Bytes waiting for the writer.
    public var queuedBytes: Int
  }

  public var usage: Usage {
    let queued = writer.queuedBytes
    return state.withLock {
      Usage(
        bytes: $0.bytes, blocks: $0.sizes.count, hits: $0.hits, misses: $0.misses, rejected: $0.rejected,
        skipped: $0.skipped, queuedBytes: queued)
    }
  }

  /// Magic, data length and CRC-32, big-endian.
  static func header(for data: [UInt8]) -> [UInt8] {
    var out = magic
    let length = UInt32(data.count)
    let crc = data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    for v in [length, crc] { out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    return out
  }

  static func decode(_ file: [UInt8]) -> [UInt8]? {
    guard file.count >= headerSize, Array(file[0..<8]) == magic else { return nil }
    func u32(_ i: Int) -> UInt32 {
      UInt32(file[i]) << 24 | UInt32(file[i + 1]) << 16 | UInt32(file[i + 2]) << 8 | UInt32(file[i + 3])
    }
    let length = Int(u32(8))
    guard file.count == headerSize + length else { return nil }
    let data = Array(file[headerSize...])
    let crc = data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
    return crc == u32(12) ? data : nil
  }
}
