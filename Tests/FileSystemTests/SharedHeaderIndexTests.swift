import CANedge
import Cache
import DemoFleet
import Foundation
import Locking
import Logging
import S3
import TestSupport
import Testing

@testable import FileSystem

/// `--shared-index` in the core, with two or more filesystems on one in-memory S3 (which logs
/// every request): what one mount read, the next one takes from the index objects.
@Suite struct SharedHeaderIndexTests {
  typealias Fleet = ByDateViewTests.Fleet

  static func fileSystem(_ fleet: Fleet, readOnly: Bool = false, shared: Bool = true) -> FleetFileSystem {
    var settings = MountSettings()
    settings.sharedIndex = shared
    settings.readOnly = readOnly
    return FleetFileSystem(
      s3: fleet.server.client(bucket: "fleet"), settings: settings,
      logger: Logger(label: "shared-index") { _ in SwiftLogNoOpLogHandler() })
  }

  func names(_ fs: FleetFileSystem, _ path: String) throws -> [String] { try ByDateViewTests().names(fs, path) }

  /// Every file of both days, as `find` sees them.
  func tree(_ fs: FleetFileSystem) throws -> [String] {
    var out: [String] = []
    for day in try names(fs, ".by-date") {
      for device in try names(fs, ".by-date/\(day)") {
        for session in try names(fs, ".by-date/\(day)/\(device)") {
          out += try names(fs, ".by-date/\(day)/\(device)/\(session)").map { "\(day)/\(device)/\(session)/\($0)" }
        }
      }
    }
    return out
  }

  static func isIndex(_ request: String) -> Bool { request.contains(SharedIndexObject.folder) }
  static func headerGets(_ log: ArraySlice<String>) -> Int {
    log.filter { $0.hasPrefix("GET ") && $0.contains("/0000") && !isIndex($0) }.count
  }

  func status(_ fs: FleetFileSystem, _ name: String) -> Int? {
    for line in fs.statusText(.status).split(separator: "\n") where line.hasPrefix(name + ": ") {
      return Int(line.dropFirst(name.count + 2))
    }
    return nil
  }

  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aSecondMountListsTheDaysWithIndexObjectsAndNoHeaderRead() throws {
    let fleet = try Fleet()
    let first = Self.fileSystem(fleet)
    let seen = try tree(first)
    first.drainSharedIndex()
    #expect(Self.headerGets(fleet.server.requestLog[...]) > 0)
    // One object per session with a header read (the damaged MF4's "not MDF" included),
    // written again when a later listing read more of its headers.
    let objects = fleet.server.requestLog.filter { $0.hasPrefix("PUT ") && Self.isIndex($0) }
    #expect(Set(objects).count == 4, "\(objects)")
    #expect(status(first, "shared_index_puts") == objects.count && objects.count <= 8)
    let read = status(first, "headers_read") ?? 0

    let before = fleet.server.requestLog.count
    let second = Self.fileSystem(fleet)
    #expect(try tree(second) == seen)
    second.drainSharedIndex()
    let requests = fleet.server.requestLog[before...]
    #expect(Self.headerGets(requests) == 0, "\(requests)")
    #expect(requests.filter { $0.hasPrefix("GET ") && !$0.hasPrefix("GET /") }.allSatisfy(Self.isIndex), "\(requests)")
    #expect(!requests.contains { $0.hasPrefix("PUT ") }, "nothing new to publish")
    #expect(status(second, "headers_read") == 0)
    #expect(status(second, "shared_index_records_adopted") == read && status(second, "shared_index_gets") == 4)
    // The same attributes, from the records.
    let name = try names(second, "A1B2C3D4/00000001")[3]
    let ino = try ByDateViewTests().lookup(second, "A1B2C3D4/00000001/\(name)").ino
    #expect(try second.extendedAttribute(ino: ino, name: "user.canedge.start_time") == "2026-12-01T00:00:14.100Z")
    #expect(try second.extendedAttribute(ino: ino, name: "user.canedge.hd.serial_number") == "2F6913DB")
  }

  @Test func withoutTheOptionNothingIsReadOrWrittenThere() throws {
    let fleet = try Fleet()
    let fs = Self.fileSystem(fleet, shared: false)
    _ = try tree(fs)
    #expect(!fleet.server.requestLog.contains(where: Self.isIndex))
    #expect(fs.statusText(.status).contains("shared_index: off"))
  }

  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aReadOnlyMountReadsTheIndexAndNeverWritesIt() throws {
    let fleet = try Fleet()
    let fs = Self.fileSystem(fleet, readOnly: true)
    _ = try tree(fs)
    fs.drainSharedIndex()
    #expect(fleet.server.requestLog.contains { $0.hasPrefix("GET ") && Self.isIndex($0) })
    #expect(!fleet.server.requestLog.contains { $0.hasPrefix("PUT ") })
    #expect(status(fs, "headers_read") ?? 0 > 0 && status(fs, "shared_index_puts") == 0)
  }

