import Testing

@testable import EdgeMount

@Suite struct ByteCountTests {
  @Test func readsPlainNumbersAndUnits() {
    #expect(ByteCount.parse("1073741824") == 1 << 30)
    #expect(ByteCount.parse("512M") == 512 << 20)
    #expect(ByteCount.parse("2g") == 2 << 30)
    #expect(ByteCount.parse("64KiB") == 64 << 10)
  }

  @Test func zeroOnlyWhereAllowedAndNothingElseThatIsNotASize() {
    #expect(ByteCount.parse("0") == nil)
    #expect(ByteCount.parse("0", allowingZero: true) == 0)
    for text in ["", "M", "-1", "1.5G", "12X", "99999999999T"] { #expect(ByteCount.parse(text) == nil, "\(text)") }
  }

  @Test func theCacheWriteQueueIsBoundedOnTheCommandLine() throws {
    _ = try MountCommand.parse(["fleet", "/mnt", "--endpoint", "http://127.0.0.1:1", "--cache-write-queue", "0"])
    _ = try MountCommand.parse(["fleet", "/mnt", "--endpoint", "http://127.0.0.1:1", "--cache-write-queue", "1G"])
    for bad in ["2G", "lots", "-5"] {
      #expect(throws: (any Error).self, "\(bad)") {
        _ = try MountCommand.parse(["fleet", "/mnt", "--endpoint", "http://127.0.0.1:1", "--cache-write-queue", bad])
      }
    }
  }
}
