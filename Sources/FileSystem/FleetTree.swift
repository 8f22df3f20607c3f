import CANedge
import Cache
import Locking
import Logging
import S3

/// The fleet's namespace and its listing cache: the inode table, when each folder was last
/// listed (the TTLs), the walk order used to list and read ahead, the folded copies of each
/// session, and the names whose DELETE is waiting. It owns that state and its lock; the other
/// collaborators change nodes through its methods. Listing a folder from S3 is its job too
/// (`FleetTree+Listing.swift`), once however many threads ask.
final class FleetTree: CorePart, Sendable {
  struct State: Sendable {
    var table: InodeTable
    /// When each folder was last listed.
    var listedAt: [UInt64: ContinuousClock.Instant] = [:]
    /// Folding results per session folder, for `.edgemount/duplicates` and `rm` of a log.
    var folds: [UInt64: FoldedSession] = [:]
    /// Server files unlinked with `--allow-delete` whose DELETE waits a moment: a listing
    /// keeps their name hidden meanwhile.
    var deletePending: Set<UInt64> = []
    /// When a device folder (or the fleet folder) was last read: a walk through the fleet
    /// reads them in a row.
    var lastDeviceListing: (ino: UInt64, at: ContinuousClock.Instant)?
    /// The log file last opened in each session (a copy walks them in name order).
    var lastOpened = BoundedCache<UInt64, UInt64>(limit: 4096)
    /// Device folders of the root, and log files of sessions, in name order: dropped at each
    /// listing of the folder, built again on the next walk step.
    var folderOrders = BoundedCache<UInt64, FolderOrder>(limit: 1024)
    /// Sessions last read through a `.by-date/` folder, with that folder's logs in order: a
    /// copy of a day walks those, not the whole session (dropped when the session folder
    /// itself is read).
    var dayViews = BoundedCache<UInt64, FolderOrder>(limit: 1024)
    /// For each session of the `.by-date/` day placed last, the session after it in that day's
    /// folder order (devices, then sessions, by name) with its logs of the day: a copy of the
    /// day reads ahead into it.
    var dayNext = BoundedCache<UInt64, (session: UInt64, logs: FolderOrder)>(limit: 4096)
  }

  let context: CoreContext
  /// The lane that lists folders ahead of a walk.
  let fetcher: BlockFetcher
  /// `--decode`: compressed and encrypted logs shown as the MF4 inside.
  let decoded: DecodedLogs?
  private let state: Locked<State>
  /// Listings under way, so a folder is listed once however many threads ask.
  let flights = FlightTable<UInt64, FSError?>()

  init(table: InodeTable, context: CoreContext, fetcher: BlockFetcher, decoded: DecodedLogs? = nil) {
    state = Locked(State(table: table))
    self.context = context
    self.fetcher = fetcher
    self.decoded = decoded
  }

  /// The listing state, for this type's own files only.
  func withState<R, Failure: Error>(_ body: (inout State) throws(Failure) -> R) throws(Failure) -> R {
    try state.withLock(body)
  }

  // MARK: Nodes

  func node(_ ino: UInt64) throws(FSError) -> Node {
    guard let node = state.withLock({ $0.table[ino] }) else { throw .notFound }
    return node
  }

  func existingNode(_ ino: UInt64) -> Node? { state.withLock { $0.table[ino] } }
  func stat(_ ino: UInt64) -> InodeTable.Stat? { state.withLock { $0.table.stat(ino) } }
  func kind(of ino: UInt64) -> NodeKind? { state.withLock { $0.table.kind(of: ino) } }
  func child(of parent: UInt64, named name: String) -> Node? { state.withLock { $0.table.child(of: parent, named: name) } }
  func presentChildren(of parent: UInt64) -> [Node] { state.withLock { $0.table.presentChildren(of: parent) } }
  var count: Int { state.withLock { $0.table.count } }

  /// The present child `name` of `parent`, counted as one kernel reference; nil if absent.
  func lookUp(parent: UInt64, name: String) -> InodeTable.Stat? {
    state.withLock { s in
      guard let ino = s.table.childIno(of: parent, named: name), let stat = s.table.stat(ino), stat.present else {
        return nil
      }
      s.table.addLookups(ino, 1)
      return stat
    }
  }

  /// As `lookUp`, by the name's bytes as the kernel gives them (no `String` built).
  func lookUp(parent: UInt64, nameBytes: UnsafeRawBufferPointer) -> InodeTable.Stat? {
    state.withLock { s in
      guard let ino = s.table.childIno(of: parent, nameBytes: nameBytes), let stat = s.table.stat(ino), stat.present
      else { return nil }
      s.table.addLookups(ino, 1)
      return stat
    }
  }

