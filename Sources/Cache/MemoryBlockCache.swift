import Locking

/// Recently read and prefetched blocks in memory, least recently used evicted, bounded in bytes.
public final class MemoryBlockCache: Sendable {
  private struct State: Sendable {
    var blocks: [BlockID: (data: [UInt8], tick: UInt64)] = [:]
    var bytes = 0
    var tick: UInt64 = 0
  }

  private let state = Locked(State())
  public let capacity: Int

  public init(capacity: Int) { self.capacity = capacity }

  public func get(_ id: BlockID) -> [UInt8]? {
    state.withLock { s in
      guard let entry = s.blocks[id] else { return nil }
      s.tick += 1
      s.blocks[id] = (entry.data, s.tick)
      return entry.data
    }
  }

  public func put(_ id: BlockID, _ data: [UInt8]) {
    state.withLock { s in
      s.tick += 1
      if let old = s.blocks[id] { s.bytes -= old.data.count }
      s.blocks[id] = (data, s.tick)
      s.bytes += data.count
      while s.bytes > capacity, let victim = s.blocks.min(by: { $0.value.tick < $1.value.tick }) {
        s.blocks[victim.key] = nil
        s.bytes -= victim.value.data.count
      }
    }
  }

  public var usedBytes: Int { state.withLock { $0.bytes } }
}
