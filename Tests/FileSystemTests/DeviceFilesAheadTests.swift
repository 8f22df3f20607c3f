import Foundation
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// Far from S3, opening a device file fetches the folder's other device files at once, and an
/// open within a second takes that copy (SEMANTICS.md § Consistency and caching).
@Suite struct DeviceFilesAheadTests {
  let clock = ManualClock()
  static let files = [
    "A1B2C3D4/config-01.09.json": Array(#"{"general":{"device":{"meta":"one"}}}"#.utf8),
    "A1B2C3D4/device.json": Array(#"{"id":"A1B2C3D4","fw_ver":"01.09.01"}"#.utf8),
    "A1B2C3D4/schema-01.09.json": Array(#"{"type":"object"}"#.utf8),
  ]

  /// A fleet 80 ms away (the in-memory server waits a round trip per request).
  func farFleet() throws -> (InMemoryS3, S3Client, FleetFileSystem) {
    let server = InMemoryS3()
    for (key, bytes) in Self.files { server.put("fleet", key, bytes) }
    server.put("fleet", "A1B2C3D4/00000001/00000001-5E0BE100.MF4", [1, 2, 3])
    server.roundTrip.withLock { $0 = 0.08 }
    let s3 = server.client(bucket: "fleet", clock: clock)
    var settings = MountSettings()
    settings.uid = 1000
    settings.gid = 1000
    let fs = FleetFileSystem(
      s3: s3, settings: settings, logger: Logger(label: "ahead") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
    return (server, s3, fs)
  }

  func read(_ fs: FleetFileSystem, _ device: UInt64, _ name: String) throws -> [UInt8] {
    let file = try fs.lookup(parent: device, name: name)
    let handle = try fs.open(ino: file.ino, flags: O_RDONLY).handle
    defer { fs.release(handle: handle) }
    return try fs.read(handle: handle, offset: 0, count: 1 << 20).bytes
  }

  // SEMANTICS.md § Consistency and caching
  @Test func aWalkOfADeviceFolderFetchesItsDeviceFilesAtOnce() throws {
    let (_, s3, fs) = try farFleet()
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    #expect(fs.fetcher.isFar)
    let before = s3.counters.snapshot.get
    #expect(try read(fs, device, "config-01.09.json") == Self.files["A1B2C3D4/config-01.09.json"])
    // The config's own GET, and device.json's and the schema's, sent together.
    try waitUntil("the device files are fetched ahead") { fs.fetcher.isIdle && s3.counters.snapshot.get == before + 3 }
    let start = Date()
    #expect(try read(fs, device, "device.json") == Self.files["A1B2C3D4/device.json"])
    #expect(try read(fs, device, "schema-01.09.json") == Self.files["A1B2C3D4/schema-01.09.json"])
    #expect(Date().timeIntervalSince(start) < 0.08, "the opens waited for a round trip")
    // Each copy serves one open: the next opens fetch the current version.
    #expect(try read(fs, device, "device.json") == Self.files["A1B2C3D4/device.json"])
    try waitUntil("the opens' own GETs") { fs.fetcher.isIdle }
    #expect(s3.counters.snapshot.get > before + 3)
  }

  @Test func aCopyOlderThanASecondOrOfAnotherVersionIsNotServed() throws {
    let (server, s3, fs) = try farFleet()
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    _ = try read(fs, device, "config-01.09.json")
    try waitUntil("the device files are fetched ahead") { fs.fetcher.isIdle && fs.deviceFilesAhead.count == 2 }
    // A second later the copy is too old: the open fetches the file (and its new content).
    clock.advance(by: .milliseconds(1001))
    let newer = Array(#"{"id":"A1B2C3D4","fw_ver":"01.09.02"}"#.utf8)
    server.put("fleet", "A1B2C3D4/device.json", newer)
    let gets = s3.counters.snapshot.get
    #expect(try read(fs, device, "device.json") == newer)
    #expect(s3.counters.snapshot.get > gets)
    // Fetched ahead again by that open. A listing that shows another ETag (a new upload since)
    // turns the copy down.
    try waitUntil("the device files are fetched ahead") { fs.fetcher.isIdle && fs.deviceFilesAhead.count == 2 }
    let schema = try fs.lookup(parent: device, name: "schema-01.09.json")
    fs.tree.update(schema.ino) { $0.etag = "another" }
    let before = s3.counters.snapshot.get
    _ = try read(fs, device, "schema-01.09.json")
    #expect(s3.counters.snapshot.get > before, "a copy of another version was served")
    // A save here drops the copy of the config.
    let config = try fs.lookup(parent: device, name: "config-01.09.json")
    let edit = try fs.open(ino: config.ino, flags: O_WRONLY | O_TRUNC).handle
    #expect(fs.deviceFilesAhead.count <= 1)
    fs.release(handle: edit)
  }

  @Test func closeToTheServerNothingIsFetchedAhead() throws {
    let server = InMemoryS3()
    for (key, bytes) in Self.files { server.put("fleet", key, bytes) }
    let s3 = server.client(bucket: "fleet", clock: clock)
    let fs = FleetFileSystem(
      s3: s3, settings: MountSettings(), logger: Logger(label: "ahead") { _ in SwiftLogNoOpLogHandler() },
      clock: clock)
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    let before = s3.counters.snapshot.get
    _ = try read(fs, device, "config-01.09.json")
    try waitUntil("idle") { fs.fetcher.isIdle }
    #expect(s3.counters.snapshot.get == before + 1)
    #expect(fs.deviceFilesAhead.count == 0)
  }
}
