import CANedge
import Cache
import Foundation
import Locking
import S3

/// `.by-date/YYYY-MM-DD/DEVICE/SESSION/SPLIT`: the logs by the day of their first record,
/// read from their MF4 headers (`HeaderIndex`). The files are the device tree's own inodes;
/// the folders are read-only. It owns the placed session folders (bounded) and when each
/// folder was placed; the folders' nodes live in the tree.
final class ByDateView: CorePart, Sendable {
  struct State: Sendable {
    /// The logs of each `.by-date/` session folder: the device tree's session and those of its
    /// log inodes that are on the day. A folder dropped from it is placed again (from the
    /// headers already read) when it is next used.
    var files: BoundedCache<UInt64, ByDateSessionFiles>
    /// When each folder was last placed.
    var placedAt: [UInt64: ContinuousClock.Instant] = [:]
  }

  let tree: FleetTree
  let headers: HeaderIndex
  let fetcher: BlockFetcher
  /// The header records other mounts published (`--shared-index`), if on.
  let shared: SharedHeaderIndex?
  let context: CoreContext
  private let state: Locked<State>
  /// Placements under way, so a day is placed once however many threads ask.
  private let flights = FlightTable<UInt64, FSError?>()

  init(tree: FleetTree, headers: HeaderIndex, shared: SharedHeaderIndex?, fetcher: BlockFetcher, context: CoreContext) {
    self.tree = tree
    self.headers = headers
    self.shared = shared
    self.fetcher = fetcher
    self.context = context
    state = Locked(State(files: BoundedCache(limit: context.settings.byDateFolderLimit)))
  }

  /// Placed session folders and their bound, for `.edgemount/status`.
  var sessionFolders: (count: Int, limit: Int) { state.withLock { ($0.files.count, $0.files.limit) } }

  /// Places `folder` again if its placement is older than `--list-ttl`.
  func refreshIfStale(_ ino: UInt64, _ folder: ByDateFolder) throws(FSError) {
    let now = clock.instant()
    guard state.withLock({ s in s.placedAt[ino].map { now - $0 >= settings.listTTL } ?? true }) else { return }
    guard let node = tree.existingNode(ino) else { throw .notFound }
    if let failure = flights.outcome(
      for: ino,
      { () -> FSError? in
        do throws(FSError) {
          try refresh(node, folder)
          return nil
        } catch {
          return error
        }
      })
    {
      throw failure
    }
  }

  /// `name` in `parent`, a folder of `.by-date/`.
  func lookup(_ parent: UInt64, _ folder: ByDateFolder, name: String) throws(FSError) -> InodeTable.Stat {
    if case .root = folder {
      // Any day can be opened by name, listed or not: no listing of the whole view first.
      guard let day = ByDateDay(name) else { throw .notFound }
      return tree.withTable { table in
        let ino = table.upsert(parent: parent, name: name, kind: .byDate(.day(day)), key: "") { $0.present = true }
        // Invariant: the node was just upserted.
        return table.stat(ino)!
      }
    }
    try refreshIfStale(parent, folder)
    if case .session = folder { try placeAgainIfDropped(parent) }
    let files = state.withLock { $0.files[parent] }
    let found = tree.withTable { table -> InodeTable.Stat? in
      let ino: UInt64?
      if case .session = folder {
        // The device tree's session finds the name by its hash index; the day's set says
        // whether that log is on the day.
        guard let files else { return nil }
        ino = table.childIno(of: files.session, named: name).flatMap { files.members.contains($0) ? $0 : nil }
      } else {
        ino = table.childIno(of: parent, named: name)
      }
      return ino.flatMap { table.stat($0) }
    }
    guard let found, found.present else { throw .notFound }
    return found
  }

