import Synchronization

/// An open file: what it reads from, and (for log files) the read-ahead state.
final class OpenFile: Sendable {
  enum Source: Sendable {
    /// A log file read with ranged GETs pinned to the ETag the listing gave.
    case object(key: String, etag: String, size: UInt64)
    /// Content fetched or generated at open (device root files, `.edgemount/` files).
    case snapshot([UInt8])
    /// Content being edited (a staged save or a scratch file).
    case staged(StagedFile)
  }

  let ino: UInt64
  let source: Source
  private let readAhead = Mutex(ReadAhead())

  init(ino: UInt64, source: Source) {
    self.ino = ino
    self.source = source
  }

  /// Sequential-read detection: a window that doubles while reads follow each other and
  /// falls back to the first size when a read jumps.
  struct ReadAhead: Sendable {
    static let firstWindow: UInt64 = 256 * 1024  // covers the kernel's own 128 KiB readahead
    static let maxWindow: UInt64 = 8 * 1024 * 1024
    var bufferStart: UInt64 = 0
    var buffer: [UInt8] = []
    var lastEnd: UInt64 = .max
    var window: UInt64 = firstWindow

    /// The range to fetch for a read of `offset..<end` that the buffer does not hold.
    mutating func plan(offset: UInt64, end: UInt64, fileSize: UInt64) -> Range<UInt64> {
      let sequential = offset == lastEnd || (offset >= bufferStart && offset <= bufferStart + UInt64(buffer.count))
      window = sequential ? min(window * 2, Self.maxWindow) : Self.firstWindow
      return offset..<min(fileSize, max(end, offset + window))
    }

    func slice(offset: UInt64, end: UInt64) -> [UInt8]? {
      guard offset >= bufferStart, end <= bufferStart + UInt64(buffer.count) else { return nil }
      return Array(buffer[Int(offset - bufferStart)..<Int(end - bufferStart)])
    }
  }

  /// Reads `count` bytes at `offset`; `fetch` does the GET for a range when the buffer misses.
  func read(offset: UInt64, count: Int, fetch: (Range<UInt64>) throws(FSError) -> [UInt8]) throws(FSError) -> [UInt8] {
    switch source {
    case .staged(let file):
      return file.read(offset: offset, count: count)
    case .snapshot(let bytes):
      guard offset < UInt64(bytes.count) else { return [] }
      let end = min(bytes.count, Int(offset) + count)
      return Array(bytes[Int(offset)..<end])
    case .object(_, _, let size):
      guard offset < size, count > 0 else { return [] }
      let end = min(size, offset + UInt64(count))
      return try readAhead.withLock { (state: inout ReadAhead) throws(FSError) -> [UInt8] in
        if let hit = state.slice(offset: offset, end: end) {
          state.lastEnd = end
          return hit
        }
        let range = state.plan(offset: offset, end: end, fileSize: size)
        let data = try fetch(range)
        guard UInt64(data.count) == range.upperBound - range.lowerBound else {
          throw FSError.s3(.invalidResponse("short read: \(data.count) of \(range.count) bytes"))
        }
        state.bufferStart = range.lowerBound
        state.buffer = data
        state.lastEnd = end
        return Array(data[0..<Int(end - offset)])
      }
    }
  }
}