  func addLookups(_ ino: UInt64, _ count: UInt64) { state.withLock { $0.table.addLookups(ino, count) } }
  func dropLookups(_ ino: UInt64, _ count: UInt64) { state.withLock { $0.table.dropLookups(ino, count) } }

  /// Changes one node, if it exists.
  func update(_ ino: UInt64, _ change: (inout Node) -> Void) {
    state.withLock { s in
      guard var node = s.table[ino] else { return }
      change(&node)
      s.table[ino] = node
    }
  }

  /// A change of the namespace made in one step (creating, moving or reserving names).
  func withTable<R>(_ body: (inout InodeTable) -> R) -> R { state.withLock { body(&$0.table) } }

  /// Whether `node` still holds its name (a rename onto the name displaces it).
  func isCurrent(_ node: Node) -> Bool {
    state.withLock { $0.table.child(of: node.parent, named: node.name)?.ino == node.ino }
  }

  /// Inodes, their metadata bytes and folders listed, for `.edgemount/status`.
  var sizes: (inodes: Int, metadataBytes: Int, listed: Int) {
    state.withLock { ($0.table.count, $0.table.metadataBytes, $0.listedAt.count) }
  }

  /// The walk caches' sizes and bounds, for `.edgemount/status`.
  var cacheSizes: [(String, Int, Int)] {
    state.withLock { s in
      [
        ("sessions_read_ahead", s.lastOpened.count, s.lastOpened.limit),
        ("folder_orders", s.folderOrders.count, s.folderOrders.limit),
      ]
    }
  }

  // MARK: Listings

  /// The next listing of `ino` goes to S3 (a 412 while reading: the object changed).
  func forgetListing(_ ino: UInt64) { _ = state.withLock { $0.listedAt.removeValue(forKey: ino) } }

  /// A log is gone from its session (deleted with `--allow-delete`).
  func logDeleted(_ log: UInt64, from session: UInt64) {
    state.withLock { s in
      s.folderOrders[session] = nil
      s.table[log]?.present = false
      s.listedAt[session] = nil
    }
  }

  /// The fleet folder was read: a device folder read soon after is a step of a walk.
  func rootWasRead() { state.withLock { $0.lastDeviceListing = (FleetFileSystem.rootIno, clock.instant()) } }

  /// The folding result of a session.
  func folds(of session: UInt64) -> FoldedSession? { state.withLock { $0.folds[session] } }
  /// Every session's folding result, with the session node.
  func allFolds() -> [(Node, FoldedSession)] {
    state.withLock { s in s.folds.compactMap { ino, fold in s.table[ino].map { ($0, fold) } } }
  }

  /// The folder's devices or logs in name order, built if needed.
  static func folderOrder(_ s: inout State, _ folder: UInt64) -> FolderOrder {
    if let order = s.folderOrders[folder] { return order }
    let order = FolderOrder(
      s.table.presentChildren(of: folder).filter {
        switch $0.kind {
        case .device, .session, .object(.log): return true
        default: return false
        }
      })
    s.folderOrders[folder] = order
    return order
  }

  /// The other device files (config, device.json, schema, certificates) of `file`'s folder
  /// that are on the server and at most `maxBytes`, in name order, at most `limit`.
  func deviceFiles(besides file: Node, maxBytes: Int, limit: Int) -> [Node] {
    state.withLock { s in
      let files = s.table.presentChildren(of: file.parent).filter { n in
        guard case .object(.deviceFile) = n.kind, n.ino != file.ino, n.onServer else { return false }
        return n.size <= UInt64(maxBytes)
      }
      return Array(files.sorted { $0.name < $1.name }.prefix(limit))
    }
  }

