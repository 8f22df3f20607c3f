import CANedge
import S3

extension FleetFileSystem {
  /// The time-to-live of a directory's listing: device folders follow the heartbeat TTL so
  /// device.json stays fresh.
  func listTTL(for kind: NodeKind) -> Duration {
    if case .device = kind { return min(settings.listTTL, settings.heartbeatTTL) }
    return settings.listTTL
  }

  /// Lists `ino` from S3 if it is a directory whose cached listing has expired.
  func refreshIfStale(_ ino: UInt64) throws(FSError) {
    // The common case, a fresh listing, reads the packed kind only: no node is unpacked.
    let fresh = try state.withLock { (s: inout State) throws(FSError) -> Bool in
      guard let kind = s.table.kind(of: ino) else { throw .notFound }
      guard kind.isDirectory else { return true }
      return s.listedAt[ino].map { ContinuousClock.now - $0 < listTTL(for: kind) } ?? false
    }
    guard !fresh else { return }
    guard let node = state.withLock({ $0.table[ino] }) else { throw .notFound }
    // One listing of a folder at a time: a second caller waits for the first one's result.
    let failure = listingFlights.outcome(for: ino) { () -> FSError? in
      // With a listing to fall back on, an unreachable or frozen S3 costs seconds, not the full
      // retry budget: a lookup in a cached folder never waits long.
      let hasFallback = state.withLock { $0.listedAt[ino] != nil }
      let client = hasFallback ? s3.with(retryPolicy: Self.fallbackRetry, requestTimeout: .seconds(3)) : s3
      do throws(FSError) {
        try refresh(node, client: client)
        return nil
      } catch {
        errors.append("list \(node.key.isEmpty ? "/" : node.key): \(error)")
        // Outage: keep serving the last listing if there is one.
        guard state.withLock({ $0.listedAt[ino] != nil }) else { return error }
        // Serve the old listing for another TTL rather than make every lookup wait for S3 again.
        logger.warning("listing \(node.key) failed, serving the cached listing: \(error)")
        state.withLock { $0.listedAt[ino] = .now }
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
    let now = ContinuousClock.now
    let next: [UInt64] = state.withLock { s in
      defer { s.lastDeviceListing = (node.ino, now) }
      // Reading the same folder again (an rsync re-run of one device) is no step of a walk.
      guard let last = s.lastDeviceListing, last.ino != node.ino, now - last.at < .seconds(2) else { return [] }
      let ttl = min(settings.listTTL, settings.heartbeatTTL)
      return folderOrder(&s, node.parent).following(node.ino, limit: Self.devicesListedAhead).filter { ino in
        s.listedAt[ino].map { now - $0 >= ttl } ?? true
      }
    }
    for ino in next {
      guard !listingFlights.isUnderWay(ino) else { continue }
      fetcher.submitListing { [self] in try? refreshIfStale(ino) }
    }
  }

  static let devicesListedAhead = 4

  static let fallbackRetry = RetryPolicy(
    maxAttempts: 2, baseDelay: .milliseconds(100), maxDelay: .milliseconds(200), deadline: .seconds(4))

  private func refresh(_ node: Node, client s3: S3Client) throws(FSError) {
    if case .byDate(let folder) = node.kind { return try refreshByDate(node, folder) }
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
    let listed = ContinuousClock.now
    // Device-root files that changed on the server (another client's save, the device's own
    // upload): the kernel must not keep their old size.
    var changedOnServer: [UInt64] = []
    defer { for ino in changedOnServer { invalidations.fire(.inode(ino)) } }
    state.withLock { s in
      s.folderOrders[node.ino] = nil
      defer {
        // A flat device listing also listed every session: no request per session afterwards.
        for (prefix, objects) in sessionContents ?? [:] {
          guard let name = Self.childName(prefix, under: node.key, isPrefix: true),
            let session = s.table.child(of: node.ino, named: name), session.kind == .session
          else { continue }
          applySession(&s, session, objects: objects)
          s.listedAt[session.ino] = listed
        }
      }
      var keep = Set<UInt64>()
      switch node.kind {
      case .root:
        for name in [Self.statusDirectoryName, Self.rawDirectoryName, Self.byDateDirectoryName] {
          if let ino = s.table.child(of: node.ino, named: name)?.ino { keep.insert(ino) }
        }
        for prefix in page.commonPrefixes {
          guard let name = Self.childName(prefix, under: node.key, isPrefix: true), let id = DeviceID(name) else { continue }
          keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .device(id), key: prefix))
        }
      case .device:
        for prefix in page.commonPrefixes {
          guard let name = Self.childName(prefix, under: node.key, isPrefix: true), Self.isSessionName(name) else { continue }
          keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .session, key: prefix))
        }
        for object in page.objects {
          guard let name = Self.childName(object.key, under: node.key, isPrefix: false) else { continue }
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
          if s.pendingDeletes.contains(ino) { s.table[ino]?.present = false }
          keep.insert(ino)
        }
      case .session:
        applySession(&s, node, objects: page.objects)
        s.listedAt[node.ino] = listed
        return
      case .rawDirectory:
        var prefixNames = Set<NameKey>()
        for prefix in page.commonPrefixes {
          guard let name = Self.childName(prefix, under: node.key, isPrefix: true) else { continue }
          keep.insert(s.table.upsert(parent: node.ino, name: name, kind: .rawDirectory, key: prefix))
          prefixNames.insert(NameKey(name))
        }
        for object in page.objects {
          guard let name = Self.childName(object.key, under: node.key, isPrefix: false), !prefixNames.contains(NameKey(name))
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
      case .statusDirectory, .object, .statusFile, .byDate:
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
  /// deeper prefixes left out.
  func applySession(_ s: inout State, _ node: Node, objects: [ListedObject]) {
    s.folderOrders[node.ino] = nil
    var keep = Set<UInt64>()
    var copies: [SplitCopy] = []
    for object in objects {
      guard let name = Self.childName(object.key, under: node.key, isPrefix: false) else { continue }
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
    for copy in folded.shown {
      let ino = s.table.upsert(parent: node.ino, name: copy.name, kind: .object(.log), key: node.key + copy.name) {
        $0.size = copy.size
        $0.etag = copy.etag
        $0.mtime = Int64(copy.logName.epoch)
      }
      keep.insert(ino)
    }
    s.folds[node.ino] = folded.folded.isEmpty && folded.conflicts.isEmpty ? nil : folded
    s.table.retain(childrenOf: node.ino, keep: keep)
  }

  /// The last path segment of `key` below `prefix`, or nil if it is not a name a directory
  /// can hold (empty, `.`, `..`, too long, with a control character or a further `/`).
  static func childName(_ key: String, under prefix: String, isPrefix: Bool) -> String? {
    // Bytes, not characters: a prefix is a byte prefix of the key in S3.
    guard key.utf8.starts(with: prefix.utf8) else { return nil }
    var rest = key.utf8.dropFirst(prefix.utf8.count)
    if isPrefix {
      guard rest.last == UInt8(ascii: "/") else { return nil }
      rest = rest.dropLast()
    }
    // Control characters (newlines, escape sequences) break scripts and terminals: not shown.
    guard !rest.isEmpty, rest.count <= 255,
      !rest.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") })
    else { return nil }
    let name = String(Substring(rest))
    guard name != ".", name != ".." else { return nil }
    return name
  }

  static func isSessionName(_ name: String) -> Bool {
    name.utf8.count == 8 && name.utf8.allSatisfy { (48...57).contains($0) }
  }
}