  /// The entries of a `.by-date/` session folder: the device tree's log nodes.
  func files(_ folder: UInt64) throws(FSError) -> [Node] {
    try placeAgainIfDropped(folder)
    let logs = state.withLock { $0.files[folder]?.logs ?? [] }
    return tree.withTable { table in logs.compactMap { table[$0].flatMap { $0.present ? $0 : nil } } }
  }

  /// A session folder whose logs were dropped from the bounded `byDateFiles`: its day is
  /// placed again, from the headers already read, and the folder's logs kept as the newest.
  private func placeAgainIfDropped(_ folder: UInt64) throws(FSError) {
    guard state.withLock({ $0.files[folder] == nil }) else { return }
    let day = tree.withTable { table -> (ByDateDay, Node)? in
      guard let node = table[folder], node.present, let device = table[node.parent], let dayNode = table[device.parent],
        case .byDate(.day(let day)) = dayNode.kind
      else { return nil }
      return (day, dayNode)
    }
    guard let (day, dayNode) = day else { return }
    if let files = try place(day, in: dayNode)[folder] { state.withLock { $0.files[folder] = files } }
  }

  /// Fills a `.by-date/` folder: the days of the fleet (root), or one day's devices, sessions
  /// and logs. Called through `refreshIfStale`, so a folder is placed once per `--list-ttl`.
  private func refresh(_ node: Node, _ folder: ByDateFolder) throws(FSError) {
    switch folder {
    case .root: try placeDays(node)
    case .day(let day): try place(day, in: node)
    case .device, .session:
      // A day's folders are filled with the day.
      guard let parent = tree.existingNode(node.parent), case .byDate(let parentFolder) = parent.kind else { return }
      try refreshIfStale(parent.ino, parentFolder)
      let now = clock.instant()
      state.withLock { $0.placedAt[node.ino] = $0.placedAt[node.parent] ?? now }
    }
  }

  /// One session of the fleet with its logs in split order.
  struct FleetSession: Sendable {
    var device: Node
    var session: Node
    var logs: [DayPlacement.Log]
  }

  /// Every device, session and log, listed as the device tree lists them (the same cached
  /// listings; devices listed in parallel on the header pool).
  func fleetSessions() throws(FSError) -> [FleetSession] {
    try tree.refreshIfStale(FleetFileSystem.rootIno)
    let devices = tree.presentChildren(of: FleetFileSystem.rootIno).filter {
      if case .device = $0.kind { true } else { false }
    }
    let jobs: [@Sendable () -> Result<[FleetSession], FSError>] = devices.map { device in
      { [self] in
        do throws(FSError) {
          try tree.refreshIfStale(device.ino)
          let sessions = tree.presentChildren(of: device.ino).filter { $0.kind == .session }
          for session in sessions { try tree.refreshIfStale(session.ino) }
          let decoded = tree.decoded
          return .success(
            tree.withTable { Self.listedSessions($0, of: device) { decoded?.storedSize(of: $0) ?? $0.size } })
        } catch {
          return .failure(error)
        }
      }
    }
    var all: [FleetSession] = []
    for result in headers.parallel(jobs, far: fetcher.isFar) {
      switch result {
      case .success(let sessions): all += sessions
      case .failure(let error): throw error
      }
    }
    return all
  }

  /// A device's sessions with their logs, as listed so far (no request).
  static func listedSessions(
    _ table: InodeTable, of device: Node, storedSize: (Node) -> UInt64 = { $0.size }
  ) -> [FleetSession] {
    table.presentChildren(of: device.ino).filter { $0.kind == .session }.compactMap { session in
      let logs = table.presentChildren(of: session.ino).compactMap { n -> DayPlacement.Log? in
        // The stored name: a log shown decoded (`--decode`) is named `.MF4`, stored `.MFC`.
        guard n.kind == .object(.log), let name = LogFileName(Self.storedName(n)) else { return nil }
        return DayPlacement.Log(ino: n.ino, name: name, key: n.key, etag: n.etag, size: storedSize(n))
      }
      return logs.isEmpty ? nil : FleetSession(device: device, session: session, logs: logs)
    }
  }

