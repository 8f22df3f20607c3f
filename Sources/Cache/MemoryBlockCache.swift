import Locking

/// Recently read and prefetched blocks in memory, least recently used evicted (O(1), from an
/// `LRUIndex`), bounded in bytes; blocks a sequential reader went through go first.
public final class MemoryBlockCache: Sendable {
  private struct State: Sendable {
    var blocks: [BlockID: [UInt8]] = [:]
    var order = LRUIndex<BlockID>()
    var bytes = 0
  }

  private let state = Locked(State())
  private let limit: Locked<Int>

  public init(capacity: Int) { limit = Locked(capacity) }

  /// The bound in bytes; it moves with the read-ahead (`resize`).
  public var capacity: Int { limit.withLock { $0 } }

  /// Sets the bound, evicting the least recently used blocks down to it.
  public func resize(to capacity: Int) {
    guard
      limit.withLock({ l -> Bool in
        defer { l = capacity }
        return l != capacity
      })
    else { return }
    state.withLock { s in
      while s.bytes > capacity, let victim = s.order.removeLeastRecent() {
        s.bytes -= s.blocks.removeValue(forKey: victim)?.count ?? 0
      }
    }
  }

  public func get(_ id: BlockID) -> [UInt8]? {
    state.withLock { s in
      guard let data = s.blocks[id] else { return nil }
      s.order.touch(id)
      return data
    }
  }

  /// A block its reader went through to the end: it goes first when room is needed, before
  /// any block fetched ahead and not read yet. The kernel's page cache holds what was read;
  /// without this, a block fetched ahead of a long copy was older than the blocks read just
  /// before it, and was evicted, and fetched again, before its turn came.
  public func readThrough(_ id: BlockID) {
    state.withLock { $0.order.makeOldest(id) }
  }

  /// Whether the block is here, without marking it as used.
  public func contains(_ id: BlockID) -> Bool {
    state.withLock { $0.blocks[id] != nil }
  }

  public func put(_ id: BlockID, _ data: [UInt8]) {
    let capacity = capacity
    state.withLock { s in
      if let old = s.blocks[id] { s.bytes -= old.count }
      s.blocks[id] = data
      s.order.touch(id)
      s.bytes += data.count
      while s.bytes > capacity, let victim = s.order.removeLeastRecent() {
        s.bytes -= s.blocks.removeValue(forKey: victim)?.count ?? 0
      }
    }
  }

  public var usedBytes: Int { state.withLock { $0.bytes } }
  public var blockCount: Int { state.withLock { $0.blocks.count } }
}
