/// Inode numbers and the directory tree. Numbers are never reused, and a path keeps its
/// number for the life of the mount, even if it vanishes from a listing and comes back.
///
/// Packed for big fleets (about 100 bytes a listed object, see `metadataBytes`): fixed-size
/// records in one array indexed by inode number, names in one byte arena, keys derived from
/// the parent's key, ETags in 16 bytes, and a (parent, name) index that stores inode numbers
/// only. ``Node`` is the unpacked view callers read and write.
struct InodeTable: Sendable {
  static let rootIno: UInt64 = 1
  /// `records[ino - 1]`.
  private var records: [NodeRecord] = []
  private var names = NameArena()
  private var extras: [UInt32: NodeExtras] = [:]
  private var index = ChildIndex()
  /// Indexed children of each directory, for listing it.
  private var childLists: [UInt32: [UInt32]] = [:]
  /// The key of the folder last filled by `upsert` (a listing fills one folder at a time).
  private var recentParentKey: (ino: UInt32, key: String)?

  init(rootPrefix: String) {
    let ino = append(parent: UInt32(Self.rootIno), name: "", kind: .root)
    extras[ino, default: NodeExtras()].key = rootPrefix
    records[Int(ino) - 1].flags.insert(.hasExtras)
  }

  var count: Int { records.count }

  /// Bytes the table holds for its nodes (capacities, not just what is in use), for
  /// `.edgemount/status` and the memory target of about 200 bytes a listed object.
  var metadataBytes: Int {
    let extraBytes = extras.capacity * (MemoryLayout<UInt32>.stride + MemoryLayout<NodeExtras>.stride)
    let listBytes = childLists.values.reduce(0) { $0 + $1.capacity * MemoryLayout<UInt32>.stride }
    return records.capacity * MemoryLayout<NodeRecord>.stride + names.capacityBytes + index.capacityBytes + extraBytes
      + listBytes
  }

  subscript(ino: UInt64) -> Node? {
    get { position(ino).map { node(at: $0, parentKey: nil) } }
    set {
      guard let newValue, let i = position(ino) else { return }
      store(newValue, at: i)
    }
  }

  func child(of parent: UInt64, named name: String) -> Node? {
    find(parent: parent, name: name).map { node(at: Int($0) - 1, parentKey: nil) }
  }

  /// What `getattr` and `lookup` need of a node: no name or key is unpacked, no string built.
  struct Stat: Sendable, Equatable {
    var ino: UInt64
    var kind: NodeKind
    var size: UInt64
    var mtime: Int64
    var present: Bool
  }

  func stat(_ ino: UInt64) -> Stat? {
    guard let i = position(ino) else { return nil }
    let r = records[i]
    return Stat(ino: ino, kind: nodeKind(at: i), size: r.size, mtime: r.mtime, present: r.flags.contains(.present))
  }

  /// The inode of `parent/name`, by the hash index only.
  func childIno(of parent: UInt64, named name: String) -> UInt64? {
    find(parent: parent, name: name).map(UInt64.init)
  }

  /// The same for a name as the kernel hands it over (its UTF-8 bytes): no string is made.
  func childIno(of parent: UInt64, nameBytes: UnsafeRawBufferPointer) -> UInt64? {
    find(parent: parent, nameBytes: nameBytes).map(UInt64.init)
  }

  func kind(of ino: UInt64) -> NodeKind? { position(ino).map(nodeKind(at:)) }

  /// The node's S3 key (derived from its parents' unless stored).
  func key(of ino: UInt64) -> String? { position(ino).map(key(at:)) }

  /// What a listing or a create sets on a node through `upsert`, without unpacking it.
  struct Fields {
    var size: UInt64
    var mtime: Int64
    /// nil: unchanged.
    var etag: String?
    var present: Bool
    var onServer: Bool
    var lookups: UInt64
  }