  /// A node's name as stored in the bucket (its key's last part).
  static func storedName(_ node: Node) -> String {
    node.key.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? node.name
  }

  func logTime(_ log: DayPlacement.Log) -> LogTime {
    logTime(key: log.key, etag: log.etag, size: log.size, name: log.name)
  }

  /// A log's time from its header: known, from the shared index, from blocks already cached,
  /// or one ranged GET.
  func logTime(key: String, etag: String, size: UInt64, name: LogFileName) -> LogTime {
    if let known = headers.known(key: key, etag: etag, name: name) { return known }
    let prefix = shared == nil ? nil : SharedHeaderIndex.sessionPrefix(ofKey: key)
    if let shared, let prefix {
      shared.load(sessionPrefix: prefix)
      if let known = headers.known(key: key, etag: etag, name: name) { return known }
    }
    let time = headers.time(
      key: key, etag: etag, size: size, name: name, s3: s3,
      cached: { [fetcher] range in fetcher.cachedBytes(key: key, etag: etag, range: range, objectSize: size) },
      fetched: { [fetcher] range, bytes in fetcher.keep(key: key, etag: etag, range: range, bytes: bytes, objectSize: size) })
    if let shared, let prefix, headers.record(key: key, etag: etag) != nil { shared.noteRead(sessionPrefix: prefix) }
    return time
  }

  /// Merges the headers read for `session` into its shared index object (`--shared-index`),
  /// in the background.
  func publish(_ session: FleetSession) {
    guard let shared, let first = session.logs.first, let prefix = SharedHeaderIndex.sessionPrefix(ofKey: first.key)
    else { return }
    shared.publish(
      sessionPrefix: prefix,
      listed: session.logs.map { (name: String($0.key.dropFirst(prefix.count)), key: $0.key, etag: $0.etag) })
  }

  /// Places one day: per session, the splits whose first record falls on it. Returns each
  /// session folder's logs.
  @discardableResult
  private func place(_ day: ByDateDay, in node: Node) throws(FSError) -> [UInt64: ByDateSessionFiles] {
    let sessions = try fleetSessions()
    let bounds = day.nanoseconds
    let deviceClock = settings.byDateDeviceClock
    let far = fetcher.isFar
    // Every session's search advances in rounds together: each round's headers, of all
    // sessions, are read at once.
    var searches = sessions.map {
      DayPlacement.Search(
        day: bounds, session: $0.logs, deviceClock: deviceClock, fanOut: far ? DayPlacement.farFanOut : 1)
    }
    while true {
      let wanted = searches.indices.flatMap { s in searches[s].next().map { (s, $0) } }
      if wanted.isEmpty { break }
      let read = headers.parallel(
        wanted.map { s, i in
          let log = searches[s].candidates[i]
          return { [self] in logTime(log) }
        }, far: far)
      for ((s, i), time) in zip(wanted, read) { searches[s].take(time, at: i) }
    }
    let placed = searches.map { $0.result ?? [] }
    for session in sessions { publish(session) }
    // The day's folder order, for a copy of the day to read ahead from session to session.
    tree.placedDay(
      zip(sessions, placed).filter { !$0.1.isEmpty }
        .sorted { ($0.0.device.name, $0.0.session.name) < ($1.0.device.name, $1.0.session.name) }
        .map { (session: $0.0.session.ino, logs: $0.1.map(\.ino)) })
    let now = clock.instant()
    // Each day's device folder with its session folders, and what each session folder holds.
    let (foldersOf, placements) = tree.withTable { table in
      var foldersOf: [UInt64: Set<UInt64>] = [:]
      var placements: [UInt64: ByDateSessionFiles] = [:]
      for (session, logs) in zip(sessions, placed) where !logs.isEmpty {
        let device = table.upsert(parent: node.ino, name: session.device.name, kind: .byDate(.device), key: "") {
          $0.present = true
        }
        let folder = table.upsert(parent: device, name: session.session.name, kind: .byDate(.session), key: "") {
          $0.present = true
        }
        foldersOf[device, default: []].insert(folder)
        placements[folder] = ByDateSessionFiles(session: session.session.ino, logs: logs.map(\.ino))
      }
      table.retain(childrenOf: node.ino, keep: Set(foldersOf.keys))
      for (device, folders) in foldersOf { table.retain(childrenOf: device, keep: folders) }
      return (foldersOf, placements)
    }
    state.withLock { s in
      for (device, folders) in foldersOf {
        s.placedAt[device] = now
        for folder in folders {
          s.files[folder] = placements[folder]
          s.placedAt[folder] = now
        }
      }
      s.placedAt[node.ino] = now
    }
    return placements
  }

