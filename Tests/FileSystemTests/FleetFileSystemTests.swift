import CANedge
import DemoFleet
import Foundation
import Glibc
import S3
import TestSupport
import Testing

@testable import FileSystem

/// The filesystem core on the in-memory S3 (S3's rules, no network) with a manual clock,
/// without a kernel mount. The same behaviours run against real servers and a real mount in
/// MountTests.
@Suite struct FleetFileSystemTests {
  let clock = ManualClock()

  func makeFS(_ client: S3Client, readOnly: Bool = false, listTTL: Duration = .seconds(30)) -> FleetFileSystem {
    var settings = MountSettings()
    settings.readOnly = readOnly
    settings.uid = 1000
    settings.gid = 1000
    settings.listTTL = listTTL
    return FleetFileSystem(s3: client, settings: settings, clock: clock)
  }

  /// A new bucket on a new in-memory server.
  func freshBucket() -> S3Client { InMemoryS3().client(bucket: "fleet", clock: clock) }

  /// Waits until the prefetch and list-ahead lanes have nothing queued or running: what they
  /// were asked to do is done, and nothing more will come unless asked.
  func settle(_ fs: FleetFileSystem) throws {
    try waitUntil("the worker lanes are idle") { fs.fetcher.isIdle }
  }

  func path(_ fs: FleetFileSystem, _ components: String...) throws -> Attributes {
    var ino = FleetFileSystem.rootIno
    var attrs = try fs.attributes(ino: ino)
    for c in components {
      attrs = try fs.lookup(parent: ino, name: c)
      ino = attrs.ino
    }
    return attrs
  }

  // SEMANTICS.md § The tree
  @Test func rootShowsDevicesAndStatusButNotForeignPrefixes() throws {
    let s3 = freshBucket()
    for key in [
      "A1B2C3D4/device.json", "a1b2c3d5/00000001/00000001-5E0BE100.MF4", "aggregations/x.csv", "top.txt", "12345678X/x",
    ] {
      try s3.putObject(key: key, body: [1])
    }
    let fs = makeFS(s3)
    let names = try fs.listDirectory(ino: FleetFileSystem.rootIno).map(\.name)
    #expect(names == ["A1B2C3D4", "a1b2c3d5"])
    #expect(try fs.lookup(parent: FleetFileSystem.rootIno, name: ".edgemount").isDirectory)
    #expect(throws: FSError.notFound) { try fs.lookup(parent: FleetFileSystem.rootIno, name: "aggregations") }
  }

  /// Once the mount is up the fleet folder is listed ahead: the first lookup of a device (the
  /// first `ls` or `rsync` of it) waits for no listing of its own.
  @Test func theFleetFolderIsListedAheadOfItsFirstUse() throws {
    let s3 = freshBucket()
    try s3.putObject(key: "A1B2C3D4/device.json", body: [1])
    let fs = makeFS(s3)
    fs.listFleetAhead()
    try settle(fs)
    let listed = s3.counters.snapshot.list
    #expect(listed == 1)
    #expect(try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").isDirectory)
    #expect(s3.counters.snapshot.list == listed, "the lookup listed the fleet folder again")
  }

