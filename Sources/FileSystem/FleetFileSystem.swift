import CANedge
import Cache
import Foundation
import Locking
import Logging
import S3
import Validation

/// The filesystem core: the CANedge bucket as a tree of devices, sessions and splits.
///
/// It knows nothing of the kernel: the FUSE adapter turns requests into these calls and their
/// results (or `FSError`s) into replies, so the whole tree logic can be tested without a mount.
/// Every method may block on S3 and must be called from a thread that may block (FUSE worker
/// threads, test threads), never from Swift's cooperative pool.
public final class FleetFileSystem: Sendable {
  public static let rootIno = InodeTable.rootIno
  public static let statusDirectoryName = ".edgemount"
  public static let rawDirectoryName = ".raw"
  public static let byDateDirectoryName = ".by-date"

  public let s3: S3Client
  public let settings: MountSettings
  public let errors = ErrorLog()
  let logger: Logger
  let clock: any MountClock
  let startedAt: Date

  /// Called after a save changed a file, so the kernel drops its cached pages and attributes.
  public let invalidations = InvalidationHook()

  // The collaborators, each the one owner of its state and its lock.
  /// The namespace and its listings.
  let tree: FleetTree
  /// Local content and saves of the files users change.
  let saves: SaveCoordinator
  /// What the mount knows of devices' files (heartbeats, config CRCs, schemas, ...).
  let facts: DeviceFacts
  /// `.by-date/`.
  let byDate: ByDateView
  /// `DEVICE/.history/`.
  let history: HistoryView
  /// This mount's changes and refusals, and the `edited-by` of its writes.
  let journal: ChangeJournal
  /// Open files and directories.
  let handles = FileHandles()
  /// Blocks of log files: memory, the disk cache if any, prefetching.
  let fetcher: BlockFetcher
  /// Logs' recording times from their MF4 headers, for `.by-date/` and the time xattrs.
  let headers: HeaderIndex
  /// `--decode`: compressed and encrypted logs shown as the MF4 inside.
  let decoded: DecodedLogs?
  /// Header records shared with other mounts through the bucket (`--shared-index`).
  let shared: SharedHeaderIndex?
  /// Device files fetched ahead far from S3, for the opens that follow.
  let deviceFilesAhead: DeviceFilesAhead
  /// The sizes of devices.csv and days.csv at their last open (they walk the fleet).
  let reportSizes = Locked<[StatusFile: Int]>([:])

  /// `headerStore`: where headers read are kept across mounts (in `--cache-dir`), with the
  /// records it already holds. `clock`: the time every TTL, grace and back-off of the core
  /// reads (a manual clock in tests).
  public init(
    s3: S3Client, settings: MountSettings, diskCache: DiskBlockCache? = nil,
    headerStore: (HeaderRecordStore, [HeaderRecordStore.Record])? = nil, passwords: DevicePasswords? = nil,
    logger: Logger = Logger(label: "edgemount.fs"), clock: any MountClock = SystemClock()
  ) {
    fetcher = BlockFetcher(
      s3: s3, memory: MemoryBlockCache(capacity: settings.memoryCacheBytes), disk: diskCache,
      readAhead: ReadAhead(limit: settings.readAheadLimit))
    headers = HeaderIndex(store: headerStore?.0, records: headerStore?.1 ?? [], passwords: passwords)
    self.s3 = s3
    self.settings = settings
    self.logger = logger
    self.clock = clock
    deviceFilesAhead = DeviceFilesAhead(clock: clock)
    startedAt = clock.now()
    var table = InodeTable(rootPrefix: settings.rootPrefix)
    let statusIno = table.upsert(parent: InodeTable.rootIno, name: Self.statusDirectoryName, kind: .statusDirectory, key: "")
    for file in StatusFile.allCases {
      table.upsert(parent: statusIno, name: file.rawValue, kind: .statusFile(file), key: "")
    }
    table.upsert(parent: InodeTable.rootIno, name: Self.rawDirectoryName, kind: .rawDirectory, key: settings.rootPrefix)
    table.upsert(parent: InodeTable.rootIno, name: Self.byDateDirectoryName, kind: .byDate(.root), key: "")
    let context = CoreContext(
      s3: s3, settings: settings, errors: errors, logger: logger, clock: clock, invalidations: invalidations)
    decoded =
      settings.decode
      ? DecodedLogs(
        fetcher: fetcher, passwords: passwords, store: headerStore?.0, records: headerStore?.1 ?? [], context: context)
      : nil
    tree = FleetTree(table: table, context: context, fetcher: fetcher, decoded: decoded)
    facts = DeviceFacts(context: context)
    journal = ChangeJournal(host: settings.hostName, software: settings.software, clock: clock)
    saves = SaveCoordinator(tree: tree, facts: facts, journal: journal, context: context)
    history = HistoryView(tree: tree, journal: journal, headers: headers, context: context)
    shared =
      settings.sharedIndex
      ? SharedHeaderIndex(
        headers: headers, metadata: journal.metadata(Editor(user: Editor.userName(getuid()), program: "edgemount")),
        context: context) : nil
    byDate = ByDateView(tree: tree, headers: headers, shared: shared, fetcher: fetcher, context: context)
  }