  /// The days of `.by-date/`: for each session, from the day of its first split's first
  /// record (one header a session) to the day of its last upload. A day a session spans may
  /// still be empty if the device recorded nothing that day; any day can also be opened by name.
  private func placeDays(_ node: Node) throws(FSError) {
    let sessions = try fleetSessions()
    let deviceClock = settings.byDateDeviceClock
    let spans: [Set<String>] = headers.parallel(
      sessions.map { session in
        { [self] in
          guard let first = session.logs.first else { return [] }
          let start = logTime(first).placement(uploadEpoch: Int64(first.name.epoch), deviceClock: deviceClock)
          publish(session)
          var end = Int64(session.logs.map(\.name.epoch).max() ?? first.name.epoch)
          if deviceClock { end += Int64(DayPlacement.maximumOffset / 1_000_000_000) }
          var days = Set<String>()
          var day = ByDateDay(containing: Int64(start / 1_000_000_000))
          // A clock far off could span years: at most 400 days a session.
          while day.start <= end, days.count < 400 {
            days.insert(day.name)
            day = ByDateDay(containing: day.start + 86_400)
          }
          return days
        }
      }, far: fetcher.isFar)
    let names = spans.reduce(into: Set<String>()) { $0.formUnion($1) }
    tree.withTable { table in
      var keep = Set<UInt64>()
      for name in names {
        guard let day = ByDateDay(name) else { continue }
        keep.insert(table.upsert(parent: node.ino, name: name, kind: .byDate(.day(day)), key: "") { $0.present = true })
      }
      table.retain(childrenOf: node.ino, keep: keep)
    }
    let now = clock.instant()
    state.withLock { $0.placedAt[node.ino] = now }
  }
}

extension ByDateView {
  /// `.edgemount/days.csv`: logs and bytes per recording day and device, from the headers
  /// already read (and the upload names of files without one) of the sessions listed so far.
  /// It makes no request; logs whose header was not read yet are not counted.
  func daysReport() -> String {
    let deviceClock = settings.byDateDeviceClock
    var rows: [String: (logs: Int, bytes: UInt64)] = [:]
    let sessions = tree.withTable { table in
      table.presentChildren(of: FleetFileSystem.rootIno).flatMap { device -> [FleetSession] in
        guard case .device = device.kind else { return [] }
        return Self.listedSessions(table, of: device)
      }
    }
    for session in sessions {
      for log in session.logs {
        guard let time = headers.known(key: log.key, etag: log.etag, name: log.name) else { continue }
        let t = time.placement(uploadEpoch: Int64(log.name.epoch), deviceClock: deviceClock)
        let row = "\(ByDateDay(containing: Int64(t / 1_000_000_000)).name),\(session.device.name)"
        rows[row, default: (0, 0)].logs += 1
        rows[row, default: (0, 0)].bytes += log.size
      }
    }
    var out = "day,device,logs,bytes\n"
    for key in rows.keys.sorted() { out += "\(key),\(rows[key]!.logs),\(rows[key]!.bytes)\n" }
    return out
  }
}
