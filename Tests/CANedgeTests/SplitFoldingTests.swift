import CANedge
import Testing

@Suite struct SplitFoldingTests {
  func copy(_ name: String, size: UInt64 = 100, etag: String = "0cc175b9c0f1b6a831c399e269772661") -> SplitCopy {
    SplitCopy(name: name, logName: LogFileName(name)!, size: size, etag: etag)
  }

  // SEMANTICS.md § Duplicate uploads
  @Test func identicalCopiesFoldIntoTheLowestEpoch() {
    let a = copy("00000001-5E0BE200.MF4"), b = copy("00000001-5E0BE100.MF4"), c = copy("00000001-5E0BE300.MF4")
    let result = SplitFolding.fold([a, b, c])
    #expect(result.shown == [b])
    #expect(result.folded.map(\.hidden) == [a, c])
    #expect(result.folded.allSatisfy { $0.keeper == b })
    #expect(result.conflicts.isEmpty)
  }

  @Test func differingCopiesAreAllShownAndReportedAsConflicts() {
    let a = copy("00000001-5E0BE100.MF4"), b = copy("00000001-5E0BE200.MF4", etag: "ffffffffffffffffffffffffffffffff")
    let c = copy("00000001-5E0BE300.MF4", size: 101)
    let result = SplitFolding.fold([c, b, a])
    #expect(result.shown == [a, b, c])
    #expect(result.conflicts == [[a, b, c]])
    #expect(result.folded.isEmpty)
  }

  @Test func aCopyIdenticalToALaterShownCopyFoldsIntoThatOne() {
    let a = copy("00000001-5E0BE100.MF4")
    let b = copy("00000001-5E0BE200.MF4", etag: "ffffffffffffffffffffffffffffffff")
    let b2 = copy("00000001-5E0BE300.MF4", etag: "ffffffffffffffffffffffffffffffff")
    let result = SplitFolding.fold([a, b, b2])
    #expect(result.shown == [a, b])
    #expect(result.folded.count == 1 && result.folded[0].hidden == b2 && result.folded[0].keeper == b)
  }

  @Test func multipartETagsFoldOnSizeAlone() {
    let a = copy("00000003-5E0BE100.MF4", etag: "d41d8cd98f00b204e9800998ecf8427e-2")
    let b = copy("00000003-5E0BE101.MF4", etag: "0cc175b9c0f1b6a831c399e269772661")
    #expect(SplitFolding.fold([a, b]).shown == [a])
  }

  @Test func differentSplitsAndExtensionsNeverFold() {
    let a = copy("00000001-5E0BE100.MF4"), b = copy("00000002-5E0BE100.MF4"), c = copy("00000001-5E0BE101.MFC")
    let result = SplitFolding.fold([a, b, c])
    #expect(result.shown.count == 3 && result.folded.isEmpty)
  }
}
