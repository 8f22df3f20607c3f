import CANedge
import Foundation

/// `.by-date/YYYY-MM-DD/DEVICE/SESSION/SPLIT`: the logs by the day of their first record,
/// read from their MF4 headers (`HeaderIndex`). The files are the device tree's own inodes;
/// the folders are read-only.
extension FleetFileSystem {
  public static let byDateDirectoryName = ".by-date"

  /// Why nothing can be changed in `.by-date/`.
  static let byDateIsReadOnly = FSError.readOnlyView(
    "the .by-date view is read-only: change files in their device folders (DEVICE/SESSION/)")

  /// `name` in `parent`, a folder of `.by-date/`.
  func lookupByDate(_ parent: UInt64, _ folder: ByDateFolder, name: String) throws(FSError) -> InodeTable.Stat {
    if case .root = folder {
      // Any day can be opened by name, listed or not: no listing of the whole view first.
      guard let day = ByDateDay(name) else { throw .notFound }
      return state.withLock { s in
        let ino = s.table.upsert(parent: parent, name: name, kind: .byDate(.day(day)), key: "") { $0.present = true }
        return s.table.stat(ino)!
      }
    }
    try refreshIfStale(parent)
    if case .session = folder { try placeAgainIfDropped(parent) }
    let found = state.withLock { s -> InodeTable.Stat? in
      let ino: UInt64?
      if case .session = folder {
        // The device tree's session finds the name by its hash index; the day's set says
        // whether that log is on the day.
        guard let files = s.byDateFiles[parent] else { return nil }
        ino = s.table.childIno(of: files.session, named: name).flatMap { files.members.contains($0) ? $0 : nil }
      } else {
        ino = s.table.childIno(of: parent, named: name)
      }
      return ino.flatMap { s.table.stat($0) }
    }
    guard let found, found.present else { throw .notFound }
    return found
  }

  /// The entries of a `.by-date/` session folder: the device tree's log nodes.
  func byDateFiles(_ folder: UInt64) throws(FSError) -> [Node] {
    try placeAgainIfDropped(folder)
    return state.withLock { s in
      (s.byDateFiles[folder]?.logs ?? []).compactMap { s.table[$0].flatMap { $0.present ? $0 : nil } }
    }
  }

  /// A session folder whose logs were dropped from the bounded `byDateFiles`: its day is
  /// placed again, from the headers already read, and the folder's logs kept as the newest.
  private func placeAgainIfDropped(_ folder: UInt64) throws(FSError) {
    let day = state.withLock { s -> (ByDateDay, Node)? in
      guard s.byDateFiles[folder] == nil, let node = s.table[folder], node.present, let device = s.table[node.parent],
        let dayNode = s.table[device.parent], case .byDate(.day(let day)) = dayNode.kind
      else { return nil }
      return (day, dayNode)
    }
    guard let (day, dayNode) = day else { return }
    if let files = try place(day, in: dayNode)[folder] { state.withLock { $0.byDateFiles[folder] = files } }
  }

