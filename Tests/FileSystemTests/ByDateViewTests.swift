import CANedge
import Cache
import DemoFleet
import Foundation
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// `.by-date/` in the filesystem core, on the in-memory S3 (which logs every request): logs
/// appear under the day of their first record, with the device tree's inodes, the headers
/// are read once and kept in the cache folder, and the view refuses every change.
@Suite struct ByDateViewTests {
  static let nov30 = ByDateDay("2026-11-30")!
  static let dec1 = ByDateDay("2026-12-01")!

  /// A fleet: A1B2C3D4 session 1 starts at 23:30 UTC on Nov 30 with six 10-minute splits (three
  /// on each side of midnight), session 2 records on Dec 1 at 08:00; B2C3D4E5 has a damaged MF4
  /// uploaded on Dec 1 (session 1) and a real MFC log recorded on 2023-04-18 (session 2).
  struct Fleet {
    let server = InMemoryS3()
    var keys: [String: [UInt8]] = [:]

    init() throws {
      let s1 = ByDateViewTests.nov30.start + 23 * 3600 + 1800
      for i in 0..<6 {
        let offset = Double(i * 600) + 14.1
        let upload = s1 + Int64(offset) + 660
        keys["A1B2C3D4/00000001/" + SampleLog.name(split: i + 1, uploaded: upload)] = try SampleLog.bytes(
          sessionStart: s1, offset: offset)
      }
      let s2 = ByDateViewTests.dec1.start + 8 * 3600
      for i in 0..<2 {
        keys["A1B2C3D4/00000002/" + SampleLog.name(split: i + 1, uploaded: s2 + 700 + Int64(i) * 600)] = try SampleLog.bytes(
          sessionStart: s2, offset: Double(i) * 600 + 1)
      }
      let mfc = try Fixtures.bytes("bucket-sample/5BC57FEC/00000001/00000005-643E503A.MFC")
      let upload = ByDateViewTests.dec1.start + 3600
      keys["B2C3D4E5/00000002/00000005-643E503A.MFC"] = mfc
      keys["B2C3D4E5/00000001/" + SampleLog.name(split: 2, uploaded: upload + 60)] = Array(repeating: 7, count: 5000)
      for (key, bytes) in keys { server.put("fleet", key, bytes) }
    }

    func fileSystem(deviceClock: Bool = false, store: String? = nil, folderLimit: Int = 4096) throws -> FleetFileSystem {
      var settings = MountSettings()
      settings.byDateDeviceClock = deviceClock
      settings.byDateFolderLimit = folderLimit
      let headerStore = try store.map { try HeaderRecordStore.open(directory: $0) }
      return FleetFileSystem(
        s3: server.client(bucket: "fleet"), settings: settings, headerStore: headerStore,
        logger: Logger(label: "by-date") { _ in SwiftLogNoOpLogHandler() })
    }

    /// GETs of log objects (header reads) and LISTs since the server started.
    var headerGets: Int { server.requestLog.filter { $0.hasPrefix("GET ") && $0.contains("/0000") }.count }
    var lists: Int { server.requestLog.filter { $0 == "GET /" }.count }
  }

  func lookup(_ fs: FleetFileSystem, _ path: String) throws -> Attributes {
    var attributes = try fs.attributes(ino: FleetFileSystem.rootIno)
    for part in path.split(separator: "/") { attributes = try fs.lookup(parent: attributes.ino, name: String(part)) }
    return attributes
  }

  func names(_ fs: FleetFileSystem, _ path: String) throws -> [String] {
    try fs.listDirectory(ino: lookup(fs, path).ino).map(\.name)
  }

