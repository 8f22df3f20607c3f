import Foundation
import Glibc
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// What the core does as time passes, on a manual clock: listings' TTLs and the delete grace.
/// Each time-dependent rule is checked just before and just after its moment, with no sleep.
@Suite struct ClockDrivenTests {
  let server = InMemoryS3()
  let clock = ManualClock()

  func makeFS(allowDelete: Bool = false) -> FleetFileSystem {
    var settings = MountSettings()
    settings.allowDelete = allowDelete
    settings.listTTL = .seconds(30)
    settings.heartbeatTTL = .seconds(60)
    return FleetFileSystem(
      s3: server.client(bucket: "fleet", clock: clock), settings: settings,
      logger: Logger(label: "clock") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
  }

  func seedDevice() {
    server.put("fleet", "A1B2C3D4/device.json", Array(#"{"id":"A1B2C3D4"}"#.utf8))
    server.put("fleet", "A1B2C3D4/schema-01.09.json", SaveModelTests.schema)
    server.put("fleet", SaveModelTests.key, SaveModelTests.variant(50))
    server.put("fleet", "A1B2C3D4/00000001/00000001-5E0BE100.MF4", [1])
  }

  // SEMANTICS.md § Consistency and caching
  @Test func aSessionListingIsServedFromCacheUntilItsTTLPasses() throws {
    seedDevice()
    let fs = makeFS()
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    let session = try fs.lookup(parent: device, name: "00000001").ino
    _ = try fs.listDirectory(ino: session)
    let s3 = fs.s3.counters
    let before = s3.snapshot.list
    clock.advance(by: .seconds(29))
    _ = try fs.listDirectory(ino: session)
    #expect(s3.snapshot.list == before, "within --list-ttl: no request")
    clock.advance(by: .seconds(1))
    _ = try fs.listDirectory(ino: session)
    #expect(s3.snapshot.list == before + 1, "at --list-ttl: listed again")
  }

  @Test func aDeviceFolderFollowsTheShorterOfListAndHeartbeatTTL() throws {
    seedDevice()
    var settings = MountSettings()
    settings.listTTL = .seconds(30)
    settings.heartbeatTTL = .seconds(5)
    let fs = FleetFileSystem(
      s3: server.client(bucket: "fleet", clock: clock), settings: settings,
      logger: Logger(label: "clock") { _ in SwiftLogNoOpLogHandler() }, clock: clock)
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    _ = try fs.listDirectory(ino: device)
    let before = fs.s3.counters.snapshot.list
    clock.advance(by: .milliseconds(4_999))
    _ = try fs.listDirectory(ino: device)
    #expect(fs.s3.counters.snapshot.list == before)
    clock.advance(by: .milliseconds(1))
    _ = try fs.listDirectory(ino: device)
    #expect(fs.s3.counters.snapshot.list == before + 1)
  }

  // SEMANTICS.md § Changes
  @Test func anUnlinkedConfigIsDeletedWhenItsGraceHasPassedAndNotBefore() throws {
    seedDevice()
    let fs = makeFS(allowDelete: true)
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    _ = try fs.lookup(parent: device, name: SaveModelTests.configName)
    try fs.unlink(parent: device, name: SaveModelTests.configName)
    #expect(throws: FSError.notFound) { try fs.lookup(parent: device, name: SaveModelTests.configName) }
    clock.advance(by: SaveCoordinator.deleteGrace - .milliseconds(1))
    #expect(server.object("fleet", SaveModelTests.key) != nil, "within the grace: not deleted yet")
    clock.advance(by: .milliseconds(1))
    #expect(server.object("fleet", SaveModelTests.key) == nil, "at the grace: deleted")
    #expect(clock.pendingJobs == 0)
  }

  @Test func aSaveOfTheNameWithinTheGraceReplacesTheObjectAndNothingIsDeleted() throws {
    seedDevice()
    let fs = makeFS(allowDelete: true)
    let device = try fs.lookup(parent: FleetFileSystem.rootIno, name: "A1B2C3D4").ino
    _ = try fs.lookup(parent: device, name: SaveModelTests.configName)
    // mv from another filesystem: unlink, then an exclusive create of the same name.
    try fs.unlink(parent: device, name: SaveModelTests.configName)
    clock.advance(by: .milliseconds(500))
    let (_, opened) = try fs.create(parent: device, name: SaveModelTests.configName, flags: O_WRONLY | O_CREAT | O_EXCL)
    _ = try fs.write(handle: opened.handle, offset: 0, data: SaveModelTests.variant(60))
    try fs.flush(handle: opened.handle)
    fs.release(handle: opened.handle)
    clock.advance(by: .seconds(5))
    #expect(server.object("fleet", SaveModelTests.key)?.bytes == SaveModelTests.variant(60))
    #expect(!server.requestLog.contains { $0.hasPrefix("DELETE") })
  }
}