  /// The number for `parent/name`, creating the node (or reviving a vanished one) if needed.
  /// An existing node keeps its key; `update` sets what the listing says.
  @discardableResult
  mutating func upsert(parent: UInt64, name: String, kind: NodeKind, key: String, update: (inout Fields) -> Void = { _ in })
    -> UInt64
  {
    let found = find(parent: parent, name: name)
    let ino: UInt32
    if let found, nodeKind(at: Int(found) - 1) == kind {
      ino = found
      records[Int(ino) - 1].flags.insert(.present)
    } else {
      if let found { unindex(found) }
      ino = append(parent: UInt32(parent), name: name, kind: kind)
      if !isDerived(key: key, at: Int(ino) - 1) {
        updateExtras(at: Int(ino) - 1) { $0.key = key }
      }
    }
    let i = Int(ino) - 1
    let r = records[i]
    var fields = Fields(
      size: r.size, mtime: r.mtime, etag: nil, present: r.flags.contains(.present), onServer: r.flags.contains(.onServer),
      lookups: UInt64(r.lookups))
    update(&fields)
    records[i].size = fields.size
    records[i].mtime = fields.mtime
    records[i].lookups = UInt32(clamping: fields.lookups)
    records[i].flags.subtract([.present, .onServer])
    if fields.present { records[i].flags.insert(.present) }
    if fields.onServer { records[i].flags.insert(.onServer) }
    if let etag = fields.etag { setETag(etag, at: i) }
    return UInt64(ino)
  }

  /// Marks children whose numbers are not in `keep` as gone (their numbers stay reserved for their paths).
  /// Local scratch files are not the listing's to remove.
  mutating func retain(childrenOf parent: UInt64, keep: Set<UInt64>) {
    guard let list = childLists[UInt32(parent)] else { return }
    for ino in list {
      let i = Int(ino) - 1
      guard records[i].kind != .scratch, !keep.contains(UInt64(ino)) else { continue }
      records[i].flags.subtract([.present, .onServer])
    }
  }

  /// A new inode for `parent/name` (the previous holder of the name keeps its number but
  /// leaves the folder).
  mutating func reserve(parent: UInt64, name: String, kind: NodeKind, key: String) -> UInt64 {
    if let previous = find(parent: parent, name: name) {
      records[Int(previous) - 1].flags.remove(.present)
      unindex(previous)
    }
    let ino = append(parent: UInt32(parent), name: name, kind: kind)
    var node = self[UInt64(ino)]!
    node.key = key
    store(node, at: Int(ino) - 1)
    return UInt64(ino)
  }

  /// Gives `ino` a new name in its folder, as the kernel does on rename: the inode moves to
  /// the new path, and whatever held that name before is detached.
  mutating func move(_ ino: UInt64, to newName: String, kind: NodeKind, key: String) {
    guard let i = position(ino), var node = self[ino] else { return }
    recentParentKey = nil
    let parent = UInt64(records[i].parent)
    if let displaced = find(parent: parent, name: newName), displaced != UInt32(ino) {
      records[Int(displaced) - 1].flags.remove(.present)
      unindex(displaced)
    }
    if records[i].flags.contains(.indexed) { unindex(UInt32(ino)) }
    records[i].name = names.append(newName)
    setKind(kind, at: i)
    indexNode(UInt32(ino))
    node = self[ino]!
    node.key = key
    node.present = true
    store(node, at: i)
  }

  func presentChildren(of parent: UInt64) -> [Node] {
    guard let list = childLists[UInt32(parent)], let parentIndex = position(parent) else { return [] }
    let parentKey = key(at: parentIndex)
    return list.compactMap { ino -> Node? in
      let i = Int(ino) - 1
      return records[i].flags.contains(.present) ? node(at: i, parentKey: parentKey) : nil
    }.sorted { $0.name < $1.name }
  }

  /// Counts kernel references without unpacking the node (the hot path of lookup and readdirplus).
  mutating func addLookups(_ ino: UInt64, _ count: UInt64) {
    guard let i = position(ino) else { return }
    let sum = UInt64(records[i].lookups) + count
    records[i].lookups = UInt32(clamping: sum)
  }

  mutating func dropLookups(_ ino: UInt64, _ count: UInt64) {
    guard let i = position(ino) else { return }
    records[i].lookups = UInt32(clamping: UInt64(records[i].lookups) - min(count, UInt64(records[i].lookups)))
  }

