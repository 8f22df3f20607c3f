import Foundation
import Testing

@testable import Cache

/// `HeaderRecordStore`: what is appended comes back at the next open, with hostile bytes in
/// keys and fields; a torn last line is skipped, never half-used; duplicates are compacted.
@Suite struct HeaderRecordStoreTests {
  func directory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("hdr-\(UUID())").path
  }

  @Test func recordsSurviveAReopenWithAnyBytesInThem() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let records = [
      HeaderRecordStore.Record(key: "A1B2C3D4/00000001/00000001-5E0BE100.MF4", etag: "abc", fields: ["h", "1", "", "0", ""]),
      HeaderRecordStore.Record(
        key: "odd/\t tab\nnew%line\u{7F}/ü", etag: "\"quoted\"", fields: ["u", "", "", "0", "why\tnot", "a", "b\nc"]),
    ]
    do {
      let (store, loaded) = try HeaderRecordStore.open(directory: dir)
      #expect(loaded.isEmpty)
      for r in records { store.append(r) }
    }
    let (_, again) = try HeaderRecordStore.open(directory: dir)
    #expect(again == records)
  }

  @Test func aTornLastLineIsSkipped() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let good = HeaderRecordStore.Record(key: "k", etag: "e", fields: ["h", "1", "2", "0", ""])
    do {
      let (store, _) = try HeaderRecordStore.open(directory: dir)
      store.append(good)
    }
    // A crash mid-write: half a line, no newline; and a line with a bad escape.
    let handle = FileHandle(forWritingAtPath: dir + "/headers-v1.tsv")!
    handle.seekToEndOfFile()
    handle.write(Data("e2\tbad%ZZ\th\n".utf8))
    handle.write(Data("e3\tk3\th\t17".utf8))
    handle.closeFile()
    let (_, loaded) = try HeaderRecordStore.open(directory: dir)
    #expect(loaded == [good])
  }

  @Test func theLastRecordOfAKeyWinsAndDuplicatesAreCompacted() throws {
    let dir = directory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
      let (store, _) = try HeaderRecordStore.open(directory: dir)
      for i in 0..<3000 { store.append(HeaderRecordStore.Record(key: "k", etag: "e", fields: [String(i)])) }
    }
    let (_, loaded) = try HeaderRecordStore.open(directory: dir)
    #expect(loaded == [HeaderRecordStore.Record(key: "k", etag: "e", fields: ["2999"])])
    let text = try String(contentsOfFile: dir + "/headers-v1.tsv", encoding: .utf8)
    #expect(text == "e\tk\t2999\n", "rewritten without the 2,999 stale lines")
  }
}
