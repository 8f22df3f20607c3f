/// Which stored copies `edgemount dedupe` removes: in every session, the copies that duplicate
/// folding hides (identical to a lower-epoch copy that stays). Differing copies are kept.
public struct DedupePlan: Sendable, Equatable {
  /// One copy to delete, and the copy that stays in its place.
  public struct Removal: Sendable, Equatable {
    public var key: String
    public var size: UInt64
    public var keptKey: String
  }

  public private(set) var removals: [Removal] = []
  /// Splits with differing copies, left alone (by the kept keys).
  public private(set) var conflicts: [[String]] = []

  public var bytes: UInt64 { removals.reduce(0) { $0 + $1.size } }

  /// Builds the plan from a flat listing of keys below `rootPrefix` (`""` for the whole bucket).
  public init(objects: [(key: String, size: UInt64, etag: String)], rootPrefix: String = "") {
    var sessions: [String: [SplitCopy]] = [:]
    for object in objects {
      guard object.key.hasPrefix(rootPrefix) else { continue }
      let parts = object.key.dropFirst(rootPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
      guard parts.count == 3, DeviceID(parts[0]) != nil, parts[1].utf8.count == 8,
        parts[1].utf8.allSatisfy({ (48...57).contains($0) }),
        let logName = LogFileName(parts[2])
      else { continue }
      let session = rootPrefix + parts[0] + "/" + parts[1] + "/"
      sessions[session, default: []].append(
        SplitCopy(name: String(parts[2]), logName: logName, size: object.size, etag: object.etag))
    }
    for session in sessions.keys.sorted() {
      let fold = SplitFolding.fold(sessions[session]!)
      for (hidden, keeper) in fold.folded {
        removals.append(Removal(key: session + hidden.name, size: hidden.size, keptKey: session + keeper.name))
      }
      for group in fold.conflicts { conflicts.append(group.map { session + $0.name }) }
    }
  }
}