  // MARK: Packing

  private func position(_ ino: UInt64) -> Int? {
    ino >= 1 && ino <= UInt64(records.count) ? Int(ino - 1) : nil
  }

  /// A new record, indexed under its parent. Inode numbers fit 32 bits: four billion paths
  /// would need far more memory than any machine this runs on before the numbers ran out.
  private mutating func append(parent: UInt32, name: String, kind: NodeKind) -> UInt32 {
    precondition(records.count < Int(UInt32.max - 1), "inode numbers exhausted")
    let ino = UInt32(records.count + 1)
    records.append(NodeRecord(parent: parent, name: names.append(name), kind: .inExtras, flags: [.present]))
    setKind(kind, at: Int(ino) - 1)
    if ino != UInt32(Self.rootIno) { indexNode(ino) }
    return ino
  }

  private mutating func setKind(_ kind: NodeKind, at i: Int) {
    let tag = NodeRecord.tag(for: kind)
    records[i].kind = tag
    updateExtras(at: i) { $0.kind = tag == .inExtras ? kind : nil }
  }

  private mutating func updateExtras(at i: Int, _ change: (inout NodeExtras) -> Void) {
    let ino = UInt32(i + 1)
    var value = extras[ino] ?? NodeExtras()
    change(&value)
    if value.isEmpty {
      extras[ino] = nil
      records[i].flags.remove(.hasExtras)
    } else {
      extras[ino] = value
      records[i].flags.insert(.hasExtras)
    }
  }

  private func extrasOf(_ i: Int) -> NodeExtras? {
    records[i].flags.contains(.hasExtras) ? extras[UInt32(i + 1)] : nil
  }

  private func nodeKind(at i: Int) -> NodeKind {
    switch records[i].kind {
    case .session: return .session
    case .log: return .object(.log)
    case .other: return .object(.other)
    case .scratch: return .object(.scratch)
    case .rawDirectory: return .rawDirectory
    case .statusDirectory: return .statusDirectory
    case .inExtras: return extrasOf(i)?.kind ?? .object(.other)
    }
  }

  /// The key the node has unless told otherwise: its parent's key and its name, with a `/` for
  /// folders. The root's key is always stored.
  private func derivedKey(at i: Int, parentKey: String?) -> String {
    let parentKey = parentKey ?? key(at: Int(records[i].parent) - 1)
    return parentKey + names.string(records[i].name) + (nodeKind(at: i).isDirectory ? "/" : "")
  }

  /// Whether `key` is the one the node would derive, checked without building it.
  private mutating func isDerived(key: String, at i: Int) -> Bool {
    guard i != 0 else { return false }
    let parent = records[i].parent
    let parentKey: String
    if let recent = recentParentKey, recent.ino == parent {
      parentKey = recent.key
    } else {
      parentKey = self.key(at: Int(parent) - 1)
      recentParentKey = (parent, parentKey)
    }
    let name = records[i].name
    let slash = nodeKind(at: i).isDirectory ? 1 : 0
    let bytes = key.utf8
    guard bytes.count == parentKey.utf8.count + Int(name.length) + slash, bytes.starts(with: parentKey.utf8) else {
      return false
    }
    let rest = bytes.dropFirst(parentKey.utf8.count)
    guard names.equals(name, rest.prefix(Int(name.length))) else { return false }
    return slash == 0 || rest.last == UInt8(ascii: "/")
  }

  private mutating func setETag(_ etag: String, at i: Int) {
    if let packed = PackedETag(etag) {
      records[i].etag = packed
      records[i].flags.insert(.packedETag)
      if extrasOf(i)?.etag != nil { updateExtras(at: i) { $0.etag = nil } }
    } else {
      records[i].flags.remove(.packedETag)
      if extrasOf(i)?.etag != (etag.isEmpty ? nil : etag) { updateExtras(at: i) { $0.etag = etag.isEmpty ? nil : etag } }
    }
  }

  private func key(at i: Int) -> String {
    extrasOf(i)?.key ?? derivedKey(at: i, parentKey: nil)
  }

