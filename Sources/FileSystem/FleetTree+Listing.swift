import CANedge
import S3

extension FleetTree {
  /// The time-to-live of a directory's listing: device folders follow the heartbeat TTL so
  /// device.json stays fresh.
  func listTTL(for kind: NodeKind) -> Duration {
    if case .device = kind { return settings.deviceListTTL }
    return settings.listTTL
  }

  /// Lists `ino` from S3 if it is a directory whose cached listing has expired.
  func refreshIfStale(_ ino: UInt64) throws(FSError) {
    // The common case, a fresh listing, reads the packed kind only: no node is unpacked.
    let now = clock.instant()
    let fresh = try withState { (s: inout State) throws(FSError) -> Bool in
      guard let kind = s.table.kind(of: ino) else { throw .notFound }
      guard kind.isDirectory, kind != .statusDirectory else { return true }
      return s.listedAt[ino].map { now - $0 < listTTL(for: kind) } ?? false
    }
    guard !fresh else { return }
    guard let node = withState({ $0.table[ino] }) else { throw .notFound }
    // One listing of a folder at a time: a second caller waits for the first one's result.
    let failure = flights.outcome(for: ino) { () -> FSError? in
      // With a listing to fall back on, an unreachable or frozen S3 costs seconds, not the full
      // retry budget: a lookup in a cached folder never waits long.
      let hasFallback = withState { $0.listedAt[ino] != nil }
      let client = hasFallback ? s3.with(retryPolicy: Self.fallbackRetry, requestTimeout: .seconds(3)) : s3
      do throws(FSError) {
        try refresh(node, client: client)
        return nil
      } catch {
        errors.append("list \(node.key.isEmpty ? "/" : node.key): \(error)")
        // Outage: keep serving the last listing if there is one.
        guard withState({ $0.listedAt[ino] != nil }) else { return error }
        // Serve the old listing for another TTL rather than make every lookup wait for S3 again.
        logger.warning("listing \(node.key) failed, serving the cached listing: \(error)")
        withState { $0.listedAt[ino] = clock.instant() }
        return nil
      }
    }
    if let failure { throw failure }
  }

  /// A walk through the fleet (`ls -lR`, `find`, `rsync`) opens device folders in name order,
  /// one after another. When a device folder is listed within two seconds of another (or of the
  /// fleet folder), the next few device folders are listed ahead on the worker pool, so the
  /// walk does not wait for each listing in turn. A lone `ls DEVICE` prefetches nothing.
  /// Called at every read of a device folder, listed or not yet, so the look-ahead keeps
  /// going as the walk moves on; lookups in a folder are no step of a walk.
  func prefetchNextDevices(after node: Node) {
    let now = clock.instant()
    // Far from S3 each listing mostly waits for its answer: more of them at once.
    let ahead = fetcher.isFar ? Self.devicesListedAheadFar : Self.devicesListedAhead
    let next: [UInt64] = withState { s in
      defer { s.lastDeviceListing = (node.ino, now) }
      // Reading the same folder again (an rsync re-run of one device) is no step of a walk.
      guard let last = s.lastDeviceListing, last.ino != node.ino, now - last.at < .seconds(2) else { return [] }
      let ttl = listTTL(for: node.kind)
      return Self.folderOrder(&s, node.parent).following(node.ino, limit: ahead).filter { ino in
        s.listedAt[ino].map { now - $0 >= ttl } ?? true
      }
    }
    for ino in next {
      guard !flights.isUnderWay(ino) else { continue }
      fetcher.submitListing { [self] in try? refreshIfStale(ino) }
    }
  }

  static let devicesListedAhead = 4
  static let devicesListedAheadFar = 16

  static let fallbackRetry = RetryPolicy(
    maxAttempts: 2, baseDelay: .milliseconds(100), maxDelay: .milliseconds(200), deadline: .seconds(4))