  /// Lists the fleet folder on the listings lane, once the mount is up: every use of the mount
  /// starts there, and 80 ms away the first `ls` or `rsync` would otherwise wait a round trip
  /// for it. A lookup that comes while it is under way waits for it instead of listing again.
  public func listFleetAhead() {
    fetcher.submitListing { [tree] in try? tree.refreshIfStale(Self.rootIno) }
  }

  /// Connections opened as the mount comes up, far from S3 only (the read-ahead above its
  /// floor): the first copy's burst of GETs then finds them ready.
  public static let connectionsWarmedFar = 16

  /// Far from S3, opens `connectionsWarmedFar` connections in the background.
  public func warmConnectionsIfFar() {
    guard fetcher.isFar else { return }
    s3.warmConnections(Self.connectionsWarmedFar)
  }

  /// Lists `ino` if its listing is older than its TTL: from S3, or (`.by-date/`) from the
  /// device tree's listings and the logs' headers.
  func refreshIfStale(_ ino: UInt64) throws(FSError) {
    switch tree.kind(of: ino) {
    case .byDate(let folder)?: try byDate.refreshIfStale(ino, folder)
    case .history?: try history.refreshIfStale(ino)
    default: try tree.refreshIfStale(ino)
    }
  }

  func node(_ ino: UInt64) throws(FSError) -> Node { try tree.node(ino) }

  /// Asks the server whether the bucket keeps versions (`GetBucketVersioning`), for
  /// `.history/` and `.edgemount/status`; a refusal is `unknown`. Once, at mount.
  @discardableResult
  public func checkBucketVersioning() -> BucketVersioning {
    let found: BucketVersioning
    do { found = try s3.bucketVersioning() } catch {
      errors.append("GetBucketVersioning: \(error)")
      found = .unknown
    }
    history.versioning = found
    return found
  }

  // MARK: Lookup and attributes

  /// Finds `name` in directory `parent` and counts one kernel reference to it.
  public func lookup(parent: UInt64, name: String) throws(FSError) -> Attributes {
    guard name.utf8.count <= 255 else { throw .nameTooLong }
    let kind = tree.kind(of: parent)
    if case .byDate(let folder)? = kind {
      let stat = try byDate.lookup(parent, folder, name: name)
      tree.addLookups(stat.ino, 1)
      return attributes(of: stat)
    }
    guard let kind else { throw .notFound }
    guard kind.isDirectory else { throw .notDirectory }
    if case .history = kind {
      let stat = try history.lookup(parent, name: name)
      return attributes(of: stat)
    }
    if case .device = kind, name == HistoryView.folderName {
      // Reachable by name, never listed: no listing of the device first.
      let stat = history.folder(of: try node(parent))
      tree.addLookups(stat.ino, 1)
      return attributes(of: stat)
    }
    try tree.refreshIfStale(parent)  // not .by-date/ or .history (above)
    guard let stat = tree.lookUp(parent: parent, name: name) else { throw .notFound }
    return attributes(of: stat)
  }

  /// `lookup` for a name as the kernel hands it over. A name in a fresh listing is found by its
  /// bytes, with no allocation; anything else (a refused, missing or `.by-date/` name) takes the
  /// `String` path.
  public func lookup(parent: UInt64, cName: UnsafePointer<CChar>) throws(FSError) -> Attributes {
    let nameBytes = UnsafeRawBufferPointer(start: cName, count: strlen(cName))
    if nameBytes.count <= 255, let stat = try lookupListed(parent: parent, nameBytes: nameBytes) {
      return attributes(of: stat)
    }
    return try lookup(parent: parent, name: String(cString: cName))
  }

  private func lookupListed(parent: UInt64, nameBytes: UnsafeRawBufferPointer) throws(FSError) -> InodeTable.Stat? {
    guard let kind = tree.kind(of: parent), kind.isDirectory else { return nil }
    switch kind {
    case .byDate, .history,
      .device where nameBytes.elementsEqual(HistoryView.folderName.utf8):
      return nil
    default: break
    }
    try tree.refreshIfStale(parent)
    return tree.lookUp(parent: parent, nameBytes: nameBytes)
  }

  /// The kernel dropped `count` references to `ino`. Nodes stay in the table (their numbers
  /// are reserved for their paths), so this only keeps the count honest.
  public func forget(ino: UInt64, count: UInt64) {
    tree.dropLookups(ino, count)
  }

  public func attributes(ino: UInt64) throws(FSError) -> Attributes {
    guard let stat = tree.stat(ino) else { throw .notFound }
    return attributes(of: stat)
  }

