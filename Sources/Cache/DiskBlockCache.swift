import CFileIO
import CISAL
import Digest
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
///
/// What a cached block costs the CPU, which on a small machine is what a cold read is short
/// of: the CRC-32 comes from ISA-L (carry-less multiplication, about a third of zlib's time;
/// the same value as zlib's), and blocks are written with `O_DIRECT` from a page-aligned
/// buffer, so the kernel copies nothing into its page cache (a buffered write of 1 GiB cost
/// 1.2 s of system time here, a direct one 0.2 s). Where the folder's filesystem refuses
/// `O_DIRECT`, blocks are written through the page cache instead.
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
  /// Whether blocks are still written with `O_DIRECT` (false once the filesystem refused it).
  private let writesDirect: Locked<Bool>
  var writesDirectly: Bool { writesDirect.withLock { $0 } }
  /// Aligned buffers the writes assemble blocks in, kept for the next write.
  private let spareBuffers = Locked<[AlignedBuffer]>([])

  public struct Unusable: Error, CustomStringConvertible {
    public let description: String
  }

  /// Opens (creating) the cache folder and indexes what an earlier mount left, oldest first.
  /// `direct: false` writes through the page cache, as on a filesystem without `O_DIRECT`.
  public init(directory: String, capacity: UInt64, writeQueueCapacity: Int = 32 << 20, direct: Bool = true) throws {
    self.directory = directory
    self.capacity = capacity
    self.writeQueueCapacity = writeQueueCapacity
    writer = BlockWriter(capacity: writeQueueCapacity)
    writesDirect = Locked(direct)
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
    return Digest.hex(Digest.sha256(material)) + "-\(id.index)"
  }

  private func path(_ name: String) -> String { directory + "/blocks/" + name }

  /// The block's bytes if a complete, intact copy is on disk and it is `expectedLength` long.
  public func get(_ id: BlockID, expectedLength: Int) -> [UInt8]? {
    let name = Self.fileName(id)
    guard state.withLock({ $0.sizes[name] != nil }) else {
      state.withLock { $0.misses += 1 }
      return nil
    }
    guard let block = Self.readBlock(path(name), expectedLength: expectedLength)
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
    let total = Self.headerSize + data.count
    guard writeFile(temp, data), rename(temp, final) == 0 else {
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

  /// Writes header and data to a new file at `path`, directly when the filesystem allows it.
  private func writeFile(_ path: String, _ data: [UInt8]) -> Bool {
    let total = Self.headerSize + data.count
    if writesDirect.withLock({ $0 }) {
      // O_DIRECT wants one page-aligned buffer of whole pages: header and data are copied into
      // it, and the file is then cut to the block's length.
      let padded = AlignedBuffer.roundedUp(total)
      let buffer = takeBuffer(padded)
      defer { giveBack(buffer) }
      Self.writeHeader(for: data, into: buffer.pointer)
      data.withUnsafeBytes { d in
        if let base = d.baseAddress { (buffer.pointer + Self.headerSize).copyMemory(from: base, byteCount: d.count) }
      }
      (buffer.pointer + total).initializeMemory(as: UInt8.self, repeating: 0, count: padded - total)
      let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | em_open_direct_flag(), 0o600)
      if fd >= 0 {
        let ok =
          Self.writeAll(fd, [UnsafeRawBufferPointer(start: buffer.pointer, count: padded)])
          && ftruncate(fd, off_t(total)) == 0
        let failure = errno
        close(fd)
        if ok { return true }
        unlink(path)
        guard failure == EINVAL else { return false }
      } else if errno != EINVAL {
        return false
      }
      writesDirect.withLock { $0 = false }  // this filesystem has no O_DIRECT
    }
    // Through the page cache: header and data in one writev, the data not copied.
    var header = [UInt8](repeating: 0, count: Self.headerSize)
    header.withUnsafeMutableBytes { Self.writeHeader(for: data, into: $0.baseAddress!) }
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return header.withUnsafeBytes { h in data.withUnsafeBytes { d in Self.writeAll(fd, [h, d]) } }
  }

  /// Writes every byte of `pieces`, in order, with writev.
  private static func writeAll(_ fd: Int32, _ pieces: [UnsafeRawBufferPointer]) -> Bool {
    let total = pieces.reduce(0) { $0 + $1.count }
    return transfer(total) { done in
      // The pieces from byte `done` on (after a short write).
      var skip = done
      var vectors: [iovec] = []
      for piece in pieces where !piece.isEmpty {
        if skip >= piece.count {
          skip -= piece.count
          continue
        }
        vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: piece.baseAddress! + skip), iov_len: piece.count - skip))
        skip = 0
      }
      return writev(fd, vectors, Int32(vectors.count))
    } == total
  }

  /// Repeats `step` (a read or write of the bytes from offset `done` on) until `count` bytes
  /// are done or it moves none (the end of the file); EINTR is retried. The bytes done, or -1
  /// on an error.
  private static func transfer(_ count: Int, _ step: (_ done: Int) -> Int) -> Int {
    var done = 0
    while done < count {
      let n = step(done)
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return -1 }
      if n == 0 { break }
      done += n
    }
    return done
  }

  private func takeBuffer(_ capacity: Int) -> AlignedBuffer {
    let spare = spareBuffers.withLock { spares -> AlignedBuffer? in
      guard let i = spares.firstIndex(where: { $0.capacity >= capacity }) else { return nil }
      return spares.remove(at: i)
    }
    return spare ?? AlignedBuffer(capacity: capacity)
  }

  private func giveBack(_ buffer: AlignedBuffer) {
    spareBuffers.withLock { spares in
      if spares.count < 4 { spares.append(buffer) }
    }
  }

  /// The data of an intact block file of `expectedLength` data bytes: the header read apart, the
  /// data straight into the array returned, the CRC checked.
  static func readBlock(_ path: String, expectedLength: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var header = [UInt8](repeating: 0, count: headerSize)
    guard header.withUnsafeMutableBytes({ readAll(fd, $0.baseAddress!, headerSize) }) == headerSize,
      header[0..<8].elementsEqual(magic)
    else { return nil }
    func u32(_ i: Int) -> UInt32 {
      UInt32(header[i]) << 24 | UInt32(header[i + 1]) << 16 | UInt32(header[i + 2]) << 8 | UInt32(header[i + 3])
    }
    guard u32(8) == expectedLength else { return nil }
    // One byte more than the block is asked for, so a longer file is seen.
    let data = [UInt8](unsafeUninitializedCapacity: expectedLength + 1) { buffer, count in
      count = readAll(fd, UnsafeMutableRawPointer(buffer.baseAddress!), expectedLength + 1)
    }
    guard data.count == expectedLength, checksum(data[...]) == u32(12) else { return nil }
    return data
  }

  /// Reads until `count` bytes or the end of the file; -1 on an error.
  private static func readAll(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    transfer(count) { done in read(fd, pointer + done, count - done) }
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
  private static func writeHeader(for data: [UInt8], into pointer: UnsafeMutableRawPointer) {
    magic.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: magic.count) }
    for (i, v) in [UInt32(data.count), checksum(data[...])].enumerated() {
      pointer.storeBytes(of: v.bigEndian, toByteOffset: magic.count + 4 * i, as: UInt32.self)
    }
  }

  /// zlib's CRC-32, from ISA-L.
  static func checksum(_ data: ArraySlice<UInt8>) -> UInt32 {
    data.withUnsafeBufferPointer { crc32_gzip_refl(0, $0.baseAddress, UInt64($0.count)) }
  }

}