  @Test func logsAppearUnderTheDayOfTheirFirstRecordWithTheSameInodes() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem()
    #expect(try names(fs, ".by-date/2026-11-30") == ["A1B2C3D4"])
    let before = try names(fs, ".by-date/2026-11-30/A1B2C3D4/00000001")
    let after = try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000001")
    let session = try names(fs, "A1B2C3D4/00000001")
    #expect(before == Array(session[0..<3]) && after == Array(session[3..<6]), "\(before) \(after)")
    #expect(try names(fs, ".by-date/2026-12-01") == ["A1B2C3D4", "B2C3D4E5"])
    #expect(try names(fs, ".by-date/2026-12-01/A1B2C3D4") == ["00000001", "00000002"])
    // The damaged MF4 has no readable header: its upload day places it. The MFC log's header is
    // read from a prefix of it, decompressed: the day it recorded.
    #expect(try names(fs, ".by-date/2026-12-01/B2C3D4E5/00000001").count == 1)
    #expect(try names(fs, ".by-date/2023-04-18/B2C3D4E5/00000002") == ["00000005-643E503A.MFC"])
    for name in session {
      let byDate = try lookup(fs, ".by-date/\(before.contains(name) ? "2026-11-30" : "2026-12-01")/A1B2C3D4/00000001/\(name)")
      let tree = try lookup(fs, "A1B2C3D4/00000001/\(name)")
      #expect(byDate.ino == tree.ino && byDate.size == tree.size && byDate.mtime == tree.mtime && byDate.links == 2)
    }
    // Reachable by name, not listed: find, du and rsync of the mount see each log once.
    #expect(!(try fs.listDirectory(ino: FleetFileSystem.rootIno).map(\.name)).contains(".by-date"))
    #expect(try names(fs, ".by-date") == ["2023-04-18", "2026-11-30", "2026-12-01"])
    #expect(throws: FSError.notFound) { try lookup(fs, ".by-date/2026-02-30") }
    #expect(try names(fs, ".by-date/2027-01-01").isEmpty)
  }

  /// Far from the server the day's search reads several headers of a session at once (fewer
  /// rounds one after another) and places exactly the logs it places close by.
  @Test func farAwayADaysHeadersAreReadSeveralAtOnceWithTheSamePlacement() throws {
    let server = InMemoryS3()
    // One session of 150 ten-minute splits from 18:00 on Nov 30: 36 on Nov 30, 114 after.
    let start = Self.nov30.start + 18 * 3600
    for i in 0..<150 {
      let offset = Double(i * 600) + 3
      server.put(
        "fleet", "A1B2C3D4/00000001/" + SampleLog.name(split: i + 1, uploaded: start + Int64(offset) + 640),
        try SampleLog.bytes(sessionStart: start, offset: offset))
    }
    func placed(roundTrip: Double) throws -> (days: [[String]], reads: Int, most: Int) {
      server.roundTrip.withLock { $0 = roundTrip }
      server.concurrency.withLock { $0 = (0, 0) }
      let before = server.requestLog.count
      let fs = FleetFileSystem(
        s3: server.client(bucket: "fleet"), settings: MountSettings(),
        logger: Logger(label: "by-date") { _ in SwiftLogNoOpLogHandler() })
      #expect(try names(fs, "A1B2C3D4/00000001").count == 150)
      let days = try ["2026-11-30", "2026-12-01", "2026-12-02"].map {
        try names(fs, ".by-date/\($0)").isEmpty ? [] : try names(fs, ".by-date/\($0)/A1B2C3D4/00000001")
      }
      let reads = server.requestLog[before...].filter { $0.hasPrefix("GET A1B2C3D4/") }.count
      return (days, reads, server.concurrency.withLock { $0.most })
    }
    let near = try placed(roundTrip: 0)
    let far = try placed(roundTrip: 0.02)
    #expect(near.days.map(\.count) == [36, 114, 0])
    #expect(far.days == near.days)
    #expect(near.most <= 2, "close by, \(near.most) header reads at once")
    #expect(far.most >= DayPlacement.farFanOut, "far away, \(far.most) header reads at once")
    #expect(far.reads <= 3 * (2 + 2 * DayPlacement.farFanOut), "\(far.reads) header reads far away, \(near.reads) close by")
  }

  /// A copy of a day far from the server reads ahead from one session folder of the day into
  /// the next, across devices: the first log of each next session was fetched before its open,
  /// and every log once.
  @Test func farAwayACopyOfADayReadsAheadAcrossItsSessions() throws {
    let server = InMemoryS3()
    var bodies: [String: [UInt8]] = [:]
    for (device, session, hour) in [("A1B2C3D4", 1, 2), ("A1B2C3D4", 2, 9), ("B2C3D4E5", 1, 5)] {
      let start = Self.dec1.start + Int64(hour) * 3600
      for i in 0..<4 {
        let offset = Double(i * 600) + 2
        let key = "\(device)/0000000\(session)/" + SampleLog.name(split: i + 1, uploaded: start + Int64(offset) + 630)
        // Past the header read's 128 KiB: the copy fetches each log itself.
        let bytes = try SampleLog.bytes(sessionStart: start, offset: offset) + Array(repeating: UInt8(i), count: 400_000)
        server.put("fleet", key, bytes)
        bodies[key] = bytes
      }
    }
    server.roundTrip.withLock { $0 = 0.02 }
    let fs = FleetFileSystem(
      s3: server.client(bucket: "fleet"), settings: MountSettings(),
      logger: Logger(label: "by-date") { _ in SwiftLogNoOpLogHandler() })
    // rsync: the whole day listed first, then each file copied in name order.
    var files: [(folder: String, name: String)] = []
    for device in try names(fs, ".by-date/2026-12-01") {
      for session in try names(fs, ".by-date/2026-12-01/\(device)") {
        for name in try names(fs, ".by-date/2026-12-01/\(device)/\(session)") {
          files.append(("\(device)/\(session)", name))
        }
      }
    }
    #expect(files.count == 12)
    // GETs of each log so far: the placement's header reads.
    func gets(_ key: String) -> Int { server.requestLog.filter { $0 == "GET \(key)" }.count }
    let headerReads = Dictionary(uniqueKeysWithValues: files.map { ("\($0.folder)/\($0.name)", 0) }.map { ($0.0, gets($0.0)) })
    var firstOfLaterSessions = 0
    for (i, file) in files.enumerated() {
      let attributes = try lookup(fs, ".by-date/2026-12-01/\(file.folder)/\(file.name)")
      let key = "\(file.folder)/\(file.name)"
      if i > 0 && files[i - 1].folder != file.folder {
        // Give the read-ahead issued at earlier opens a moment, as a copy writing its files does.
        try waitUntil("the next session's first log is fetched ahead", timeout: 5) { gets(key) > headerReads[key]! }
        firstOfLaterSessions += 1
      }
      let opened = try fs.open(ino: attributes.ino, flags: O_RDONLY)
      var got: [UInt8] = []
      while true {
        let chunk = try fs.read(handle: opened.handle, offset: UInt64(got.count), count: 1 << 17).bytes
        if chunk.isEmpty { break }
        got += chunk
      }
      fs.release(handle: opened.handle)
      #expect(got == bodies[key], "\(key)")
    }
    #expect(firstOfLaterSessions == 2)
    let logGets = server.requestLog.filter { $0.hasPrefix("GET ") && $0.contains(".MF4") }
    // Each log: its header read, and one GET of the copy or its read-ahead.
    #expect(logGets.count <= 2 * 12, "\(logGets.count) GETs of 12 logs")
  }

  @Test func theTimeAttributesComeFromTheHeader() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem()
    let split4 = try lookup(fs, "A1B2C3D4/00000001/" + (try names(fs, "A1B2C3D4/00000001"))[3])
    let attributes = Dictionary(uniqueKeysWithValues: try fs.extendedAttributes(ino: split4.ino))
    #expect(attributes["user.canedge.start_time"] == "2026-12-01T00:00:14.100Z")
    #expect(attributes["user.canedge.session_start"] == "2026-11-30T23:30:00.000Z")
    #expect(attributes["user.canedge.time_source"] == "header")
    #expect(attributes["user.canedge.hd.serial_number"] == "2F6913DB")
    let damaged = try lookup(fs, "B2C3D4E5/00000001/" + (try names(fs, "B2C3D4E5/00000001"))[0])
    #expect(try fs.extendedAttribute(ino: damaged.ino, name: "user.canedge.time_source") == "upload-name")
    #expect(try fs.extendedAttribute(ino: damaged.ino, name: "user.canedge.header_error")?.contains("not an MDF") == true)
    // A compressed log: its header, from a decompressed prefix (mdf_iter: 07:59:20.8035).
    let mfc = try lookup(fs, "B2C3D4E5/00000002/00000005-643E503A.MFC")
    #expect(try fs.extendedAttribute(ino: mfc.ino, name: "user.canedge.time_source") == "header")
    #expect(try fs.extendedAttribute(ino: mfc.ino, name: "user.canedge.start_time") == "2023-04-18T07:59:20.803Z")
  }

  @Test func headersAreReadOnceAndARemountWithTheCacheFolderReadsNone() throws {
    let fleet = try Fleet()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bydate-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
      let fs = try fleet.fileSystem(store: dir)
      _ = try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000001")
      let gets = fleet.headerGets
      #expect(gets > 0 && gets <= 10, "\(gets) header GETs for 9 MF4 logs and an MFC log")
      // Again, and the other day: what was read is not read again.
      _ = try names(fs, ".by-date/2026-11-30/A1B2C3D4/00000001")
      for name in try names(fs, "A1B2C3D4/00000001") {
        _ = try fs.extendedAttribute(ino: lookup(fs, "A1B2C3D4/00000001/\(name)").ino, name: "user.canedge.start_time")
      }
      #expect(fleet.headerGets <= 10)
      let status = fs.statusText(.status)
      #expect(status.contains("headers_pending: 0"))
    }
    let readBefore = fleet.headerGets
    let remounted = try fleet.fileSystem(store: dir)
    #expect(try names(remounted, ".by-date/2026-12-01/A1B2C3D4/00000001").count == 3)
    #expect(try names(remounted, ".by-date/2026-11-30/A1B2C3D4/00000001").count == 3)
    #expect(fleet.headerGets == readBefore, "a remount with the cache folder read a header again")
    #expect(remounted.statusText(.status).contains("headers_read: 0"))
  }

  /// A log already read (cp, rsync, a reader) has its first block cached: its header costs
  /// no request.
  @Test func aHeaderInCachedBlocksCostsNoRequest() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem()
    let log = try lookup(fs, "A1B2C3D4/00000002/" + (try names(fs, "A1B2C3D4/00000002"))[0])
    let opened = try fs.open(ino: log.ino, flags: O_RDONLY)
    var offset: UInt64 = 0
    while true {
      let n = try fs.read(handle: opened.handle, offset: offset, count: 1 << 17).bytes.count
      if n == 0 { break }
      offset += UInt64(n)
    }
    fs.release(handle: opened.handle)
    let gets = fleet.server.requestLog.filter { $0.hasPrefix("GET A1B2C3D4") }.count
    #expect(try fs.extendedAttribute(ino: log.ino, name: "user.canedge.time_source") == "header")
    #expect(fleet.server.requestLog.filter { $0.hasPrefix("GET A1B2C3D4") }.count == gets)
  }

  /// The logs of session folders beyond the limit are dropped and placed again when used: the
  /// same names and inodes, no header read twice, and the status shows the bound.
  @Test func sessionFoldersBeyondTheLimitArePlacedAgainFromTheHeadersRead() throws {
    let fleet = try Fleet()
    let reference = try fleet.fileSystem()
    let folders = ["A1B2C3D4/00000001", "A1B2C3D4/00000002", "B2C3D4E5/00000001"].map { ".by-date/2026-12-01/" + $0 }
    let expected = try folders.map { try names(reference, $0) }
    let fs = try fleet.fileSystem(folderLimit: 1)
    for _ in 0..<2 {
      for (folder, names) in zip(folders, expected) {
        #expect(try self.names(fs, folder) == names, "\(folder)")
      }
    }
    let gets = fleet.headerGets
    for (folder, names) in zip(folders, expected).reversed() {
      // A lookup in a dropped folder finds the device tree's inode.
      let device = folder.dropFirst(".by-date/2026-12-01/".count)
      for name in names { #expect(try lookup(fs, "\(folder)/\(name)").ino == lookup(fs, "\(device)/\(name)").ino) }
      #expect(try self.names(fs, folder) == names)
    }
    #expect(fleet.headerGets == gets, "placing again reads no header")
    let status = try fs.open(ino: lookup(fs, ".edgemount/status").ino, flags: O_RDONLY)
    let text = String(decoding: try fs.read(handle: status.handle, offset: 0, count: 1 << 16).bytes, as: UTF8.self)
    #expect(text.contains("cache_by_date_session_folders: 1 of 1"))
  }

  @Test func aSecondListingWithinTheTTLMakesNoRequest() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem()
    let first = try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000001")
    let requests = fleet.server.requestLog.count
    #expect(try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000001") == first)
    _ = try names(fs, ".by-date/2026-12-01")
    #expect(fleet.server.requestLog.count == requests)
  }

  @Test func theDeviceClockMovesADayBoundary() throws {
    var fleet = try Fleet()
    // Session 1 again, two hours east of UTC: 01:30 local, all on Dec 1.
    let s1 = Self.nov30.start + 23 * 3600 + 1800
    for (key, _) in fleet.keys where key.hasPrefix("A1B2C3D4/00000001/") {
      let split = Int(key.split(separator: "/")[2].prefix(8))!
      let bytes = try SampleLog.bytes(sessionStart: s1, offset: Double((split - 1) * 600) + 14.1, timeZoneMinutes: 120)
      fleet.server.put("fleet", key, bytes)
      fleet.keys[key] = bytes
    }
    let local = try fleet.fileSystem(deviceClock: true)
    #expect(try names(local, ".by-date/2026-12-01/A1B2C3D4/00000001").count == 6)
    #expect(try names(local, ".by-date/2026-11-30").isEmpty)
    let utc = try fleet.fileSystem()
    #expect(try names(utc, ".by-date/2026-11-30/A1B2C3D4/00000001").count == 3)
  }

  @Test func theViewRefusesEveryChangeWithEROFS() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem()
    let session = try lookup(fs, ".by-date/2026-12-01/A1B2C3D4/00000001")
    let day = try lookup(fs, ".by-date/2026-12-01")
    let name = try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000001")[0]
    for attempt in [
      { _ = try fs.create(parent: session.ino, name: "new.txt", flags: O_WRONLY) },
      { try fs.unlink(parent: session.ino, name: name) },
      { try fs.rename(parent: session.ino, name: name, newParent: session.ino, newName: "x.MF4", flags: 0) },
      { _ = try fs.create(parent: day.ino, name: "config-01.09.json", flags: O_WRONLY) },
    ] as [() throws -> Void] {
      do {
        try attempt()
        Issue.record("a change in .by-date/ was allowed")
      } catch let error as FSError {
        #expect(error.errno == EROFS)
      }
    }
    #expect(fs.refuseChange(in: day.ino).errno == EROFS)
    #expect(fs.errors.text.contains("the .by-date view is read-only"))
    #expect(try names(fs, "A1B2C3D4/00000001").count == 6, "nothing was removed")
  }

  @Test func devicesAndDaysReportTheRecordingTimesAlreadyRead() throws {
    let fleet = try Fleet()
    let fs = try fleet.fileSystem()
    // Nothing read yet: empty columns in every row, no request for them.
    let before = fleet.headerGets
    let rows = fs.statusText(.devices).split(separator: "\n").dropFirst()
    #expect(rows.count == 2 && rows.allSatisfy { $0.hasSuffix(",,") }, "\(rows)")
    #expect(fleet.headerGets == before)
    _ = try names(fs, ".by-date/2026-11-30/A1B2C3D4/00000001")
    _ = try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000002")
    let devices = fs.statusText(.devices)
    let row = try #require(devices.split(separator: "\n").first { $0.hasPrefix("A1B2C3D4,") })
    // No config read: plaintext_secrets, the last column, is empty.
    #expect(row.hasSuffix(",2026-11-30T23:30:14.100Z,2026-12-01T08:10:01.000Z,"), "\(row)")
    let days = fs.statusText(.days)
    #expect(days.hasPrefix("day,device,logs,bytes\n"))
    #expect(days.contains("2026-11-30,A1B2C3D4,"), "\(days)")
    #expect(days.contains("2026-12-01,B2C3D4E5,1,"), "\(days)")
  }
}
