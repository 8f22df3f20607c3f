/// Finds a node by (parent, name) in 8 bytes per node: an open-addressing hash table of inode
/// numbers only. The table does not store keys; the caller hashes and compares through the
/// node records, so the names live once, in the arena.
struct ChildIndex: Sendable {
  private static let empty: UInt32 = 0
  private static let removed: UInt32 = .max
  private var slots = [UInt32](repeating: 0, count: 16)
  private var used = 0
  private var removedCount = 0

  /// The inode whose entry satisfies `matches`, among those stored under `hash`.
  func find(hash: Int, matches: (UInt32) -> Bool) -> UInt32? {
    let mask = slots.count - 1
    var i = hash & mask
    while true {
      let slot = slots[i]
      if slot == Self.empty { return nil }
      if slot != Self.removed && matches(slot) { return slot }
      i = (i + 1) & mask
    }
  }

  /// Adds `ino` (not already present). `rehash` gives the hash of any stored inode, for growing.
  mutating func insert(_ ino: UInt32, hash: Int, rehash: (UInt32) -> Int) {
    precondition(ino != Self.empty && ino != Self.removed)
    if (used + removedCount + 1) * 2 > slots.count { resize(rehash: rehash) }
    let mask = slots.count - 1
    var i = hash & mask
    while slots[i] != Self.empty && slots[i] != Self.removed { i = (i + 1) & mask }
    if slots[i] == Self.removed { removedCount -= 1 }
    slots[i] = ino
    used += 1
  }

  mutating func remove(_ ino: UInt32, hash: Int) {
    let mask = slots.count - 1
    var i = hash & mask
    while slots[i] != Self.empty {
      if slots[i] == ino {
        slots[i] = Self.removed
        used -= 1
        removedCount += 1
        return
      }
      i = (i + 1) & mask
    }
  }

  /// Rebuilt a third full when it gets half full, so probes stay short; removed slots go.
  private mutating func resize(rehash: (UInt32) -> Int) {
    var size = 16
    while size < (used + 1) * 3 { size *= 2 }
    let old = slots
    slots = [UInt32](repeating: Self.empty, count: size)
    removedCount = 0
    let mask = size - 1
    for ino in old where ino != Self.empty && ino != Self.removed {
      var i = rehash(ino) & mask
      while slots[i] != Self.empty { i = (i + 1) & mask }
      slots[i] = ino
    }
  }

  var count: Int { used }
  var capacityBytes: Int { slots.capacity * MemoryLayout<UInt32>.stride }
}
