import Cache
import Testing

@testable import FileSystem

@Suite struct ReadPatternTests {
  let block = UInt64(BlockID.size)

  @Test func aReadFromTheStartPrefetchesAndTheWindowDoublesUpToTheBound() {
    var p = OpenFile.ReadPattern()
    var windows: [Int] = []
    var offset: UInt64 = 0
    for _ in 0..<6 {
      windows.append(p.blocksToPrefetch(offset: offset, end: offset + 131_072))
      offset += 131_072
    }
    #expect(windows == [1, 2, 4, 8, 16, 16])
    #expect(OpenFile.ReadPattern.maxWindow == 16)
  }

  @Test func randomAccessDoesNotPrefetch() {
    var p = OpenFile.ReadPattern()
    #expect(p.blocksToPrefetch(offset: 50 * block, end: 50 * block + 4096) == 0)
    #expect(p.blocksToPrefetch(offset: 7 * block, end: 7 * block + 4096) == 0)
    #expect(p.blocksToPrefetch(offset: 90 * block + 5, end: 90 * block + 4096) == 0)
  }

  @Test func slightlyOutOfOrderKernelReadaheadStillCountsAsSequential() {
    var p = OpenFile.ReadPattern()
    _ = p.blocksToPrefetch(offset: 0, end: 131_072)
    #expect(p.blocksToPrefetch(offset: 262_144, end: 393_216) > 0)
    #expect(p.blocksToPrefetch(offset: 131_072, end: 262_144) > 0)
  }

  @Test func snapshotReadsAreBoundedByTheContent() throws {
    let file = OpenFile(ino: 5, source: .snapshot([1, 2, 3, 4]))
    #expect(try file.read(offset: 1, count: 2, fetcher: nil).bytes == [2, 3])
    #expect(try file.read(offset: 3, count: 100, fetcher: nil).bytes == [4])
    #expect(try file.read(offset: 9, count: 1, fetcher: nil).bytes == [])
  }
}