  /// The kernel's C-string lookup (found by the name's bytes) answers as the String one does:
  /// the same inode and attributes, ENOENT, ENAMETOOLONG, the hidden folders and `.by-date/`.
  @Test func aLookupByTheKernelsCStringAnswersAsTheStringOne() throws {
    let server = InMemoryS3()
    let client = server.client(bucket: "cnames")
    server.put("cnames", "A1B2C3D4/00000001/00000001-5E0BE100.MF4", [1, 2, 3])
    server.put("cnames", "A1B2C3D4/device.json", Array("{}".utf8))
    let fs = makeFS(client)
    func both(_ parent: UInt64, _ name: String) -> (Result<Attributes, FSError>, Result<Attributes, FSError>) {
      let byString = Result { () throws(FSError) in try fs.lookup(parent: parent, name: name) }
      let byBytes = name.withCString { c in Result { () throws(FSError) in try fs.lookup(parent: parent, cName: c) } }
      return (byString, byBytes)
    }
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4")
    let session = try fs.lookup(parent: device.ino, name: "00000001")
    for (parent, name) in [
      (session.ino, "00000001-5E0BE100.MF4"), (device.ino, "device.json"), (FleetFileSystem.rootIno, ".edgemount"),
      (FleetFileSystem.rootIno, ".by-date"), (FleetFileSystem.rootIno, ".raw"),
    ] {
      let (a, b) = both(parent, name)
      #expect(try a.get() == b.get(), "\(name)")
    }
    #expect(throws: FSError.notFound) { try both(session.ino, "00000002-5E0BE100.MF4").1.get() }
    #expect(throws: FSError.nameTooLong) { try both(session.ino, String(repeating: "a", count: 256)).1.get() }
    let log = try both(session.ino, "00000001-5E0BE100.MF4").1.get()
    #expect(throws: FSError.notDirectory) { try both(log.ino, "x").1.get() }
  }

  @Test func unknownNamesInSessionsAreShownReadOnlyAndNestedPrefixesSkipped() throws {
    let s3 = freshBucket()
    for key in [
      "A1B2C3D4/00000001/00000001-5E0BE100.MF4", "A1B2C3D4/00000001/notes.txt",
      "A1B2C3D4/00000001/deeper/00000002-5E0BE100.MF4", "A1B2C3D4/0000001/x", "A1B2C3D4/custom.cfg",
    ] {
      try s3.putObject(key: key, body: [1, 2])
    }
    let fs = makeFS(s3)
    let session = try path(fs, "A1B2C3D4", "00000001")
    #expect(try fs.listDirectory(ino: session.ino).map(\.name) == ["00000001-5E0BE100.MF4", "notes.txt"])
    let device = try path(fs, "A1B2C3D4")
    #expect(try fs.listDirectory(ino: device.ino).map(\.name) == ["00000001", "custom.cfg"])
    #expect(try path(fs, "A1B2C3D4", "custom.cfg").mode == 0o444)
  }

