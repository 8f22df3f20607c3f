/// The present children of one kind of a folder in name (byte) order, with each one's
/// position: built once per listing of the folder, so a walk step (the next devices after this
/// one, the next files after this one) is a lookup instead of a sort of the whole folder.
struct FolderOrder: Sendable {
  let inos: [UInt64]
  let positions: [UInt64: Int]

  init(_ nodes: [Node]) { self.init(inos: nodes.map(\.ino)) }

  init(inos: [UInt64]) {
    self.inos = inos
    var positions: [UInt64: Int] = [:]
    positions.reserveCapacity(inos.count)
    for (i, ino) in inos.enumerated() { positions[ino] = i }
    self.positions = positions
  }

  /// Up to `limit` children after `ino`.
  func following(_ ino: UInt64, limit: Int) -> ArraySlice<UInt64> {
    guard let i = positions[ino] else { return [] }
    return inos[(i + 1)..<min(inos.count, i + 1 + limit)]
  }

  /// Whether `previous` comes right before `ino`.
  func isRightBefore(_ previous: UInt64, _ ino: UInt64) -> Bool {
    guard let p = positions[previous], let i = positions[ino] else { return false }
    return p + 1 == i
  }
}
