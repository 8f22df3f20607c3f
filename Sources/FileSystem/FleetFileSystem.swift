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

  public let s3: S3Client
  public let settings: MountSettings
  public let errors = ErrorLog()
  let logger: Logger
  let startedAt = Date()
  let state: Locked<State>
  /// Small caches of things fetched on demand (heartbeats, config CRCs, object metadata).
  let caches = Locked(Caches())

  /// Every one bounded, least recently used dropped first (`.edgemount/status` shows their
  /// sizes and limits).
  struct Caches: Sendable {
    struct Heartbeat: Sendable {
      var fetched: ContinuousClock.Instant
      var json: JSONValue?
      var modified: Int64?
    }
    var heartbeats = BoundedCache<String, Heartbeat>(limit: 4096)
    /// What configs' bytes say (CRC-32, plain-text secrets) by ETag.
    var configFacts = BoundedCache<String, ConfigFacts>(limit: 4096)
    /// The plain-text secret paths last reported in `.edgemount/errors`, by config key: one
    /// line per device and file, again only when the paths change.
    var reportedSecrets = BoundedCache<String, [String]>(limit: 4096)
    /// Parsed rule schemas by ETag (one per model and firmware version in practice).
    var schemas = BoundedCache<String, JSONValue>(limit: 32)
    /// Firmware images' header versions by ETag.
    var firmwareVersions = BoundedCache<String, String>(limit: 1024)
    /// HeadObject metadata by key + ETag.
    var metadata = BoundedCache<String, [String: String]>(limit: 65_536)
    /// The sizes of devices.csv and days.csv at their last open (they walk the fleet).
    var reportSizes: [StatusFile: Int] = [:]
    /// Certificates of bundles by ETag.
    var bundles = BoundedCache<String, [CertificateBundle.Certificate]>(limit: 1024)
  }

  struct State: Sendable {
    var table: InodeTable
    /// When each directory was last listed.
    var listedAt: [UInt64: ContinuousClock.Instant] = [:]
    var handles: [UInt64: OpenFile] = [:]
    var nextHandle: UInt64 = 1
    /// Folding results per session directory, for `.edgemount/duplicates`.
    var folds: [UInt64: FoldedSession] = [:]
    /// Scratch files' content by inode.
    var scratch: [UInt64: StagedFile] = [:]
    /// Server files unlinked with `--allow-delete` whose DELETE waits a moment, by inode: `mv`
    /// and `install` from another filesystem unlink the target and create it again at once,
    /// and that save then replaces the object instead (there is never a moment without it).
    var pendingDeletes: Set<UInt64> = []
    /// The save that wrote last, by inode: its size is what `stat` shows while it is open.
    var latestSave: [UInt64: SaveView] = [:]
    /// Open handles per inode, so a staged save is dropped when its last handle closes.
    var openHandles: [UInt64: Int] = [:]
    /// When a device folder (or the fleet folder) was last listed: a walk through the fleet
    /// lists them in a row.
    var lastDeviceListing: (ino: UInt64, at: ContinuousClock.Instant)?
    /// The log file last opened in each session (a copy walks them in name order).
    var lastOpened = BoundedCache<UInt64, UInt64>(limit: 4096)
    /// Device folders of the root, and log files of sessions, in name order: dropped at each
    /// listing of the folder, built again on the next walk step.
    var folderOrders = BoundedCache<UInt64, FolderOrder>(limit: 1024)
    /// The logs of each `.by-date/` session folder: the device tree's session and those of its
    /// log inodes that are on the day. A folder dropped from it is placed again (from the
    /// headers already read) when it is next used.
    var byDateFiles = BoundedCache<UInt64, ByDateSessionFiles>(limit: 4096)
  }

  /// Called after a save changed a file, so the kernel drops its cached pages and attributes.
  public let invalidations = InvalidationHook()

  /// Blocks of log files: memory, the disk cache if any, prefetching.
  let fetcher: BlockFetcher
  /// Logs' recording times from their MF4 headers, for `.by-date/` and the time xattrs.
  let headers: HeaderIndex
  /// Listings under way, so a folder is listed once however many threads ask.
  let listingFlights = FlightTable<UInt64, FSError?>()

  /// `headerStore`: where headers read are kept across mounts (in `--cache-dir`), with the
  /// records it already holds.
  public init(
    s3: S3Client, settings: MountSettings, diskCache: DiskBlockCache? = nil,
    headerStore: (HeaderRecordStore, [HeaderRecordStore.Record])? = nil, logger: Logger = Logger(label: "edgemount.fs")
  ) {
    fetcher = BlockFetcher(s3: s3, memory: MemoryBlockCache(capacity: settings.memoryCacheBytes), disk: diskCache)
    headers = HeaderIndex(store: headerStore?.0, records: headerStore?.1 ?? [])
    self.s3 = s3
    self.settings = settings
    self.logger = logger
    var table = InodeTable(rootPrefix: settings.rootPrefix)
    let statusIno = table.upsert(parent: InodeTable.rootIno, name: Self.statusDirectoryName, kind: .statusDirectory, key: "")
    for file in StatusFile.allCases {
      table.upsert(parent: statusIno, name: file.rawValue, kind: .statusFile(file), key: "")
    }
    table.upsert(parent: InodeTable.rootIno, name: Self.rawDirectoryName, kind: .rawDirectory, key: settings.rootPrefix)
    table.upsert(parent: InodeTable.rootIno, name: Self.byDateDirectoryName, kind: .byDate(.root), key: "")
    var initial = State(table: table)
    initial.byDateFiles = BoundedCache(limit: settings.byDateFolderLimit)
    state = Locked(initial)
    state.withLock { $0.listedAt[statusIno] = .now + .seconds(1_000_000_000) }
  }

  // MARK: Lookup and attributes

  /// Finds `name` in directory `parent` and counts one kernel reference to it.
  public func lookup(parent: UInt64, name: String) throws(FSError) -> Attributes {
    guard name.utf8.count <= 255 else { throw .nameTooLong }
    if case .byDate(let folder)? = state.withLock({ $0.table.kind(of: parent) }) {
      let stat = try lookupByDate(parent, folder, name: name)
      state.withLock { $0.table.addLookups(stat.ino, 1) }
      return attributes(of: stat)
    }
    try refreshIfStale(parent)
    let stat = try state.withLock { (s: inout State) throws(FSError) -> InodeTable.Stat in
      guard let kind = s.table.kind(of: parent) else { throw .notFound }
      guard kind.isDirectory else { throw .notDirectory }
      guard let ino = s.table.childIno(of: parent, named: name), let stat = s.table.stat(ino), stat.present else {
        throw .notFound
      }
      s.table.addLookups(ino, 1)
      return stat
    }
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
    guard let kind = state.withLock({ $0.table.kind(of: parent) }), kind.isDirectory else { return nil }
    if case .byDate = kind { return nil }
    try refreshIfStale(parent)
    return state.withLock { s in
      guard let ino = s.table.childIno(of: parent, nameBytes: nameBytes), let stat = s.table.stat(ino), stat.present
      else { return nil }
      s.table.addLookups(ino, 1)
      return stat
    }
  }

  /// The kernel dropped `count` references to `ino`. Nodes stay in the table (their numbers
  /// are reserved for their paths), so this only keeps the count honest.
  public func forget(ino: UInt64, count: UInt64) {
    state.withLock { s in
      s.table.dropLookups(ino, count)
    }
  }

  public func attributes(ino: UInt64) throws(FSError) -> Attributes {
    guard let stat = state.withLock({ $0.table.stat(ino) }) else { throw .notFound }
    return attributes(of: stat)
  }

  /// The entries of a directory (without `.` and `..`), listing S3 first if the cached
  /// listing is older than its time-to-live.
  public func listDirectory(ino: UInt64) throws(FSError) -> [DirectoryEntry] {
    let kind = state.withLock { $0.table.kind(of: ino) }
    if case .device? = kind, let node = state.withLock({ $0.table[ino] }) { prefetchNextDevices(after: node) }
    try refreshIfStale(ino)
    if kind == .byDate(.session) {
      return try byDateFiles(ino).map { DirectoryEntry(name: $0.name, attributes: attributes(of: $0)) }
    }
    let children = try state.withLock { (s: inout State) throws(FSError) -> [Node] in
      guard let node = s.table[ino] else { throw .notFound }
      guard node.kind.isDirectory else { throw .notDirectory }
      // .raw/ and .edgemount/ are reachable by name but not listed, so find, du and rsync of
      // the whole mount walk every object once and copy only the fleet.
      // A walk reads the fleet folder and then goes into its devices: the first device listed
      // soon after counts as a step of the walk, and lists the next devices ahead.
      if ino == Self.rootIno { s.lastDeviceListing = (ino, .now) }
      return s.table.presentChildren(of: ino).filter {
        !(ino == Self.rootIno && ($0.kind == .rawDirectory || $0.kind == .statusDirectory || $0.kind == .byDate(.root)))
      }
    }
    return children.map { DirectoryEntry(name: $0.name, attributes: attributes(of: $0)) }
  }

  /// Counts one kernel reference for each entry a readdirplus reply handed out.
  public func retain(ino: UInt64) {
    state.withLock { $0.table.addLookups(ino, 1) }
  }

  public var inodeCount: Int { state.withLock { $0.table.count } }

  /// The folder's devices or logs in name order, built if needed.
  func folderOrder(_ s: inout State, _ folder: UInt64) -> FolderOrder {
    if let order = s.folderOrders[folder] { return order }
    let order = FolderOrder(
      s.table.presentChildren(of: folder).filter {
        switch $0.kind {
        case .device, .object(.log): return true
        default: return false
        }
      })
    s.folderOrders[folder] = order
    return order
  }

  /// Never call with `state` locked: status files and staged files read `state`.
  func attributes(of node: Node) -> Attributes {
    attributes(of: InodeTable.Stat(ino: node.ino, kind: node.kind, size: node.size, mtime: node.mtime, present: node.present))
  }

  /// getattr's and lookup's path: from the packed record, no node unpacked, no string built.
  func attributes(of node: InodeTable.Stat) -> Attributes {
    var node = node
    // One lock for both.
    let local: (scratch: StagedFile?, save: SaveView?) = state.withLock { ($0.scratch[node.ino], $0.latestSave[node.ino]) }
    if let size = local.scratch?.size ?? local.save?.size { node.size = size }
    let mode: UInt32
    let timeout: Double
    var size = node.size
    var mtime = node.mtime
    switch node.kind {
    case .root, .device, .session, .statusDirectory, .rawDirectory, .byDate:
      mode = 0o755
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
        ? UInt64(caches.withLock { $0.reportSizes[file] ?? 0 }) : UInt64(statusText(file).utf8.count)
      mtime = Int64(Date().timeIntervalSince1970)
    }
    var effective = mode & ~settings.umask
    if settings.readOnly { effective &= ~0o222 }
    return Attributes(
      ino: node.ino, isDirectory: node.kind.isDirectory, mode: effective, size: size, mtime: mtime,
      uid: settings.uid, gid: settings.gid, timeout: timeout, links: node.kind == .object(.log) ? 2 : 1)
  }
}