  @Test func inodeNumbersSurviveRelistingAndAnObjectComingBack() throws {
    let s3 = freshBucket()
    let key = "A1B2C3D4/00000001/00000001-5E0BE100.MF4"
    try s3.putObject(key: key, body: [1])
    try s3.putObject(key: "A1B2C3D4/00000001/00000002-5E0BE100.MF4", body: [2])
    let fs = makeFS(s3, listTTL: .zero)
    let first = try path(fs, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4").ino
    try s3.deleteObject(key: key)
    let session = try path(fs, "A1B2C3D4", "00000001").ino
    #expect(try fs.listDirectory(ino: session).map(\.name) == ["00000002-5E0BE100.MF4"])
    #expect(throws: FSError.notFound) { try fs.lookup(parent: session, name: "00000001-5E0BE100.MF4") }
    try s3.putObject(key: key, body: [1, 1])
    let again = try path(fs, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4")
    #expect(again.ino == first)
    #expect(again.size == 2)
  }

  // SEMANTICS.md § Attributes
  @Test func attributesFollowSpec() throws {
    let s3 = freshBucket()
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: [UInt8](repeating: 7, count: 1234))
    try s3.putObject(key: "A1B2C3D4/config-01.09.json", body: Array("{}".utf8))
    let fs = makeFS(s3)
    let log = try path(fs, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4")
    #expect(log.size == 1234 && log.mtime == 1_577_836_800 && log.mode == 0o444 && !log.isDirectory)
    #expect(log.uid == 1000 && log.gid == 1000)
    #expect(log.timeout >= 3600)
    // A config can hold the device's secrets: the owner's only, unless --config-mode widens it.
    #expect(try path(fs, "A1B2C3D4", "config-01.09.json").mode == 0o600)
    #expect(try path(fs, "A1B2C3D4").mode == 0o755)
    let readOnly = makeFS(s3, readOnly: true)
    #expect(try path(readOnly, "A1B2C3D4", "config-01.09.json").mode == 0o400)
  }

  /// Configs, their copies under `.raw/` and scratch files in device folders take the config
  /// mode (0600, or what `--config-mode` gives); `--umask` only narrows it; logs, device.json,
  /// schemas and firmware keep their modes.
  @Test func filesThatCanHoldSecretsTakeTheConfigMode() throws {
    let server = InMemoryS3()
    let client = server.client(bucket: "modes")
    server.put("modes", "A1B2C3D4/config-01.09.json", Array("{}".utf8))
    server.put("modes", "A1B2C3D4/device.json", Array("{}".utf8))
    server.put("modes", "A1B2C3D4/schema-01.09.json", Array("{}".utf8))
    server.put("modes", "A1B2C3D4/firmware.bin", [1, 2, 3])
    server.put("modes", "A1B2C3D4/00000001/00000001-5E0BE100.MF4", [1, 2, 3])
    func modes(configMode: UInt32, umask: UInt32) throws -> [String: UInt32] {
      var settings = MountSettings()
      settings.configMode = configMode
      settings.umask = umask
      let fs = FleetFileSystem(s3: client, settings: settings)
      let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
      let (scratch, handle) = try fs.create(parent: device, name: ".config-01.09.json.swp", flags: O_WRONLY | O_CREAT)
      fs.release(handle: handle.handle)
      var out = ["scratch": scratch.mode]
      for name in ["config-01.09.json", "device.json", "schema-01.09.json", "firmware.bin"] {
        out[name] = try fs.lookup(parent: device, name: name).mode
      }
      out["log"] = try path(fs, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4").mode
      out["raw config"] = try path(fs, ".raw", "A1B2C3D4", "config-01.09.json").mode
      out["raw device.json"] = try path(fs, ".raw", "A1B2C3D4", "device.json").mode
      return out
    }
    #expect(
      try modes(configMode: 0o600, umask: 0o022) == [
        "scratch": 0o600, "config-01.09.json": 0o600, "device.json": 0o444, "schema-01.09.json": 0o444,
        "firmware.bin": 0o644, "log": 0o444, "raw config": 0o400, "raw device.json": 0o444,
      ])
    let widened = try modes(configMode: 0o640, umask: 0o022)
    #expect(widened["config-01.09.json"] == 0o640 && widened["raw config"] == 0o440 && widened["scratch"] == 0o640)
    let narrowed = try modes(configMode: 0o644, umask: 0o027)
    #expect(narrowed["config-01.09.json"] == 0o640 && narrowed["raw config"] == 0o440 && narrowed["log"] == 0o440)
  }

  @Test func openForWritingIsRefusedAndReadsReturnTheObject() throws {
    let s3 = freshBucket()
    let body = (0..<1_300_000).map { UInt8(truncatingIfNeeded: $0 * 31 + $0 >> 12) }
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: body)
    let fs = makeFS(s3)
    let log = try path(fs, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4")
    #expect(throws: FSError.accessDenied("00000001-5E0BE100.MF4 is read-only")) { try fs.open(ino: log.ino, flags: O_WRONLY) }
    let readOnly = makeFS(s3, readOnly: true)
    let sameLog = try path(readOnly, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4")
    #expect(throws: FSError.readOnly) { try readOnly.open(ino: sameLog.ino, flags: O_RDWR) }
    #expect(throws: FSError.readOnly) { try readOnly.open(ino: sameLog.ino, flags: O_RDONLY | O_TRUNC) }
    let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
    #expect(opened.keepCache && !opened.directIO)
    var read: [UInt8] = []
    while read.count < body.count {
      read += try fs.read(handle: opened.handle, offset: UInt64(read.count), count: 131_072).bytes
    }
    #expect(read == body)
    // A read across a block boundary comes as two slices of the cached blocks, in order.
    let across = try fs.read(handle: opened.handle, offset: 1_048_000, count: 1_000)
    #expect(across.segments.map(\.count) == [576, 424])
    #expect(across.bytes == Array(body[1_048_000..<1_049_000]))
    #expect(try fs.read(handle: opened.handle, offset: UInt64(body.count), count: 10).isEmpty)
    fs.release(handle: opened.handle)
    #expect(throws: FSError.badHandle) { try fs.read(handle: opened.handle, offset: 0, count: 1) }
  }

  // SEMANTICS.md § `.edgemount/`
  @Test func statusFilesReportCountersAndErrors() throws {
    let s3 = freshBucket()
    let fs = makeFS(s3)
    _ = try fs.listDirectory(ino: FleetFileSystem.rootIno)
    let status = try path(fs, ".edgemount", "status")
    let opened = try fs.open(ino: status.ino, flags: O_RDONLY)
    let text = String(decoding: try fs.read(handle: opened.handle, offset: 0, count: 65536).bytes, as: UTF8.self)
    #expect(text.contains("bucket: \(s3.bucket)"))
    #expect(text.contains("requests_list: 1"))
    #expect(opened.directIO)
  }

  @Test func childNamesRejectWhatADirectoryCannotHold() {
    #expect(FleetFileSystem.childName("p/ok", under: "p/", isPrefix: false) == "ok")
    #expect(FleetFileSystem.childName("p/sub/", under: "p/", isPrefix: true) == "sub")
    for bad in [
      "p/", "p/.", "p/..", "p/a/b", "q/x", "p/" + String(repeating: "x", count: 256), "p/a\u{0}b", "p/a\nb", "p/\u{1b}[31m",
    ] {
      #expect(FleetFileSystem.childName(bad, under: "p/", isPrefix: false) == nil, "\(bad.debugDescription)")
    }
    #expect(FleetFileSystem.childName("p//", under: "p/", isPrefix: true) == nil)
  }

  @Test func openingLogsInNameOrderFetchesTheNextFilesAhead() throws {
    let s3 = freshBucket()
    for split in 1...8 {
      try s3.putObject(
        key: String(format: "A1B2C3D4/00000001/%08d-5E0BE100.MF4", split), body: Array(repeating: UInt8(split), count: 1000))
    }
    let fs = makeFS(s3)
    func openAndRead(_ split: Int) throws -> [UInt8] {
      let log = try path(fs, "A1B2C3D4", "00000001", String(format: "%08d-5E0BE100.MF4", split))
      let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
      defer { fs.release(handle: opened.handle) }
      return try fs.read(handle: opened.handle, offset: 0, count: 4096).bytes
    }
    #expect(try openAndRead(1) == Array(repeating: 1, count: 1000))
    let afterFirst = s3.counters.snapshot.get
    // The second file in a row: the next four are fetched ahead, so reading them costs no GET.
    #expect(try openAndRead(2) == Array(repeating: 2, count: 1000))
    try waitUntil("the next four files are fetched") { s3.counters.snapshot.get >= afterFirst + 5 }
    let ahead = s3.counters.snapshot.get
    #expect(try openAndRead(3) == Array(repeating: 3, count: 1000))
    // File 3 came from the read-ahead; its own open reads file 7 ahead, the one GET more.
    try waitUntil("file 7 is fetched ahead") { s3.counters.snapshot.get == ahead + 1 }
    try settle(fs)
    #expect(s3.counters.snapshot.get == ahead + 1)
    // Out of order: no read-ahead.
    let before = s3.counters.snapshot.get
    #expect(try openAndRead(1) == Array(repeating: 1, count: 1000))
    try settle(fs)
    #expect(s3.counters.snapshot.get == before, "file 1 is cached; an open out of order fetches nothing ahead")
  }

  @Test func aJumpFetchesJustTheBytesAskedAndASequentialReadWholeBlocks() throws {
    let s3 = freshBucket()
    let body = (0..<3_500_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
    try s3.putObject(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", body: body)
    let fs = makeFS(s3)
    let log = try path(fs, "A1B2C3D4", "00000001", "00000001-5E0BE100.MF4")
    let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
    defer { fs.release(handle: opened.handle) }
    // An MF4 reader following a link into the middle of the file.
    let before = s3.counters.snapshot
    #expect(try fs.read(handle: opened.handle, offset: 2_000_000, count: 16_384).bytes == Array(body[2_000_000..<2_016_384]))
    let jump = s3.counters.snapshot
    #expect(jump.get == before.get + 1)
    #expect(jump.bytesDownloaded - before.bytesDownloaded == 16_384)
    // Reading on from there is sequential: whole blocks, and the next one fetched ahead.
    #expect(try fs.read(handle: opened.handle, offset: 2_016_384, count: 16_384).bytes == Array(body[2_016_384..<2_032_768]))
    try waitUntil("the next block is fetched ahead") {
      s3.counters.snapshot.bytesDownloaded - jump.bytesDownloaded >= 2 * 1_048_576
    }
    #expect(try fs.read(handle: opened.handle, offset: 3_145_728, count: 65_536).bytes == Array(body[3_145_728..<3_211_264]))
  }

  @Test func aWalkFromTheFleetFolderListsTheNextDevicesAheadAndALoneListingDoesNot() throws {
    let s3 = freshBucket()
    let devices = (1...7).map { String(format: "A1B2C3%02X", $0) }
    for device in devices { try s3.putObject(key: "\(device)/00000001/00000001-5E0BE100.MF4", body: [1]) }
    // A lone `ls DEVICE`: the fleet folder is looked up, not read, and nothing is listed ahead.
    let lone = makeFS(s3)
    let start = s3.counters.snapshot.list
    let third = try path(lone, devices[2]).ino
    _ = try lone.listDirectory(ino: third)
    // Read again at once (an rsync re-run of one device): no step of a walk either.
    _ = try lone.listDirectory(ino: third)
    try settle(lone)
    #expect(s3.counters.snapshot.list - start == 2, "root and the one device")
    // A walk: the fleet folder read, then its first device: the next four are listed ahead.
    let walk = makeFS(s3)
    let before = s3.counters.snapshot.list
    _ = try walk.listDirectory(ino: FleetFileSystem.rootIno)
    _ = try walk.listDirectory(ino: try path(walk, devices[0]).ino)
    try waitUntil("the next four devices are listed") { s3.counters.snapshot.list - before == 6 }
    let ahead = s3.counters.snapshot.list
    for device in devices[1...4] { _ = try walk.listDirectory(ino: try path(walk, device).ino) }
    // Devices 2-5 were listed ahead: walking them costs only the look-ahead of devices 6 and 7.
    try waitUntil("devices 6 and 7 are listed ahead") { s3.counters.snapshot.list - ahead == 2 }
    try settle(walk)
    #expect(s3.counters.snapshot.list - ahead == 2)
  }

  /// readdir reads an open directory in several calls by offset: the entries are those of the
  /// opendir, whatever the folder becomes meanwhile, until releasedir.
  @Test func aDirectoryHandleKeepsItsEntriesUntilItIsClosed() throws {
    let s3 = freshBucket()
    for split in 1...3 {
      try s3.putObject(key: String(format: "A1B2C3D4/00000001/%08d-5E0BE100.MF4", split), body: [1])
    }
    let fs = makeFS(s3, listTTL: .seconds(1))
    let session = try path(fs, "A1B2C3D4", "00000001").ino
    let handle = try fs.openDirectory(ino: session)
    let names = { (h: UInt64) in fs.directoryEntries(handle: h)?.map(\.name) ?? [] }
    #expect(names(handle) == [".", "..", "00000001-5E0BE100.MF4", "00000002-5E0BE100.MF4", "00000003-5E0BE100.MF4"])
    try s3.putObject(key: "A1B2C3D4/00000001/00000004-5E0BE100.MF4", body: [1])
    clock.advance(by: .seconds(1))
    let second = try fs.openDirectory(ino: session)
    #expect(names(second).count == 6, "a new opendir lists again")
    #expect(names(handle).count == 5, "the open handle keeps its entries")
    fs.closeDirectory(handle: handle)
    #expect(fs.directoryEntries(handle: handle) == nil)
    #expect(names(second).count == 6)
    fs.closeDirectory(handle: second)
  }
}
