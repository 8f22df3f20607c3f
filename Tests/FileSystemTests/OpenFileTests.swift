import Testing

@testable import FileSystem

@Suite struct ReadAheadTests {
  @Test func firstReadFetchesEnoughToCoverTheKernelReadahead() {
    var r = OpenFile.ReadAhead()
    let range = r.plan(offset: 0, end: 4096, fileSize: 10_000_000)
    #expect(range == 0..<(512 * 1024))
  }

  @Test func sequentialReadsDoubleTheWindowUpToTheBound() {
    var r = OpenFile.ReadAhead()
    var offset: UInt64 = 0
    var sizes: [UInt64] = []
    for _ in 0..<8 {
      let range = r.plan(offset: offset, end: offset + 131_072, fileSize: 1 << 40)
      sizes.append(range.upperBound - range.lowerBound)
      r.bufferStart = range.lowerBound
      r.buffer = [UInt8](repeating: 0, count: Int(range.upperBound - range.lowerBound))
      offset = range.upperBound
      r.lastEnd = offset
    }
    #expect(sizes == [524_288, 1_048_576, 2_097_152, 4_194_304, 8_388_608, 8_388_608, 8_388_608, 8_388_608])
  }

  @Test func aJumpFallsBackToTheFirstWindow() {
    var r = OpenFile.ReadAhead()
    r.window = OpenFile.ReadAhead.maxWindow
    r.lastEnd = 1000
    let range = r.plan(offset: 5_000_000, end: 5_004_096, fileSize: 1 << 40)
    #expect(range.upperBound - range.lowerBound == OpenFile.ReadAhead.firstWindow)
  }

  @Test func neverPlansPastTheEndOfTheFile() {
    var r = OpenFile.ReadAhead()
    #expect(r.plan(offset: 900, end: 1000, fileSize: 1000) == 900..<1000)
  }

  @Test func snapshotReadsAreBoundedByTheContent() throws {
    let file = OpenFile(ino: 5, source: .snapshot([1, 2, 3, 4]))
    let fetchNever: (Range<UInt64>) throws(FSError) -> [UInt8] = { _ throws(FSError) in throw .notSupported }
    #expect(try file.read(offset: 1, count: 2, fetch: fetchNever) == [2, 3])
    #expect(try file.read(offset: 3, count: 100, fetch: fetchNever) == [4])
    #expect(try file.read(offset: 9, count: 1, fetch: fetchNever) == [])
  }

  @Test func aShortFetchIsAnErrorNeverWrongBytes() {
    let file = OpenFile(ino: 5, source: .object(key: "k", etag: "e", size: 1000))
    #expect(throws: FSError.self) {
      try file.read(offset: 0, count: 10) { (range: Range<UInt64>) throws(FSError) -> [UInt8] in [UInt8](repeating: 1, count: 5) }
    }
  }
}
