/// One stored copy of a log file in a session: what a listing says about it.
public struct SplitCopy: Sendable, Equatable {
  public var name: String
  public var logName: LogFileName
  public var size: UInt64
  public var etag: String

  public init(name: String, logName: LogFileName, size: UInt64, etag: String) {
    self.name = name
    self.logName = logName
    self.size = size
    self.etag = etag
  }

  /// Whether two copies are the same object: same size, and the same ETag where both are
  /// plain MD5s (a multipart ETag says nothing about the content).
  public func isSameObject(as other: SplitCopy) -> Bool {
    guard size == other.size else { return false }
    if etag.isPlainMD5, other.etag.isPlainMD5 { return etag.lowercased() == other.etag.lowercased() }
    return true
  }
}

/// The result of folding a session's copies: what the view shows and what it folded away.
public struct FoldedSession: Sendable, Equatable {
  /// The copies shown, ordered by split then epoch.
  public var shown: [SplitCopy] = []
  /// Copies hidden because an identical lower-epoch copy is shown: (hidden copy, the one shown).
  public var folded: [(hidden: SplitCopy, keeper: SplitCopy)] = []
  /// Splits with copies that differ; all of them are shown.
  public var conflicts: [[SplitCopy]] = []

  public init() {}

  public static func == (a: FoldedSession, b: FoldedSession) -> Bool {
    a.shown == b.shown && a.conflicts == b.conflicts
      && a.folded.map(\.hidden) == b.folded.map(\.hidden) && a.folded.map(\.keeper) == b.folded.map(\.keeper)
  }
}

/// Folds duplicate uploads of one split (same SESSION and SPLIT, different EPOCH), the way the
/// CANedge documentation says to treat them: the lowest-epoch copy stands for the others, but
/// only copies that are the same object are folded; differing copies all stay visible.
public enum SplitFolding {
  public static func fold(_ copies: [SplitCopy]) -> FoldedSession {
    // One sort puts each split's copies side by side, lowest epoch first; one pass then folds.
    let ordered = copies.sorted {
      ($0.logName.split, $0.logName.fileExtension, $0.logName.epoch, $0.name)
        < ($1.logName.split, $1.logName.fileExtension, $1.logName.epoch, $1.name)
    }
    var result = FoldedSession()
    result.shown.reserveCapacity(ordered.count)
    var start = 0
    while start < ordered.count {
      var end = start + 1
      while end < ordered.count, ordered[end].logName.split == ordered[start].logName.split,
        ordered[end].logName.fileExtension == ordered[start].logName.fileExtension
      {
        end += 1
      }
      var keepers: [SplitCopy] = []
      for copy in ordered[start..<end] {
        if let keeper = keepers.first(where: { $0.isSameObject(as: copy) }) {
          result.folded.append((copy, keeper))
        } else {
          keepers.append(copy)
        }
      }
      result.shown += keepers
      if keepers.count > 1 { result.conflicts.append(keepers) }
      start = end
    }
    result.shown.sort { ($0.logName.split, $0.logName.epoch, $0.name) < ($1.logName.split, $1.logName.epoch, $1.name) }
    return result
  }
}

extension String {
  /// 32 hex digits: an ETag that is the MD5 of the content (not multipart, not SSE-KMS).
  public var isPlainMD5: Bool { utf8.count == 32 && utf8.allSatisfy(\.isHexDigit) }
}
