import CANedge
import Cache
import Foundation
import Locking
import S3

/// `DEVICE/.history/NAME/VERSION`: every stored version and delete marker of the files users
/// change in a device folder (configs, `firmware.bin`, `certs_server.p7b`), from
/// `ListObjectVersions`. Read-only; a version is restored by copying it over the file, which is
/// an ordinary, validated save. Without versioning on the bucket, each NAME holds its current
/// version only. It owns the versions listed (by the version file's inode), when each
/// `.history` folder was listed, and the bytes and `edited-by` of versions read (a version
/// never changes, so they are cached by version id).
final class HistoryView: CorePart, Sendable {
  static let folderName = ".history"

  struct State: Sendable {
    var versioning: BucketVersioning = .unknown
    /// False once the server has failed a version listing on a bucket of unknown versioning:
    /// from then on `.history` shows current versions only.
    var versionListing = true
    /// When each `.history` folder was listed, and the mount's change count of its device then.
    var listedAt: [UInt64: (at: ContinuousClock.Instant, changes: Int)] = [:]
    /// The version each version file stands for, by `.history` folder: replaced whole at each
    /// listing, so versions gone from the server leave nothing behind.
    var versions: [UInt64: [UInt64: ObjectVersion]] = [:]
    /// Bytes of versions read, by version id (or ETag for a current-only entry).
    var contents = BoundedCache<String, [UInt8]>(limit: 16)
    /// `edited-by` of versions asked for ("" when the version has none).
    var editedBy = BoundedCache<String, String>(limit: 4096)
  }

  let tree: FleetTree
  let journal: ChangeJournal
  /// Its pool runs the version listings side by side.
  let headers: HeaderIndex
  let context: CoreContext
  private let state = Locked(State())
  private let flights = FlightTable<UInt64, FSError?>()

  init(tree: FleetTree, journal: ChangeJournal, headers: HeaderIndex, context: CoreContext) {
    self.tree = tree
    self.journal = journal
    self.headers = headers
    self.context = context
  }

  var versioning: BucketVersioning {
    get { state.withLock { $0.versioning } }
    set { state.withLock { $0.versioning = newValue } }
  }

  /// Whether `name` in a device folder is one of the files `.history` keeps: the server files
  /// users change.
  static func isTracked(_ name: String) -> Bool {
    if case .serverFile = FleetFileSystem.writeTarget(name: name, existing: nil) { return true }
    return false
  }

  /// The device's `.history` folder, made on first lookup (it is never listed in the device).
  func folder(of device: Node) -> InodeTable.Stat {
    tree.withTable { table in
      let ino = table.upsert(
        parent: device.ino, name: Self.folderName, kind: .history(.device), key: device.key + Self.folderName + "/"
      ) { $0.present = true }
      // Invariant: the node was just upserted.
      return table.stat(ino)!
    }
  }

  /// The `.history` folder a history node belongs to.
  private func historyFolder(of node: Node) -> Node? {
    switch node.kind {
    case .history(.device): return node
    case .history(.file): return tree.existingNode(node.parent)
    case .object(.version): return tree.existingNode(node.parent).flatMap { tree.existingNode($0.parent) }
    default: return nil
    }
  }

  /// Lists the versions of the device that `ino` (a `.history` folder or one of its NAME
  /// folders) belongs to, if its listing is older than `--list-ttl` or the mount changed a file
  /// of the device since.
  func refreshIfStale(_ ino: UInt64) throws(FSError) {
    let node = try tree.node(ino)
    guard let history = historyFolder(of: node), let device = tree.existingNode(history.parent) else {
      throw .notFound
    }
    let now = clock.instant()
    let changes = journal.changeCount(deviceKey: device.key)
    let fresh = state.withLock { s in
      guard let listed = s.listedAt[history.ino] else { return false }
      return listed.changes == changes && now - listed.at < settings.listTTL
    }
    guard !fresh else { return }
    let failure = flights.outcome(for: history.ino) { () -> FSError? in
      do throws(FSError) {
        try refresh(history, device: device)
        return nil
      } catch {
        errors.append("list versions of \(device.key): \(error)")
        return error
      }
    }
    if let failure { throw failure }
  }

  /// `name` in a `.history` folder.
  func lookup(_ parent: UInt64, name: String) throws(FSError) -> InodeTable.Stat {
    try refreshIfStale(parent)
    guard let stat = tree.lookUp(parent: parent, name: name) else { throw .notFound }
    return stat
  }

