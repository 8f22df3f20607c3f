/// One node as the inode table stores it: 48 bytes, fixed size, no allocation. What does not
/// fit is in ``NodeExtras``, which few nodes need.
struct NodeRecord: Sendable {
  /// How the kind is stored: the common ones as a tag, the rest (kinds with a payload) in the
  /// node's extras.
  enum KindTag: UInt8, Sendable {
    case inExtras, session, log, other, scratch, rawDirectory, statusDirectory
  }

  struct Flags: OptionSet, Sendable {
    let rawValue: UInt8
    static let present = Flags(rawValue: 1)
    static let onServer = Flags(rawValue: 2)
    /// Reachable by name from its parent (a rename or a replacement detaches the old node).
    static let indexed = Flags(rawValue: 4)
    /// `etag` holds the ETag; otherwise it is empty or in the extras.
    static let packedETag = Flags(rawValue: 8)
    static let hasExtras = Flags(rawValue: 16)
  }

  // 8-byte fields first: Swift lays fields out in declaration order.
  var size: UInt64 = 0
  var mtime: Int64 = 0
  var etag = PackedETag(high: 0, low: 0)
  var parent: UInt32
  var name: NameArena.Slice
  /// Kernel references; only reported, never used to drop a node, so saturating at 2³² is harmless.
  var lookups: UInt32 = 0
  var kind: KindTag
  var flags: Flags

  static func tag(for kind: NodeKind) -> KindTag {
    switch kind {
    case .session: return .session
    case .object(.log): return .log
    case .object(.other): return .other
    case .object(.scratch): return .scratch
    case .rawDirectory: return .rawDirectory
    case .statusDirectory: return .statusDirectory
    case .root, .device, .object(.deviceFile), .object(.storedConfig), .object(.version), .statusFile, .byDate, .history:
      return .inExtras
    }
  }
}

/// The rare parts of a node: a kind with a payload (devices, device files, status files, the
/// root), a key that is not the parent's key plus the name, an ETag that does not pack, and
/// the ETag last served.
struct NodeExtras: Sendable {
  var kind: NodeKind?
  var key: String?
  var etag: String?
  var servedETag: String?

  var isEmpty: Bool { kind == nil && key == nil && etag == nil && servedETag == nil }
}