  /// The entries of a directory (without `.` and `..`), listing S3 first if the cached
  /// listing is older than its time-to-live.
  public func listDirectory(ino: UInt64) throws(FSError) -> [DirectoryEntry] {
    guard let kind = tree.kind(of: ino) else { throw .notFound }
    guard kind.isDirectory else { throw .notDirectory }
    if case .device = kind, let node = tree.existingNode(ino) { tree.prefetchNextDevices(after: node) }
    try refreshIfStale(ino)
    if kind == .byDate(.session) {
      let files = try byDate.files(ino)
      if let session = files.first?.parent { tree.readThroughDay(session: session, logs: files.map(\.ino)) }
      return files.map { DirectoryEntry(name: $0.name, attributes: attributes(of: $0)) }
    }
    if kind == .session { tree.readSessionFolder(ino) }
    // .raw/ and .edgemount/ are reachable by name but not listed, so find, du and rsync of
    // the whole mount walk every object once and copy only the fleet.
    // A walk reads the fleet folder and then goes into its devices: the first device listed
    // soon after counts as a step of the walk, and lists the next devices ahead.
    if ino == Self.rootIno { tree.rootWasRead() }
    // A device's .history is reachable by name but not listed either.
    let children = tree.presentChildren(of: ino).filter {
      !(ino == Self.rootIno && ($0.kind == .rawDirectory || $0.kind == .statusDirectory || $0.kind == .byDate(.root)))
        && $0.kind != .history(.device)
    }
    return children.map { DirectoryEntry(name: $0.name, attributes: attributes(of: $0)) }
  }

  /// Counts one kernel reference for each entry a readdirplus reply handed out.
  public func retain(ino: UInt64) {
    tree.addLookups(ino, 1)
  }

  public var inodeCount: Int { tree.count }

  /// Opens a directory: its entries (with `.` and `..`) as they are now, kept for the handle
  /// so readdir offsets stay valid while the kernel reads it in several calls.
  public func openDirectory(ino: UInt64) throws(FSError) -> UInt64 {
    let entries = try listDirectory(ino: ino)
    var dot = try attributes(ino: ino)
    dot.timeout = 0
    return handles.openDirectory(
      [DirectoryEntry(name: ".", attributes: dot), DirectoryEntry(name: "..", attributes: dot)] + entries)
  }

  public func directoryEntries(handle: UInt64) -> [DirectoryEntry]? { handles.directoryEntries(handle) }
  public func closeDirectory(handle: UInt64) { handles.closeDirectory(handle) }

  func attributes(of node: Node) -> Attributes {
    attributes(of: InodeTable.Stat(ino: node.ino, kind: node.kind, size: node.size, mtime: node.mtime, present: node.present))
  }

  /// getattr's and lookup's path: from the packed record, no node unpacked, no string built.
  func attributes(of node: InodeTable.Stat) -> Attributes {
    var node = node
    if let size = saves.localSize(node.ino) { node.size = size }
    let mode: UInt32
    let timeout: Double
    var size = node.size
    var mtime = node.mtime
    switch node.kind {
    case .root, .device, .session, .statusDirectory, .rawDirectory, .byDate, .history:
      mode = node.kind == .history(.device) || node.kind == .history(.file) ? 0o555 : 0o755
      timeout = Double(settings.listTTL.components.seconds)
      mtime = Int64(startedAt.timeIntervalSince1970)
      size = 0
    case .object(.scratch):
      // A scratch file in a device folder may be an editor's copy of a config (swap file,
      // backup): the config's mode, 0600 unless --config-mode widens it. Never uploaded.
      mode = settings.configMode
      timeout = 1
    case .object(.storedConfig):
      mode = settings.configMode & ~0o222
      timeout = Double(settings.listTTL.components.seconds)
    case .object(.version):
      // A config's old version holds its secrets as much as the current one does.
      mode = 0o444 & settings.configMode
      timeout = Double(settings.listTTL.components.seconds)
    case .object(.log), .object(.other):
      mode = 0o444
      timeout = node.kind == .object(.log) ? settings.immutableTTL : Double(settings.listTTL.components.seconds)
    case .object(.deviceFile(let kind)):
      switch kind {
      case .heartbeat, .schema, .other:
        mode = 0o444
        timeout = Double(settings.heartbeatTTL.components.seconds)
      case .config:
        // A config can hold the device's secrets (its S3 secret key, Wi-Fi passwords).
        mode = settings.configMode
        timeout = 1
      case .firmware, .certificates:
        mode = 0o644
        timeout = 1
      }
    case .statusFile(let file):
      mode = 0o444
      timeout = 0
      // devices.csv and days.csv walk the whole fleet: their size is the one from their last open.
      size =
        file == .devices || file == .days
        ? UInt64(reportSizes.withLock { $0[file] ?? 0 }) : UInt64(statusText(file).utf8.count)
      mtime = Int64(clock.now().timeIntervalSince1970)
    }
    var effective = mode & ~settings.umask
    if settings.readOnly { effective &= ~0o222 }
    return Attributes(
      ino: node.ino, isDirectory: node.kind.isDirectory, mode: effective, size: size, mtime: mtime,
      uid: settings.uid, gid: settings.gid, timeout: timeout, links: node.kind == .object(.log) ? 2 : 1)
  }
}