  private func node(at i: Int, parentKey: String?) -> Node {
    let r = records[i]
    let more = extrasOf(i)
    var node = Node(
      ino: UInt64(i + 1), parent: UInt64(r.parent), name: names.string(r.name), kind: nodeKind(at: i),
      key: more?.key ?? derivedKey(at: i, parentKey: parentKey))
    node.size = r.size
    node.mtime = r.mtime
    node.etag = r.flags.contains(.packedETag) ? r.etag.string : more?.etag ?? ""
    node.servedETag = more?.servedETag
    node.present = r.flags.contains(.present)
    node.onServer = r.flags.contains(.onServer)
    node.lookups = UInt64(r.lookups)
    return node
  }

  /// Writes a node back. Its name and parent are the table's to change (`move`).
  private mutating func store(_ node: Node, at i: Int) {
    recentParentKey = nil
    records[i].size = node.size
    records[i].mtime = node.mtime
    records[i].lookups = UInt32(clamping: node.lookups)
    var flags = records[i].flags.subtracting([.present, .onServer, .packedETag])
    if node.present { flags.insert(.present) }
    if node.onServer { flags.insert(.onServer) }
    let packed = PackedETag(node.etag)
    if let packed {
      records[i].etag = packed
      flags.insert(.packedETag)
    }
    records[i].flags = flags
    if NodeRecord.tag(for: node.kind) != records[i].kind || records[i].kind == .inExtras && extrasOf(i)?.kind != node.kind {
      setKind(node.kind, at: i)
    }
    let explicitKey: String? = i != 0 && node.key == derivedKey(at: i, parentKey: nil) ? nil : node.key
    let etagString = packed == nil && !node.etag.isEmpty ? node.etag : nil
    let current = extrasOf(i)
    if etagString != current?.etag || node.servedETag != current?.servedETag || explicitKey != current?.key {
      updateExtras(at: i) {
        $0.etag = etagString
        $0.servedETag = node.servedETag
        $0.key = explicitKey
      }
    }
  }

  // MARK: The (parent, name) index

  private func hash(parent: UInt32, nameBytes: UnsafeRawBufferPointer) -> Int {
    var hasher = Hasher()
    hasher.combine(parent)
    hasher.combine(bytes: nameBytes)
    return hasher.finalize()
  }

  private func hash(of ino: UInt32) -> Int {
    Self.hash(records[Int(ino) - 1], names)
  }

  private static func hash(_ record: NodeRecord, _ names: NameArena) -> Int {
    var hasher = Hasher()
    hasher.combine(record.parent)
    names.hash(record.name, into: &hasher)
    return hasher.finalize()
  }

  private func find(parent: UInt64, nameBytes: UnsafeRawBufferPointer) -> UInt32? {
    guard parent <= UInt64(UInt32.max) else { return nil }
    let parent = UInt32(parent)
    return index.find(hash: hash(parent: parent, nameBytes: nameBytes)) { ino in
      let r = records[Int(ino) - 1]
      return r.parent == parent && names.equals(r.name, nameBytes)
    }
  }

  private func find(parent: UInt64, name: String) -> UInt32? {
    var name = name
    return name.withUTF8 { find(parent: parent, nameBytes: UnsafeRawBufferPointer($0)) }
  }

  private mutating func indexNode(_ ino: UInt32) {
    let h = hash(of: ino)
    do {
      // The closure must not capture `self`: a second reference to `index` would make the
      // insert copy the whole slot array. These copies end with the block, before `records`
      // is written again (else that write would copy the records).
      let storedRecords = records
      let storedNames = names
      index.insert(ino, hash: h) { Self.hash(storedRecords[Int($0) - 1], storedNames) }
    }
    records[Int(ino) - 1].flags.insert(.indexed)
    childLists[records[Int(ino) - 1].parent, default: []].append(ino)
  }

  private mutating func unindex(_ ino: UInt32) {
    let i = Int(ino) - 1
    guard records[i].flags.contains(.indexed) else { return }
    index.remove(ino, hash: hash(of: ino))
    records[i].flags.remove(.indexed)
    childLists[records[i].parent]?.removeAll { $0 == ino }
  }
}
