import S3
import Testing

@testable import FileSystem

@Suite struct SaveLifecycleTests {
  @Test func aFlushWithoutWritesCommitsNothing() {
    var l = SaveLifecycle()
    #expect(l.flushRequested() == .none)
    #expect(l.commits == 0)
  }

  @Test func writesThenFlushCommitOnceAndLeaveTheFileClean() {
    var l = SaveLifecycle()
    l.didWrite()
    l.didWrite()
    #expect(l.flushRequested() == .commit)
    #expect(l.state == .committing)
    l.commitFinished()
    #expect(l.state == .clean)
    // close() after fsync() commits nothing more.
    #expect(l.flushRequested() == .none)
    #expect(l.commits == 1)
  }

  @Test func aSecondFlushDuringACommitIsBusy() {
    var l = SaveLifecycle()
    l.didWrite()
    #expect(l.flushRequested() == .commit)
    #expect(l.flushRequested() == .busy)
    l.didWrite()  // a write racing the commit does not reopen the state
    #expect(l.state == .committing)
  }

  @Test func writesAfterACommitNeedAnotherCommit() {
    var l = SaveLifecycle()
    l.didWrite()
    _ = l.flushRequested()
    l.commitFinished()
    l.didWrite()
    #expect(l.flushRequested() == .commit)
    #expect(l.commits == 2)
  }

  @Test func stagedFileWritesTruncatesAndReadsLikeAFile() throws {
    let f = StagedFile(bytes: Array("hello world".utf8), base: .ifMatch("e"))
    try f.write(Array("HELLO".utf8), at: 0)
    try f.write(Array("!".utf8), at: 13)
    #expect(f.bytes == Array("HELLO world".utf8) + [0, 0] + Array("!".utf8))
    try f.truncate(to: 5)
    #expect(f.read(offset: 0, count: 100) == Array("HELLO".utf8))
    #expect(f.read(offset: 9, count: 1) == [])
    #expect(f.isDirty)
    #expect(throws: FSError.self) { try f.write([1], at: 1 << 40) }
  }
}