  private func refresh(_ history: Node, device: Node) throws(FSError) {
    let (mode, listing) = state.withLock { ($0.versioning, $0.versionListing) }
    var versions: [ObjectVersion]
    if mode == .off || !listing {
      versions = try currentVersions(device)
    } else {
      do {
        versions = try listVersions(device)
      } catch {
        guard mode == .unknown else { throw .s3(error) }
        logger.notice("the server lists no versions (\(error)): .history shows current versions only")
        state.withLock { $0.versionListing = false }
        versions = try currentVersions(device)
      }
    }
    let listed = (at: clock.instant(), changes: journal.changeCount(deviceKey: device.key))
    var byKey: [String: [ObjectVersion]] = [:]
    for version in versions {
      guard let name = FleetFileSystem.childName(version.key, under: device.key, isPrefix: false), Self.isTracked(name)
      else { continue }
      byKey[version.key, default: []].append(version)
    }
    var placed: [UInt64: ObjectVersion] = [:]
    var folders: [UInt64] = []
    tree.withTable { table in
      var keepFolders = Set<UInt64>()
      for (key, entries) in byKey {
        let name = String(key.dropFirst(device.key.count))
        let folder = table.upsert(parent: history.ino, name: name, kind: .history(.file), key: key + "/") {
          $0.present = true
        }
        keepFolders.insert(folder)
        folders.append(folder)
        var keep = Set<UInt64>()
        for (fileName, version) in Self.named(entries) {
          let ino = table.upsert(parent: folder, name: fileName, kind: .object(.version), key: key) {
            $0.size = version.isDeleteMarker ? 0 : version.size
            $0.etag = version.etag
            $0.mtime = version.lastModified
            $0.present = true
            $0.onServer = true
          }
          keep.insert(ino)
          placed[ino] = version
        }
        table.retain(childrenOf: folder, keep: keep)
      }
      table.retain(childrenOf: history.ino, keep: keepFolders)
    }
    state.withLock { s in
      s.listedAt[history.ino] = listed
      s.versions[history.ino] = placed
    }
    for folder in folders { invalidations.fire(.inode(folder)) }
  }

  /// The device root's tracked files, each with every version and delete marker. Two scoped
  /// listings (`DEVICE/c`: configs and certificates; `DEVICE/firmware.bin`), side by side so
  /// they cost one round trip, rather than the whole root: device.json gets a new version at
  /// every heartbeat, thousands a month, and would fill the pages.
  private func listVersions(_ device: Node) throws(S3Error) -> [ObjectVersion] {
    let jobs: [@Sendable () -> Result<[ObjectVersion], S3Error>] = [device.key + "c", device.key + "firmware.bin"].map {
      prefix in { [s3] in Result { () throws(S3Error) in try s3.listVersions(prefix: prefix, delimiter: "/").versions } }
    }
    var out: [ObjectVersion] = []
    for result in headers.parallel(jobs) { out += try result.get() }
    return out
  }

  /// Without versioning: each tracked file's current version, from the device folder's own
  /// listing (no request of its own).
  private func currentVersions(_ device: Node) throws(FSError) -> [ObjectVersion] {
    try tree.refreshIfStale(device.ino)
    return tree.presentChildren(of: device.ino).compactMap { node in
      guard node.onServer, Self.isTracked(node.name), case .object(.deviceFile) = node.kind else { return nil }
      return ObjectVersion(
        key: node.key, versionID: "", isLatest: true, isDeleteMarker: false, lastModified: node.mtime, etag: node.etag,
        size: node.size)
    }
  }

  /// The file names of one key's versions, given newest first as `ListObjectVersions` orders
  /// them: the UTC time it was stored (`2026-12-01T10-22-31Z`), `_2`, `_3`, ... for later
  /// versions in the same second, and `.deleted` for a delete marker. `_` sorts after `.`, so
  /// names sort in the order of the versions (`…Z.deleted` < `…Z_2`). Names of older versions
  /// do not change as newer ones come.
  static func named(_ newestFirst: [ObjectVersion]) -> [(String, ObjectVersion)] {
    // The server's order, kept for versions of the same second; the latest first in any case.
    var ordered = newestFirst.enumerated().sorted { a, b in
      if a.element.isLatest != b.element.isLatest { return a.element.isLatest }
      if a.element.lastModified != b.element.lastModified { return a.element.lastModified > b.element.lastModified }
      return a.offset < b.offset
    }.map(\.element)
    ordered.reverse()
    var seen: [Int64: Int] = [:]
    return ordered.map { version in
      let n = (seen[version.lastModified] ?? 0) + 1
      seen[version.lastModified] = n
      let name = stamp(version.lastModified) + (n > 1 ? "_\(n)" : "") + (version.isDeleteMarker ? ".deleted" : "")
      return (name, version)
    }
  }

  /// `2026-12-01T10-22-31Z`: ISO 8601 with `-` for `:`, so it is a file name everywhere.
  static func stamp(_ epoch: Int64) -> String { ISOTime.string(epoch).replacingOccurrences(of: ":", with: "-") }