  private func refresh(_ node: Node, client s3: S3Client) throws(FSError) {
    let page: ListPage
    var sessionContents: [String: [ListedObject]]?
    do {
      if case .device = node.kind {
        (page, sessionContents) = try listDevice(node.key, client: s3)
      } else {
        page = try s3.listAll(prefix: node.key, delimiter: "/")
      }
    } catch {
      throw .s3(error)
    }
    // --decode: the decoded sizes of compressed and encrypted logs, decoding those not known
    // yet, before the listing is applied (no lock held meanwhile).
    var decodedSizes: [String: DecodedLogs.Outcome] = [:]
    if let decoded, node.kind == .session || sessionContents != nil {
      let objects = (node.kind == .session ? page.objects : []) + (sessionContents?.values.flatMap { $0 } ?? [])
      decodedSizes = decoded.sizes(of: objects)
    }
    let listed = clock.instant()
    // Device-root files that changed on the server (another client's save, the device's own
    // upload): the kernel must not keep their old size.
    var changedOnServer: [UInt64] = []
    defer { for ino in changedOnServer { invalidations.fire(.inode(ino)) } }
    withState { s in
      s.folderOrders[node.ino] = nil
      defer {
        // A flat device listing also listed every session: no request per session afterwards.
        for (prefix, objects) in sessionContents ?? [:] {
          guard let name = FleetFileSystem.childName(prefix, under: node.key, isPrefix: true),
            let session = s.table.child(of: node.ino, named: name), session.kind == .session
          else { continue }
          applySession(&s, session, objects: objects, decodedSizes: decodedSizes)
          s.listedAt[session.ino] = listed
        }
      }
      var keep = Set<UInt64>()
      switch node.kind {
      case .root:
        for name in [
          FleetFileSystem.statusDirectoryName, FleetFileSystem.rawDirectoryName, FleetFileSystem.byDateDirectoryName,
        ] {
          if let ino = s.table.child(of: node.ino, named: name)?.ino { keep.insert(ino) }
        }
        for prefix in page.commonPrefixes {
          guard let name = FleetFileSystem.childName(prefix, under: node.key, isPrefix: true), let id = DeviceID(name) else {
            continue
          }
          keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .device(id), key: prefix))
        }
      case .device:
        // `.history` is the mount's own (reachable by name); an object of that name is in `.raw/`.
        if let history = s.table.child(of: node.ino, named: HistoryView.folderName), history.kind == .history(.device) {
          keep.insert(history.ino)
        }
        for prefix in page.commonPrefixes {
          guard let name = FleetFileSystem.childName(prefix, under: node.key, isPrefix: true), FleetFileSystem.isSessionName(name)
          else { continue }
          keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .session, key: prefix))
        }
        for object in page.objects {
          guard let name = FleetFileSystem.childName(object.key, under: node.key, isPrefix: false),
            name != HistoryView.folderName
          else { continue }
          // A device folder holds a handful of root files: reading the old ETag is cheap.
          let previous = s.table.child(of: node.ino, named: name)
          let changed = previous.map { $0.onServer && $0.etag != object.etag } ?? false
          let ino = s.table.upsert(
            parent: node.ino, name: name, kind: .object(.deviceFile(DeviceFileKind(name: name))), key: object.key
          ) {
            $0.size = object.size
            $0.etag = object.etag
            $0.mtime = object.lastModified
            $0.onServer = true
          }
          if changed { changedOnServer.append(ino) }
          // Unlinked, its DELETE still waiting: the name stays gone.
          if s.deletePending.contains(ino) { s.table[ino]?.present = false }
          keep.insert(ino)
        }
      case .session:
        applySession(&s, node, objects: page.objects, decodedSizes: decodedSizes)
        s.listedAt[node.ino] = listed
        return
      case .rawDirectory:
        var prefixNames = Set<NameKey>()
        for prefix in page.commonPrefixes {
          guard let name = FleetFileSystem.childName(prefix, under: node.key, isPrefix: true) else { continue }
          keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .rawDirectory, key: prefix))
          prefixNames.insert(NameKey(name))
        }
        for object in page.objects {
          guard let name = FleetFileSystem.childName(object.key, under: node.key, isPrefix: false),
            !prefixNames.contains(NameKey(name))
          else {
            continue
          }
          let role: ObjectRole = if case .config = DeviceFileKind(name: name) { .storedConfig } else { .other }
          let ino = s.table.upsert(parent: node.ino, name: name, kind: .object(role), key: object.key) {
            $0.size = object.size
            $0.etag = object.etag
            $0.mtime = object.lastModified
            $0.onServer = true
          }
          keep.insert(ino)
        }
      case .statusDirectory, .object, .statusFile, .byDate, .history:
        return
      }
      s.table.retain(childrenOf: node.ino, keep: keep)
      s.listedAt[node.ino] = listed
    }
  }

  /// Lists a device folder. The first page is flat (no delimiter): if it holds the whole device,
  /// or sessions are small (four or more in the first page), the flat listing goes on and
  /// lists every session too, at one request a page instead of one per session.
  /// Otherwise (big sessions) a delimiter listing of the folder is cheaper; sessions are then
  /// listed when opened.
  private func listDevice(_ prefix: String, client s3: S3Client) throws(S3Error) -> (ListPage, [String: [ListedObject]]?) {
    var flat = try s3.listPage(prefix: prefix, delimiter: nil, continuationToken: nil)
    func sessionPrefix(_ key: String) -> String? {
      let rest = key.utf8.dropFirst(prefix.utf8.count)
      guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
      return prefix + String(Substring(rest[..<slash])) + "/"
    }
    let sessionsSeen = Set(flat.objects.compactMap { sessionPrefix($0.key) })
    guard !flat.isTruncated || sessionsSeen.count >= 4 else {
      return (try s3.listAll(prefix: prefix, delimiter: "/"), nil)
    }
    var token = flat.isTruncated ? flat.nextContinuationToken : nil
    while let t = token {
      let next = try s3.listPage(prefix: prefix, delimiter: nil, continuationToken: t)
      flat.objects += next.objects
      token = next.isTruncated ? next.nextContinuationToken : nil
    }
    var result = ListPage()
    var sessions: [String: [ListedObject]] = [:]
    for object in flat.objects {
      if let session = sessionPrefix(object.key) {
        sessions[session, default: []].append(object)
      } else {
        result.objects.append(object)
      }
    }
    result.commonPrefixes = sessions.keys.sorted()
    return (result, sessions)
  }

  /// Puts a session's listing into the table: log files folded, other names as they are,
  /// deeper prefixes left out. With `--decode`, a log in `decodedSizes` (by key) is shown under
  /// its `.MF4` name with its decoded size (0 when it cannot be decoded: it then reads EIO),
  /// unless a stored log already has that name.
  func applySession(
    _ s: inout State, _ node: Node, objects: [ListedObject], decodedSizes: [String: DecodedLogs.Outcome] = [:]
  ) {
    s.folderOrders[node.ino] = nil
    var keep = Set<UInt64>()
    var copies: [SplitCopy] = []
    for object in objects {
      guard let name = FleetFileSystem.childName(object.key, under: node.key, isPrefix: false) else { continue }
      if let logName = LogFileName(name) {
        copies.append(SplitCopy(name: name, logName: logName, size: object.size, etag: object.etag))
      } else {
        let ino = s.table.upsert(parent: node.ino, name: name, kind: .object(.other), key: object.key) {
          $0.size = object.size
          $0.etag = object.etag
          $0.mtime = object.lastModified
        }
        keep.insert(ino)
      }
    }
    let folded = SplitFolding.fold(copies)
    let storedNames = Set(folded.shown.map(\.name))
    for copy in folded.shown {
      var name = copy.name
      var size = copy.size
      if let outcome = decodedSizes[node.key + copy.name], !storedNames.contains(DecodedLogs.decodedName(copy.name)) {
        name = DecodedLogs.decodedName(copy.name)
        if case .size(let decodedSize) = outcome { size = decodedSize } else { size = 0 }
      }
      let ino = s.table.upsert(parent: node.ino, name: name, kind: .object(.log), key: node.key + copy.name) {
        $0.size = size
        $0.etag = copy.etag
        $0.mtime = Int64(copy.logName.epoch)
      }
      keep.insert(ino)
    }
    s.folds[node.ino] = folded.folded.isEmpty && folded.conflicts.isEmpty ? nil : folded
    s.table.retain(childrenOf: node.ino, keep: keep)
  }
}