  /// `log` was opened: when it follows the session's last opened log in name order (a copy
  /// walking the session), or is the first log of a session that follows one whose last log was
  /// just opened (a copy walking the device), the next `limit` logs: the rest of this session,
  /// then the logs of the next listed sessions of the device. Else none.
  ///
  /// With `guess` (far from the server), the first log of a session opened before any walk is
  /// seen gets its next `limit` logs too, marked as a guess: a copy of one session would
  /// otherwise wait for the second log's own GETs before the walk shows.
  func logsAfterOpening(_ log: Node, limit: Int, guess: Bool = false) -> (logs: [Node], guessed: Bool) {
    state.withLock { s -> (logs: [Node], guessed: Bool) in
      defer { s.lastOpened[log.parent] = log.ino }
      if let day = s.dayViews[log.parent], day.positions[log.ino] != nil {
        // A copy of a `.by-date/` day: the day's logs of this session, then those of the day's
        // next sessions, nothing else.
        let walking = s.lastOpened[log.parent].map { day.isRightBefore($0, log.ino) } ?? (day.inos.first == log.ino)
        guard walking else { return ([], false) }
        let next = Self.onward(day.following(log.ino, limit: limit), from: log.parent, limit: limit) { session in
          s.dayNext[session].map { ($0.session, $0.logs.inos) }
        }
        return (next.compactMap { s.table[$0] }, false)
      }
      let order = Self.folderOrder(&s, log.parent)
      let walking: Bool
      if let previous = s.lastOpened[log.parent] {
        walking = order.isRightBefore(previous, log.ino)
      } else {
        walking = order.inos.first == log.ino && Self.previousSessionEnded(&s, session: log.parent)
        if !walking && guess && order.inos.first == log.ino {
          return (order.following(log.ino, limit: limit).compactMap { s.table[$0] }, true)
        }
      }
      guard walking else { return ([], false) }
      // On into the next sessions of the device, as far as they are listed.
      let next = Self.onward(order.following(log.ino, limit: limit), from: log.parent, limit: limit) { session in
        guard let device = s.table[session]?.parent,
          let following = Self.folderOrder(&s, device).following(session, limit: 1).first,
          s.table[following]?.kind == .session
        else { return nil }
        let logs = Self.folderOrder(&s, following).inos
        return logs.isEmpty ? nil : (following, logs)
      }
      return (next.compactMap { s.table[$0] }, false)
    }
  }

  /// `first`, then the logs of the sessions after `session` one after another (`nextSession`
  /// gives a session's next, with its logs in order, or nil to stop), up to `limit` logs. A
  /// session comes once, whatever `nextSession` says.
  static func onward(
    _ first: ArraySlice<UInt64>, from session: UInt64, limit: Int,
    _ nextSession: (UInt64) -> (session: UInt64, logs: [UInt64])?
  ) -> [UInt64] {
    var next = Array(first)
    var session = session
    var seen: Set<UInt64> = [session]
    while next.count < limit, let following = nextSession(session), seen.insert(following.session).inserted {
      next += following.logs.prefix(limit - next.count)
      session = following.session
    }
    return next
  }

  /// `.by-date/` showed `logs` (in split order) of `session`: a walk of it reads ahead only those.
  func readThroughDay(session: UInt64, logs: [UInt64]) {
    state.withLock { $0.dayViews[session] = FolderOrder(inos: logs) }
  }

  /// A `.by-date/` day was placed: its sessions with their logs of the day, in the day's folder
  /// order. A copy of the day reads ahead from each session into the next.
  func placedDay(_ sessions: [(session: UInt64, logs: [UInt64])]) {
    state.withLock { s in
      for (current, next) in zip(sessions, sessions.dropFirst()) {
        s.dayNext[current.session] = (next.session, FolderOrder(inos: next.logs))
      }
    }
  }

  /// The session folder itself was read: a walk of it reads ahead its own logs.
  func readSessionFolder(_ session: UInt64) {
    state.withLock { s in if s.dayViews[session] != nil { s.dayViews[session] = nil } }
  }

  /// Whether the last log opened in the session before `session` (in the device's name order)
  /// was that session's last: a walk of the device that is now entering `session`.
  private static func previousSessionEnded(_ s: inout State, session: UInt64) -> Bool {
    guard let device = s.table[session]?.parent else { return false }
    let sessions = folderOrder(&s, device)
    guard let i = sessions.positions[session], i > 0 else { return false }
    let previous = sessions.inos[i - 1]
    guard let opened = s.lastOpened[previous] else { return false }
    return folderOrder(&s, previous).inos.last == opened
  }

  // MARK: Deletes that wait

  /// The name goes now; its DELETE waits (`SaveCoordinator`).
  func hideForDelete(_ ino: UInt64) {
    state.withLock { s in
      s.table[ino]?.present = false
      s.deletePending.insert(ino)
    }
  }

  /// A save of the name took the place of its waiting DELETE.
  func cancelDelete(_ ino: UInt64) { _ = state.withLock { $0.deletePending.remove(ino) } }

  /// The node whose DELETE is due, unless a save of its name took its place.
  func takeDueDelete(_ ino: UInt64) -> Node? {
    state.withLock { s in
      guard s.deletePending.remove(ino) != nil, let n = s.table[ino], !n.present else { return nil }
      return n
    }
  }

  var pendingDeletes: Set<UInt64> { state.withLock { $0.deletePending } }
}