  // MARK: Versions

  /// The version a version file stands for, from its `.history` folder's last listing.
  func version(of node: Node) -> ObjectVersion? {
    guard let history = historyFolder(of: node) else { return nil }
    return state.withLock { $0.versions[history.ino]?[node.ino] }
  }

  /// The version's bytes: one GET (with `versionId`) the first time, then from memory. A body
  /// whose ETag or size is not the version's is refused, never served: a server that ignored
  /// `versionId` would otherwise hand over the current file as an old one.
  func content(_ node: Node) throws(FSError) -> [UInt8] {
    guard let version = version(of: node) else { throw .notFound }
    if version.isDeleteMarker { return [] }
    let cacheKey = version.versionID.isEmpty ? "etag:" + version.etag : version.versionID
    if let cached = state.withLock({ $0.contents[cacheKey] }) { return cached }
    let object: (bytes: [UInt8], etag: String, lastModified: Int64)
    do {
      object = try s3.getWholeObject(key: version.key, versionID: version.versionID.isEmpty ? nil : version.versionID)
    } catch {
      errors.append("GET \(version.key) version \(version.versionID): \(error)")
      throw FSError(error)
    }
    let sameTag = SaveCoordinator.sameETag(object.etag, version.etag)
    guard sameTag, UInt64(object.bytes.count) == version.size else {
      let why =
        version.versionID.isEmpty
        ? "\(version.key) changed on the server since .history was listed; list it again"
        : "the server answered version \(version.versionID) of \(version.key) with other bytes (ETag \(object.etag), \(object.bytes.count) bytes; listed \(version.etag), \(version.size) bytes)"
      errors.append(why)
      logger.error("\(why)")
      if version.versionID.isEmpty, let history = historyFolder(of: node) {
        state.withLock { _ = $0.listedAt.removeValue(forKey: history.ino) }
      }
      throw .s3(.invalidResponse(why))
    }
    state.withLock { $0.contents[cacheKey] = object.bytes }
    return object.bytes
  }

  /// `edited-by` of the version: its user metadata (one HEAD, cached by version id), or for
  /// a delete marker this mount made, what the mount recorded. Nil for other clients' writes.
  func editedBy(_ node: Node) throws(FSError) -> String? {
    guard let version = version(of: node) else { throw .notFound }
    if let recorded = journal.editedBy(versionID: version.versionID) { return recorded }
    if version.isDeleteMarker { return nil }
    let cacheKey = version.versionID.isEmpty ? "etag:" + version.etag : version.versionID
    if let cached = state.withLock({ $0.editedBy[cacheKey] }) { return cached.isEmpty ? nil : cached }
    let head: ObjectHead
    do {
      head = try s3.headObject(key: version.key, versionID: version.versionID.isEmpty ? nil : version.versionID)
    } catch {
      errors.append("HEAD \(version.key) version \(version.versionID): \(error)")
      throw FSError(error)
    }
    guard SaveCoordinator.sameETag(head.etag, version.etag) else { return nil }
    let value = head.metadata[Editor.metadataName] ?? ""
    state.withLock { $0.editedBy[cacheKey] = value }
    return value.isEmpty ? nil : value
  }

  static let attributeNames = [
    "user.s3.key", "user.s3.etag", "user.s3.version_id", "user.edgemount.current", "user.edgemount.delete_marker",
    "user.edgemount.edited_by", "user.canedge.cfg_crc32",
  ]

  /// One extended attribute of a version file: `user.s3.version_id`, `user.s3.etag`,
  /// `user.edgemount.current` and `delete_marker` (`true`/`false`), `user.edgemount.edited_by`
  /// (when the writer set it), and for a config `user.canedge.cfg_crc32`, the CRC-32 device.json
  /// reports once the device runs it.
  func attribute(_ node: Node, _ name: String) throws(FSError) -> String? {
    guard let version = version(of: node) else { return nil }
    switch name {
    case "user.s3.key": return version.key
    case "user.s3.etag": return version.isDeleteMarker ? nil : version.etag
    case "user.s3.version_id": return version.versionID.isEmpty ? nil : version.versionID
    case "user.edgemount.current": return version.isLatest ? "true" : "false"
    case "user.edgemount.delete_marker": return version.isDeleteMarker ? "true" : "false"
    case "user.edgemount.edited_by": return try editedBy(node)
    case "user.canedge.cfg_crc32":
      guard !version.isDeleteMarker, case .config = DeviceFileKind(name: tree.existingNode(node.parent)?.name ?? "")
      else { return nil }
      return CRC32.hex(try content(node))
    default: return nil
    }
  }

  /// Versions known, for `.edgemount/status`.
  var versionCount: Int { state.withLock { $0.versions.values.reduce(0) { $0 + $1.count } } }
}
