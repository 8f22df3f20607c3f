import Foundation
import Glibc
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// `DEVICE/.history/` in the core, on the in-memory S3 with versioning and a manual clock:
/// names, listing and its TTL, reads checked against the listed version, `edited-by` and
/// `changes.csv`. The same behaviours run through real mounts in HistoryMountTests.
@Suite struct HistoryViewTests {
  let server = InMemoryS3()
  let clock = ManualClock()
  static let device = "A1B2C3D4"

  func makeFS(versioning: BucketVersioning = .enabled) -> FleetFileSystem {
    var settings = MountSettings()
    settings.listTTL = .seconds(30)
    settings.heartbeatTTL = .seconds(60)
    settings.hostName = "ws-12"
    settings.software = "edgemount/9.9.9"
    let fs = FleetFileSystem(
      s3: server.client(bucket: "fleet", clock: clock), settings: settings,
      logger: Logger(label: "history") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
    #expect(fs.checkBucketVersioning() == versioning)
    return fs
  }

  func seed(versioned: Bool = true) {
    if versioned { server.enableVersioning("fleet") }
    server.put("fleet", "\(Self.device)/device.json", Array(#"{"id":"A1B2C3D4"}"#.utf8))
    server.put("fleet", "\(Self.device)/schema-01.09.json", SaveModelTests.schema)
    server.put("fleet", SaveModelTests.key, SaveModelTests.variant(50))
  }

  /// Saves `bytes` over the config as `editor` would (open with O_TRUNC, write, close).
  func save(_ fs: FleetFileSystem, _ bytes: [UInt8], as editor: Editor) throws {
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: Self.device).ino
    let config = try fs.lookup(parent: device, name: SaveModelTests.configName).ino
    let opened = try fs.open(ino: config, flags: O_WRONLY | O_TRUNC, editor: editor)
    _ = try fs.write(handle: opened.handle, offset: 0, data: bytes, owner: 7)
    try fs.flush(handle: opened.handle, owner: 7)
    fs.release(handle: opened.handle)
  }

  func historyFolder(_ fs: FleetFileSystem) throws -> UInt64 {
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: Self.device).ino
    let history = try fs.lookup(parent: device, name: ".history").ino
    return try fs.lookup(parent: history, name: SaveModelTests.configName).ino
  }

  func read(_ fs: FleetFileSystem, _ ino: UInt64) throws(FSError) -> [UInt8] {
    let opened = try fs.open(ino: ino, flags: O_RDONLY)
    defer { fs.release(handle: opened.handle) }
    return try fs.read(handle: opened.handle, offset: 0, count: 1 << 20).bytes
  }

  func version(_ id: String, _ time: Int64, latest: Bool = false, marker: Bool = false) -> ObjectVersion {
    ObjectVersion(key: "D/config-01.09.json", versionID: id, isLatest: latest, isDeleteMarker: marker, lastModified: time)
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func versionNamesSortInTheOrderOfTheVersions() {
    // Newest first, as ListObjectVersions gives them; three in one second, a marker among them.
    let t: Int64 = 1_764_584_551  // 2025-12-01T10:22:31Z
    let named = HistoryView.named([
      version("d", t + 1, latest: true), version("c", t), version("b", t, marker: true), version("a", t),
      version("0", t - 60),
    ])
    let names = named.map(\.0)
    #expect(
      names == [
        "2025-12-01T10-21-31Z", "2025-12-01T10-22-31Z", "2025-12-01T10-22-31Z_2.deleted", "2025-12-01T10-22-31Z_3",
        "2025-12-01T10-22-32Z",
      ])
    #expect(named.map(\.1.versionID) == ["0", "a", "b", "c", "d"])
    #expect(names == names.sorted(), "names sort in the order of the versions")
    // A marker first in its second still sorts before the version after it.
    let markerFirst = HistoryView.named([version("y", t), version("x", t, marker: true)]).map(\.0)
    #expect(markerFirst == ["2025-12-01T10-22-31Z.deleted", "2025-12-01T10-22-31Z_2"])
    #expect(markerFirst == markerFirst.sorted())
    // A server that lists delete markers after the versions: the latest still comes last.
    let grouped = HistoryView.named([version("v2", t + 5), version("v1", t), version("m", t + 9, latest: true, marker: true)])
    #expect(grouped.map(\.1.versionID) == ["v1", "v2", "m"])
    // Names of older versions stay as newer ones come.
    let older = [version("c", t, latest: true), version("b", t, marker: true), version("a", t)]
    let before = HistoryView.named(older).map(\.0)
    let after = HistoryView.named(
      [version("e", t, latest: true)]
        + older.map {
          var v = $0; v.isLatest = false; return v
        })
    #expect(Array(after.map(\.0).prefix(3)) == before)
    #expect(after.last?.0 == "2025-12-01T10-22-31Z_4")
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func savesAreListedWithWhoMadeThemAndAnotherClientsAfterTheTTL() throws {
    seed()
    let fs = makeFS()
    try save(fs, SaveModelTests.variant(60), as: Editor(user: "alice", program: "vim"))
    try save(fs, SaveModelTests.variant(61), as: Editor(user: "bob", program: "sed"))
    let folder = try historyFolder(fs)
    var entries = try fs.listDirectory(ino: folder)
    #expect(entries.count == 3, "\(entries.map(\.name))")
    #expect(try read(fs, entries[0].attributes.ino) == SaveModelTests.variant(50))
    #expect(try read(fs, entries[2].attributes.ino) == SaveModelTests.variant(61))
    #expect(try fs.extendedAttribute(ino: entries[0].attributes.ino, name: "user.edgemount.edited_by") == nil)
    #expect(
      try fs.extendedAttribute(ino: entries[1].attributes.ino, name: "user.edgemount.edited_by")
        == "alice@ws-12 vim edgemount/9.9.9")
    #expect(try fs.extendedAttribute(ino: entries[2].attributes.ino, name: "user.edgemount.current") == "true")
    #expect(entries.allSatisfy { $0.attributes.mode & 0o222 == 0 }, "version files are read-only")
    // The server holds what the xattrs say.
    let stored = server.versions("fleet", SaveModelTests.key)
    #expect(stored.last?.object?.metadata["edited-by"] == "bob@ws-12 sed edgemount/9.9.9")
    #expect(
      try fs.extendedAttribute(ino: entries[2].attributes.ino, name: "user.s3.version_id") == stored.last?.id)

    // Another client's PUT: seen once the listing's TTL has passed, not before.
    server.put("fleet", SaveModelTests.key, SaveModelTests.variant(62))
    let lists = fs.s3.counters.snapshot.list
    #expect(try fs.listDirectory(ino: folder).count == 3)
    #expect(fs.s3.counters.snapshot.list == lists, "within --list-ttl: no request")
    clock.advance(by: .seconds(30))
    entries = try fs.listDirectory(ino: folder)
    #expect(entries.count == 4)
    #expect(fs.s3.counters.snapshot.list == lists + 2, "two scoped ListObjectVersions: DEVICE/c and firmware.bin")
    #expect(try fs.extendedAttribute(ino: entries[3].attributes.ino, name: "user.edgemount.edited_by") == nil)
    // A save through the mount is listed at once, TTL or not (after the user read the file:
    // a save over a version nobody here has seen is a lost update, refused).
    let config = try fs.lookup(
      parent: try fs.lookup(parent: FleetFileSystem.rootIno, name: Self.device).ino, name: SaveModelTests.configName)
    #expect(try read(fs, config.ino) == SaveModelTests.variant(62))
    try save(fs, SaveModelTests.variant(63), as: Editor(user: "carol", program: "cp"))
    #expect(try fs.listDirectory(ino: folder).count == 5)

    // changes.csv: one row per PUT, with its version id, size, user and program.
    let rows = fs.statusText(.changes).split(separator: "\n").map(String.init)
    #expect(rows.count == 4, "\(rows)")
    #expect(rows[1].hasSuffix(",A1B2C3D4,config-01.09.json,put,\(stored[1].id),\(SaveModelTests.variant(60).count),alice,vim,"))
    #expect(rows[3].contains(",put,") && rows[3].contains(",carol,cp,"))
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func aServerThatIgnoresVersionIDNeverPassesTheCurrentFileOffAsAnOldOne() throws {
    seed()
    let fs = makeFS()
    try save(fs, SaveModelTests.variant(60), as: Editor(user: "alice", program: "vim"))
    let folder = try historyFolder(fs)
    let first = try fs.listDirectory(ino: folder)[0].attributes.ino
    server.faults.withLock { $0 = { method, _ in method == "GET" ? .ignoreVersionID : nil } }
    #expect(throws: FSError.self) { try read(fs, first) }
    #expect(fs.errors.text.contains("with other bytes"), "\(fs.errors.text)")
    server.faults.withLock { $0 = nil }
    #expect(try read(fs, first) == SaveModelTests.variant(50))
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func historyIsReachableByNameOnlyAndReadOnly() throws {
    seed()
    let fs = makeFS()
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: Self.device).ino
    #expect(!(try fs.listDirectory(ino: device).map(\.name).contains(".history")))
    let history = try ".history".withCString { c in try fs.lookup(parent: device, cName: c) }
    #expect(history.isDirectory && history.mode & 0o222 == 0)
    #expect(try fs.listDirectory(ino: history.ino).map(\.name) == [SaveModelTests.configName])
    // A listing of the device keeps it; the device's listing never shows it.
    clock.advance(by: .seconds(60))
    #expect(!(try fs.listDirectory(ino: device).map(\.name).contains(".history")))
    #expect(try fs.lookup(parent: device, name: ".history").ino == history.ino)
    let folder = try historyFolder(fs)
    let version = try fs.listDirectory(ino: folder)[0].attributes.ino
    let readOnly = FleetFileSystem.historyIsReadOnly
    #expect(throws: readOnly) { try fs.open(ino: version, flags: O_WRONLY) }
    #expect(throws: readOnly) { try fs.create(parent: folder, name: "x", flags: O_WRONLY | O_CREAT) }
    #expect(throws: readOnly) { try fs.unlink(parent: folder, name: "x") }
    #expect(throws: readOnly) { try fs.setAttributes(ino: version, size: 0, handle: nil) }
    #expect(throws: readOnly) {
      try fs.rename(parent: device, name: SaveModelTests.configName, newParent: folder, newName: "y", flags: 0)
    }
    #expect(fs.refuseChange(in: device, name: ".history") == readOnly)
    #expect(fs.refuseChange(in: history.ino, name: "new") == readOnly)
    #expect(fs.errors.text.contains("the .history view is read-only"))
  }

  // SEMANTICS.md § Versions and rollback (`DEVICE/.history/`)
  @Test func withoutVersioningEachFileShowsItsCurrentVersionAtNoExtraRequest() throws {
    seed(versioned: false)
    let fs = makeFS(versioning: .off)
    try save(fs, SaveModelTests.variant(60), as: Editor(user: "alice", program: "vim"))
    let before = server.requestLog.count
    let folder = try historyFolder(fs)
    let entries = try fs.listDirectory(ino: folder)
    #expect(entries.count == 1)
    #expect(!server.requestLog.dropFirst(before).contains { $0.hasPrefix("GET /") }, "\(server.requestLog.dropFirst(before))")
    #expect(try read(fs, entries[0].attributes.ino) == SaveModelTests.variant(60))
    #expect(try fs.extendedAttribute(ino: entries[0].attributes.ino, name: "user.s3.version_id") == nil)
    #expect(fs.statusText(.status).contains("bucket_versioning: off"))
    #expect(fs.statusText(.changes).contains(",put,,"), "no version id without versioning")
  }
}
