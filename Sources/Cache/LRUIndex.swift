/// Keys in the order of their last use: touching, inserting, removing a key and taking the
/// least recently used one are all O(1) (a doubly linked list threaded through an array, with a
/// dictionary from key to slot). The caches evict from it instead of sorting their entries.
public struct LRUIndex<Key: Hashable & Sendable>: Sendable {
  private struct Slot: Sendable {
    var key: Key
    var newer: Int
    var older: Int
  }
  private var slots: [Slot] = []
  private var freeSlots: [Int] = []
  private var positions: [Key: Int] = [:]
  /// Most and least recently used slots; -1 when empty.
  private var newest = -1
  private var oldest = -1

  public init() {}

  public var count: Int { positions.count }

  /// Marks `key` as just used, adding it if it is new.
  public mutating func touch(_ key: Key) {
    if let i = positions[key] {
      guard i != newest else { return }
      unlink(i)
      pushNewest(i)
      return
    }
    let slot = Slot(key: key, newer: -1, older: -1)
    let i: Int
    if let reused = freeSlots.popLast() {
      slots[reused] = slot
      i = reused
    } else {
      slots.append(slot)
      i = slots.count - 1
    }
    positions[key] = i
    pushNewest(i)
  }

  /// Marks `key` as the next to go (the least recently used), if it is here.
  public mutating func makeOldest(_ key: Key) {
    guard let i = positions[key], i != oldest else { return }
    unlink(i)
    slots[i].newer = oldest
    slots[i].older = -1
    if oldest >= 0 { slots[oldest].older = i }
    oldest = i
    if newest < 0 { newest = i }
  }

  public mutating func remove(_ key: Key) {
    guard let i = positions.removeValue(forKey: key) else { return }
    unlink(i)
    freeSlots.append(i)
  }

  /// Takes the least recently used key out.
  public mutating func removeLeastRecent() -> Key? {
    guard oldest >= 0 else { return nil }
    let key = slots[oldest].key
    remove(key)
    return key
  }

  private mutating func unlink(_ i: Int) {
    let (newer, older) = (slots[i].newer, slots[i].older)
    if newer >= 0 { slots[newer].older = older } else { newest = older }
    if older >= 0 { slots[older].newer = newer } else { oldest = newer }
    slots[i].newer = -1
    slots[i].older = -1
  }

  private mutating func pushNewest(_ i: Int) {
    slots[i].older = newest
    slots[i].newer = -1
    if newest >= 0 { slots[newest].newer = i }
    newest = i
    if oldest < 0 { oldest = i }
  }
}

/// A dictionary of at most `limit` entries, the least recently used dropped first: the mount's
/// small caches (heartbeats, CRCs, metadata, certificates) stay bounded however large the fleet.
public struct BoundedCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  public let limit: Int
  private var values: [Key: Value] = [:]
  private var order = LRUIndex<Key>()

  public init(limit: Int) {
    precondition(limit > 0)
    self.limit = limit
  }

  public var count: Int { values.count }

  /// The value, marked as used.
  public subscript(key: Key) -> Value? {
    mutating get {
      guard let value = values[key] else { return nil }
      order.touch(key)
      return value
    }
    set {
      guard let newValue else {
        values[key] = nil
        order.remove(key)
        return
      }
      values[key] = newValue
      order.touch(key)
      while values.count > limit, let victim = order.removeLeastRecent() { values[victim] = nil }
    }
  }

  /// The value without marking it as used.
  public func peek(_ key: Key) -> Value? { values[key] }
}