  /// Two mounts publish the same session at once: the second PUT meets 412, reads the first's
  /// object, merges and writes both mounts' records.
  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aConcurrentWriteIsMergedNotLost() throws {
    let fleet = try Fleet()
    let key = ".edgemount-index/v1/A1B2C3D4/00000002"
    let other = HeaderRecordStore.Record(key: "00000099-FFFFFFFF.MF4", etag: "zz", fields: SharedIndexObjectTests.fields)
    let theirs = SharedIndexObject(records: [other.key: other]).rendered()
    let wrote = Locked(false)
    fleet.server.faults.withLock {
      $0 = { method, key in
        guard method == "PUT", key == ".edgemount-index/v1/A1B2C3D4/00000002" else { return nil }
        let first = wrote.withLock { done -> Bool in
          defer { done = true }
          return !done
        }
        return first ? InMemoryS3.Fault.concurrentWrite(theirs) : nil
      }
    }
    let fs = Self.fileSystem(fleet)
    _ = try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000002")
    fs.drainSharedIndex()
    #expect(status(fs, "shared_index_conflicts") == 1)
    let stored = try SharedIndexObject.parse(fleet.server.object("fleet", key)!.bytes) { HeaderIndex.decode($0) != nil }
    #expect(stored.records[other.key] == other, "the other mount's record was lost")
    #expect(stored.records.count == 3, "\(stored.records.keys.sorted())")
  }

  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aMalformedObjectIsSkippedWithAReasonAndReplaced() throws {
    let fleet = try Fleet()
    let key = ".edgemount-index/v1/A1B2C3D4/00000002"
    fleet.server.put("fleet", key, Array("edgemount-index 1\nnot\ta\trecord\n".utf8))
    let fs = Self.fileSystem(fleet)
    #expect(try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000002").count == 2)
    fs.drainSharedIndex()
    #expect(status(fs, "shared_index_skipped") ?? 0 >= 1 && status(fs, "headers_read") ?? 0 >= 2)
    #expect(fs.statusText(.errors).contains("shared index \(key): malformed"))
    let stored = try SharedIndexObject.parse(fleet.server.object("fleet", key)!.bytes) { HeaderIndex.decode($0) != nil }
    #expect(stored.records.count == 2)
  }

  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func anObjectOfALaterLayoutIsNeitherUsedNorOverwritten() throws {
    let fleet = try Fleet()
    let key = ".edgemount-index/v1/A1B2C3D4/00000002"
    let later = Array("edgemount-index 2\nwhatever comes next\n".utf8)
    fleet.server.put("fleet", key, later)
    let fs = Self.fileSystem(fleet)
    #expect(try names(fs, ".by-date/2026-12-01/A1B2C3D4/00000002").count == 2)
    fs.drainSharedIndex()
    #expect(fs.statusText(.errors).contains("later layout (2)"))
    #expect(fleet.server.object("fleet", key)?.bytes == later)
  }

  /// A log replaced under the same name has another ETag: its old record is not used, its
  /// header is read again, and the merge replaces the record.
  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aRecordOfAnotherETagIsNotUsed() throws {
    let fleet = try Fleet()
    let first = Self.fileSystem(fleet)
    _ = try names(first, ".by-date/2026-12-01/A1B2C3D4/00000002")
    first.drainSharedIndex()
    let logKey = fleet.keys.keys.filter { $0.hasPrefix("A1B2C3D4/00000002/") }.sorted()[0]
    let s2 = ByDateViewTests.dec1.start + 8 * 3600
    let etag = fleet.server.put("fleet", logKey, try SampleLog.bytes(sessionStart: s2, offset: 5))
    let second = Self.fileSystem(fleet)
    _ = try names(second, ".by-date/2026-12-01/A1B2C3D4/00000002")
    second.drainSharedIndex()
    #expect(status(second, "headers_read") == 1)
    let key = ".edgemount-index/v1/A1B2C3D4/00000002"
    let stored = try SharedIndexObject.parse(fleet.server.object("fleet", key)!.bytes) { HeaderIndex.decode($0) != nil }
    #expect(stored.records[String(logKey.split(separator: "/").last!)]?.etag == etag)
  }

  /// A bucket policy that allows reading `.edgemount-index/` but not writing it: one refused
  /// PUT, said once, and the mount goes on reading the index.
  // SEMANTICS.md § The shared header index (`--shared-index`)
  @Test func aRefusedWriteIsSaidOnceAndTheIndexIsStillRead() throws {
    let fleet = try Fleet()
    fleet.server.faults.withLock {
      $0 = { method, key in
        method == "PUT" && key?.hasPrefix(SharedIndexObject.folder) == true ? .status(403, "AccessDenied") : nil
      }
    }
    let fs = Self.fileSystem(fleet)
    _ = try tree(fs)
    fs.drainSharedIndex()
    // One refused PUT (two if both index threads were writing then), said once; no write after.
    let refusedPuts = status(fs, "shared_index_failures") ?? 0
    #expect((1...2).contains(refusedPuts), "\(refusedPuts)")
    #expect(status(fs, "shared_index_puts") == 0)
    #expect(fs.statusText(.errors).components(separatedBy: "refuses PUT").count == 2, "\(fs.statusText(.errors))")
    // Four sessions read, plus the GET of each merge tried before the refusal stopped them.
    #expect(status(fs, "shared_index_gets") == 4 + refusedPuts)
  }
}
