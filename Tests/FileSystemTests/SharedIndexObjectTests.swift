import Cache
import Foundation
import Testing

@testable import FileSystem

/// The shared index's object format: what is written reads back, what comes from a hostile
/// bucket is refused whole, and a merge keeps what is listed and newer and drops what is gone.
@Suite struct SharedIndexObjectTests {
  static let fields = HeaderIndex.encode(
    LogTime(
      sessionStart: 1_764_540_000_000_000_000, firstRecord: 1_764_540_012_500_000_000, comment: ["hd.serial_number": "2F6913DB"]))

  static func record(_ name: String, _ etag: String) -> HeaderRecordStore.Record {
    HeaderRecordStore.Record(key: name, etag: etag, fields: fields)
  }

  static func parse(_ text: String) throws(SharedIndexObject.ParseError) -> SharedIndexObject {
    try SharedIndexObject.parse(Array(text.utf8)) { HeaderIndex.decode($0) != nil }
  }

  @Test func theKeyIsUnderTheRootPrefixOutsideEveryDeviceFolder() {
    #expect(SharedIndexObject.key(rootPrefix: "", sessionPrefix: "2F6913DB/00000001/") == ".edgemount-index/v1/2F6913DB/00000001")
    #expect(
      SharedIndexObject.key(rootPrefix: "plant/", sessionPrefix: "plant/2F6913DB/00000001/")
        == "plant/.edgemount-index/v1/2F6913DB/00000001")
  }

  @Test func whatIsRenderedParsesBackSortedByName() throws {
    let object = SharedIndexObject(records: [
      "00000002-6929F6E6.MF4": Self.record("00000002-6929F6E6.MF4", "b"),
      "00000001-6929F5BA.MF4": Self.record("00000001-6929F5BA.MF4", "a"),
      "00000003-6929F7FF.MF4": HeaderRecordStore.Record(
        key: "00000003-6929F7FF.MF4", etag: "c", fields: HeaderIndex.encode(LogTime(unreadable: "not an MDF file\tat all"))),
    ])
    let text = String(decoding: object.rendered(), as: UTF8.self)
    let lines = text.split(separator: "\n")
    #expect(lines.first == "edgemount-index 1" && lines.count == 4)
    #expect(lines[1].hasPrefix("a\t00000001") && lines[3].hasPrefix("c\t00000003"))
    #expect(try Self.parse(text) == object)
  }

  @Test(arguments: [
    ("", "does not end in a newline"),
    ("edgemount-index 1", "does not end in a newline"),
    ("edgemount-index\n", "first line"),
    ("other-index 1\n", "first line"),
    ("edgemount-index 0\n", "first line"),
    ("edgemount-index 1\na\t../x\th\t1\t2\t0\t\n", "not a file of the session"),
    ("edgemount-index 1\na\tA1B2C3D4/00000001/x.MF4\th\t1\t2\t0\t\n", "not a file of the session"),
    ("edgemount-index 1\na\tx.MF4\tq\t1\t2\t0\t\n", "fields"),
    ("edgemount-index 1\na\tx.MF4\th\t1\t\t0\t\n", "fields"),
    ("edgemount-index 1\na\tx.MF4\th\t1\t2\t99999\t\n", "fields"),
    ("edgemount-index 1\na\tx.MF4\th\t1\t2\t0\t\na\tx.MF4\th\t1\t2\t0\t\n", "repeats"),
    ("edgemount-index 1\na\tx.MF4\th\t1\t2\t0\t\n\n", "does not parse"),
    ("edgemount-index 1\na\tx.MF4\th\t1\t2\t0\t%ZZ\n", "does not parse"),
  ])
  func aHostileObjectIsRefusedWhole(text: String, why: String) {
    do {
      _ = try Self.parse(text)
      Issue.record("parsed: \(text.debugDescription)")
    } catch {
      guard case .malformed(let reason) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(reason.contains(why), "\(reason)")
    }
  }

  @Test func aLaterLayoutIsNotReadAndALargeObjectNotParsed() {
    #expect(throws: SharedIndexObject.ParseError.newerLayout(2)) { try Self.parse("edgemount-index 2\nanything\n") }
    let big = [UInt8](repeating: 0x41, count: SharedIndexObject.maxBytes + 1)
    #expect(throws: SharedIndexObject.ParseError.malformed("larger than \(SharedIndexObject.maxBytes) bytes")) {
      try SharedIndexObject.parse(big) { _ in true }
    }
  }

  @Test func aMergeKeepsListedAndNewerRecordsAndDropsStaleAndGoneOnes() {
    let stored = SharedIndexObject(records: [
      "00000001.MF4": Self.record("00000001.MF4", "a"),  // listed, same ETag: kept
      "00000002.MF4": Self.record("00000002.MF4", "old"),  // listed with another ETag: dropped
      "00000003.MF4": Self.record("00000003.MF4", "c"),  // not listed, before the last listed: gone
      "00000009.MF4": Self.record("00000009.MF4", "i"),  // not listed, after: uploaded since this listing
    ])
    let ours = ["00000004.MF4": Self.record("00000004.MF4", "d"), "00000005.MF4": Self.record("00000005.MF4", "stale")]
    let listed = ["00000001.MF4": "a", "00000002.MF4": "b", "00000004.MF4": "d", "00000005.MF4": "e"]
    let merged = stored.merged(with: ours, listed: listed)
    #expect(merged.records.keys.sorted() == ["00000001.MF4", "00000004.MF4", "00000009.MF4"])
    #expect(merged.merged(with: ours, listed: listed) == merged, "a second merge changes nothing")
  }
}
