import Cache
import Locking

/// An open file: where its bytes come from, and (for objects) how it is being read.
final class OpenFile: Sendable {
  enum Source: Sendable {
    /// An object read in blocks pinned to the ETag the listing gave (log files, `.raw/`).
    case object(key: String, etag: String, size: UInt64)
    /// Content fetched or generated at open (device root files, `.edgemount/` files).
    case snapshot([UInt8])
    /// A scratch file's content, shared with its other handles.
    case scratch(ScratchFile)
    /// This handle's save of a server file.
    case save(SaveView)
  }

  let ino: UInt64
  let source: Source
  private let pattern = Locked(ReadPattern())

  init(ino: UInt64, source: Source) {
    self.ino = ino
    self.source = source
  }

  /// Sequential-read detection: while reads follow each other the prefetch window doubles
  /// (up to `maxWindow` blocks ahead: 16 on loopback, more on a link with a long round trip,
  /// `ReadAhead`); a jump stops prefetching, and the reads of a reader that seeks around an MF4
  /// file fetch just the bytes they ask for.
  struct ReadPattern: Sendable, Equatable {
    static let firstWindow = 1
    static let maxWindow = 16
    var lastEnd: UInt64?
    var window = 0

    /// How many blocks past the last block of this read to prefetch.
    mutating func blocksToPrefetch(offset: UInt64, end: UInt64, maxWindow: Int = Self.maxWindow) -> Int {
      let slack = UInt64(BlockID.size)
      let sequential: Bool
      if let lastEnd {
        sequential = offset + slack >= lastEnd && offset <= lastEnd + slack
      } else {
        sequential = offset == 0
      }
      window = sequential ? min(max(window * 2, Self.firstWindow), maxWindow) : 0
      lastEnd = max(lastEnd ?? 0, end)
      if !sequential { lastEnd = end }
      return window
    }
  }

  /// Reads `count` bytes at `offset`.
  func read(offset: UInt64, count: Int, fetcher: BlockFetcher?) throws(FSError) -> ReadBytes {
    switch source {
    case .scratch(let file):
      return ReadBytes(file.read(offset: offset, count: count))
    case .save(let view):
      return ReadBytes(view.read(offset: offset, count: count))
    case .snapshot(let bytes):
      guard offset < UInt64(bytes.count) else { return .empty }
      let end = min(bytes.count, Int(offset) + count)
      return ReadBytes([bytes[Int(offset)..<end]])
    case .object(let key, let etag, let size):
      guard offset < size, count > 0, let fetcher else { return .empty }
      let end = min(size, offset + UInt64(count))
      let blocks = BlockID.indices(covering: offset..<end)
      let (first, last) = (blocks.lowerBound, blocks.upperBound)
      let maxWindow = fetcher.readAhead.windowBlocks(bytes: fetcher.aheadBytes())
      let ahead = pattern.withLock { $0.blocksToPrefetch(offset: offset, end: end, maxWindow: maxWindow) }
      let lastBlock = BlockID.count(for: size) - 1
      if ahead > 0, last < lastBlock {
        // At full speed the far edge is rounded up to whole groups, so new blocks come in runs
        // that one GET fetches; while the window still grows, only the window is fetched, so a
        // reader that stops early (a header read) wastes little.
        let group = BlockFetcher.blocksPerRequest
        let edge = ahead == maxWindow ? ((last + ahead) / group + 1) * group - 1 : last + ahead
        let upcoming = (last + 1)...min(lastBlock, edge)
        fetcher.prefetch(upcoming.map { BlockID(key: key, etag: etag, index: $0) }, objectSize: size)
      } else if ahead == 0,
        !(first...last).allSatisfy({ fetcher.isAvailable(BlockID(key: key, etag: etag, index: $0), objectSize: size) })
      {
        // A jump to where nothing is cached: exactly the bytes asked for, in one GET, instead of
        // whole 1 MiB blocks for a 16 KiB read (an MF4 reader following its links).
        let bytes = try fetcher.bytes(key: key, etag: etag, range: offset..<end, objectSize: size)
        guard bytes.count == Int(end - offset) else {
          throw .s3(.invalidResponse("read of \(key) at \(offset): \(bytes.count) of \(end - offset) bytes"))
        }
        return ReadBytes(bytes)
      }
      var out: [ArraySlice<UInt8>] = []
      for index in first...last {
        let id = BlockID(key: key, etag: etag, index: index)
        let length = Int(id.range(objectSize: size).count)
        let lower = index == first ? Int(offset - id.offset) : 0
        let upper = index == last ? Int(end - id.offset) : length
        // A read that ends inside a block being fetched is answered once its bytes are in.
        out.append(try fetcher.bytes(of: id, objectSize: size, part: lower..<upper))
        // A sequential reader is done with a block it read to its end.
        if ahead > 0, upper == length { fetcher.memory.readThrough(id) }
      }
      return ReadBytes(out)
    }
  }
}
