/// Inode numbers and the directory tree. Numbers are never reused, and a path keeps its
/// number for the life of the mount, even if it vanishes from a listing and comes back.
struct InodeTable: Sendable {
  static let rootIno: UInt64 = 1
  private(set) var nodes: [UInt64: Node] = [:]
  /// Children of each directory by name, including names no longer present.
  private(set) var children: [UInt64: [String: UInt64]] = [:]
  private var nextIno: UInt64 = 2

  init(rootPrefix: String) {
    nodes[Self.rootIno] = Node(ino: Self.rootIno, parent: Self.rootIno, name: "", kind: .root, key: rootPrefix)
  }

  subscript(ino: UInt64) -> Node? {
    get { nodes[ino] }
    set { nodes[ino] = newValue }
  }

  func child(of parent: UInt64, named name: String) -> Node? {
    children[parent]?[name].flatMap { nodes[$0] }
  }

  /// The number for `parent/name`, creating the node (or reviving a vanished one) if needed.
  @discardableResult
  mutating func upsert(parent: UInt64, name: String, kind: NodeKind, key: String, update: (inout Node) -> Void = { _ in })
    -> UInt64
  {
    if let ino = children[parent]?[name], var node = nodes[ino], node.kind == kind {
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
    children[parent, default: [:]][name] = ino
    return ino
  }

  /// Marks children not in `keep` as gone (their numbers stay reserved for their paths).
  mutating func retain(childrenOf parent: UInt64, keep: Set<String>) {
    guard let names = children[parent] else { return }
    for (name, ino) in names where !keep.contains(name) {
      nodes[ino]?.present = false
    }
  }

  func presentChildren(of parent: UInt64) -> [Node] {
    (children[parent] ?? [:]).values.compactMap { nodes[$0] }.filter(\.present).sorted { $0.name < $1.name }
  }

  var count: Int { nodes.count }
}
