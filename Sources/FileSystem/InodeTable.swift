/// Inode numbers and the directory tree. Numbers are never reused, and a path keeps its
/// number for the life of the mount, even if it vanishes from a listing and comes back.
struct InodeTable: Sendable {
  static let rootIno: UInt64 = 1
  private(set) var nodes: [UInt64: Node] = [:]
  /// Children of each directory by name, including names no longer present.
  private(set) var children: [UInt64: [NameKey: UInt64]] = [:]
  private var nextIno: UInt64 = 2

  init(rootPrefix: String) {
    nodes[Self.rootIno] = Node(ino: Self.rootIno, parent: Self.rootIno, name: "", kind: .root, key: rootPrefix)
  }

  subscript(ino: UInt64) -> Node? {
    get { nodes[ino] }
    set { nodes[ino] = newValue }
  }

  func child(of parent: UInt64, named name: String) -> Node? {
    children[parent]?[NameKey(name)].flatMap { nodes[$0] }
  }

  /// The number for `parent/name`, creating the node (or reviving a vanished one) if needed.
  @discardableResult
  mutating func upsert(parent: UInt64, name: String, kind: NodeKind, key: String, update: (inout Node) -> Void = { _ in })
    -> UInt64
  {
    if let ino = children[parent]?[NameKey(name)], var node = nodes[ino], node.kind == kind {
      node.present = true
      update(&node)
      nodes[ino] = node
      return ino
    }
    let ino = nextIno
    nextIno += 1
    var node = Node(ino: ino, parent: parent, name: name, kind: kind, key: key)
    update(&node)
    nodes[ino] = node
    children[parent, default: [:]][NameKey(name)] = ino
    return ino
  }

  /// Marks children not in `keep` as gone (their numbers stay reserved for their paths).
  /// Local scratch files are not the listing's to remove.
  mutating func retain(childrenOf parent: UInt64, keep: Set<NameKey>) {
    guard let names = children[parent] else { return }
    for (name, ino) in names where !keep.contains(name) && nodes[ino]?.kind != .object(.scratch) {
      nodes[ino]?.present = false
      nodes[ino]?.onServer = false
    }
  }

  /// A new inode for `parent/name` (the previous holder of the name keeps its number but
  /// leaves the folder).
  mutating func reserve(parent: UInt64, name: String, kind: NodeKind, key: String) -> UInt64 {
    let ino = nextIno
    nextIno += 1
    nodes[ino] = Node(ino: ino, parent: parent, name: name, kind: kind, key: key)
    if let previous = children[parent]?[NameKey(name)] { nodes[previous]?.present = false }
    children[parent, default: [:]][NameKey(name)] = ino
    return ino
  }

  /// Gives `ino` a new name in its folder, as the kernel does on rename: the inode moves to
  /// the new path, and whatever held that name before is detached.
  mutating func move(_ ino: UInt64, to newName: String, kind: NodeKind, key: String) {
    guard var node = nodes[ino] else { return }
    if let displaced = children[node.parent]?[NameKey(newName)], displaced != ino { nodes[displaced]?.present = false }
    children[node.parent]?[NameKey(node.name)] = nil
    node.name = newName
    node.kind = kind
    node.key = key
    node.present = true
    children[node.parent, default: [:]][NameKey(newName)] = ino
    nodes[ino] = node
  }

  func presentChildren(of parent: UInt64) -> [Node] {
    (children[parent] ?? [:]).values.compactMap { nodes[$0] }.filter(\.present).sorted { $0.name < $1.name }
  }

  var count: Int { nodes.count }
}