  /// Fills a `.by-date/` folder: the days of the fleet (root), or one day's devices, sessions
  /// and logs. Called through `refreshIfStale`, so a folder is placed once per `--list-ttl`.
  func refreshByDate(_ node: Node, _ folder: ByDateFolder) throws(FSError) {
    switch folder {
    case .root: try placeDays(node)
    case .day(let day): try place(day, in: node)
    case .device, .session:
      // A day's folders are filled with the day.
      try refreshIfStale(node.parent)
      state.withLock { $0.listedAt[node.ino] = $0.listedAt[node.parent] ?? .now }
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
    try refreshIfStale(Self.rootIno)
    let devices = state.withLock { s in
      s.table.presentChildren(of: Self.rootIno).filter { if case .device = $0.kind { true } else { false } }
    }
    let jobs: [@Sendable () -> Result<[FleetSession], FSError>] = devices.map { device in
      { [self] in
        do throws(FSError) {
          try refreshIfStale(device.ino)
          let sessions = state.withLock { $0.table.presentChildren(of: device.ino).filter { $0.kind == .session } }
          for session in sessions { try refreshIfStale(session.ino) }
          return .success(state.withLock { listedSessions($0, of: device) })
        } catch {
          return .failure(error)
        }
      }
    }
    var all: [FleetSession] = []
    for result in headers.parallel(jobs) {
      switch result {
      case .success(let sessions): all += sessions
      case .failure(let error): throw error
      }
    }
    return all
  }

  /// A device's sessions with their logs, as listed so far (no request).
  func listedSessions(_ s: State, of device: Node) -> [FleetSession] {
    s.table.presentChildren(of: device.ino).filter { $0.kind == .session }.compactMap { session in
      let logs = s.table.presentChildren(of: session.ino).compactMap { n -> DayPlacement.Log? in
        guard n.kind == .object(.log), let name = LogFileName(n.name) else { return nil }
        return DayPlacement.Log(ino: n.ino, name: name, key: n.key, etag: n.etag, size: n.size)
      }
      return logs.isEmpty ? nil : FleetSession(device: device, session: session, logs: logs)
    }
  }

  func logTime(_ log: DayPlacement.Log) -> LogTime {
    logTime(key: log.key, etag: log.etag, size: log.size, name: log.name)
  }

  /// A log's time from its header: known, from blocks already cached, or one ranged GET.
  func logTime(key: String, etag: String, size: UInt64, name: LogFileName) -> LogTime {
    headers.time(key: key, etag: etag, size: size, name: name, s3: s3) { [fetcher] range in
      fetcher.cachedBytes(key: key, etag: etag, range: range, objectSize: size)
    }
  }

  /// Places one day: per session, the splits whose first record falls on it. Returns each
  /// session folder's logs.
  @discardableResult
  private func place(_ day: ByDateDay, in node: Node) throws(FSError) -> [UInt64: ByDateSessionFiles] {
    let sessions = try fleetSessions()
    let bounds = day.nanoseconds
    let deviceClock = settings.byDateDeviceClock
    let placed = headers.parallel(
      sessions.map { session in
        { [self] in DayPlacement.logs(on: bounds, session: session.logs, deviceClock: deviceClock, time: logTime) }
      })
    let now = ContinuousClock.now
    return state.withLock { s in
      var placements: [UInt64: ByDateSessionFiles] = [:]
      var devices = Set<UInt64>()
      var sessionsOf: [UInt64: Set<UInt64>] = [:]
      for (session, logs) in zip(sessions, placed) where !logs.isEmpty {
        let device = s.table.upsert(parent: node.ino, name: session.device.name, kind: .byDate(.device), key: "") {
          $0.present = true
        }
        let folder = s.table.upsert(parent: device, name: session.session.name, kind: .byDate(.session), key: "") {
          $0.present = true
        }
        devices.insert(device)
        sessionsOf[device, default: []].insert(folder)
        let files = ByDateSessionFiles(session: session.session.ino, logs: logs.map(\.ino))
        s.byDateFiles[folder] = files
        placements[folder] = files
        s.listedAt[device] = now
        s.listedAt[folder] = now
      }
      s.table.retain(childrenOf: node.ino, keep: devices)
      for device in devices { s.table.retain(childrenOf: device, keep: sessionsOf[device] ?? []) }
      s.listedAt[node.ino] = now
      return placements
    }
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
      })
    let names = spans.reduce(into: Set<String>()) { $0.formUnion($1) }
    let now = ContinuousClock.now
    state.withLock { s in
      var keep = Set<UInt64>()
      for name in names {
        guard let day = ByDateDay(name) else { continue }
        keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .byDate(.day(day)), key: "") { $0.present = true })
      }
      s.table.retain(childrenOf: node.ino, keep: keep)
      s.listedAt[node.ino] = now
    }
  }
}

extension FleetFileSystem {
  /// `.edgemount/days.csv`: logs and bytes per recording day and device, from the headers
  /// already read (and the upload names of files without one) of the sessions listed so far.
  /// It makes no request; logs whose header was not read yet are not counted.
  func daysReport() -> String {
    let deviceClock = settings.byDateDeviceClock
    var rows: [String: (logs: Int, bytes: UInt64)] = [:]
    let sessions = state.withLock { s in
      s.table.presentChildren(of: Self.rootIno).flatMap { device -> [FleetSession] in
        guard case .device = device.kind else { return [] }
        return listedSessions(s, of: device)
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
    caches.withLock { $0.reportSizes[.days] = out.utf8.count }
    return out
  }
}
