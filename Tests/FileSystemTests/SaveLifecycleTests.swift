import S3
import Testing

@testable import FileSystem

@Suite struct SaveLifecycleTests {
  @Test func aFlushWithoutWritesCommitsNothing() {
    var l = SaveLifecycle()
    #expect(l.flushRequested() == .none)
    #expect(l.released() == .none)
  }

  @Test func writesThenFlushCommitTheNewestGenerationOnce() {
    var l = SaveLifecycle()
    l.didWrite()
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 2))
    l.commitSucceeded(generation: 2)
    // close() after fsync() commits nothing more.
    #expect(l.flushRequested() == .none)
  }

  @Test func writeFsyncWriteCloseCommitsTwice() {
    var l = SaveLifecycle()
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 1))
    l.commitSucceeded(generation: 1)
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 2))
    l.commitSucceeded(generation: 2)
    #expect(l.flushRequested() == .none)
  }

  @Test func aFlushDuringACommitWaitsInsteadOfFailing() {
    var l = SaveLifecycle()
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 1))
    #expect(l.flushRequested() == .wait)
    l.commitSucceeded(generation: 1)
    #expect(l.flushRequested() == .none)
  }

  @Test func aWriteDuringACommitLeavesTheFileDirtyForTheNextFlush() {
    var l = SaveLifecycle()
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 1))
    l.didWrite()  // another descriptor of the same open file writes meanwhile
    l.commitSucceeded(generation: 1)
    #expect(l.isDirty)
    #expect(l.flushRequested() == .commit(generation: 2))
    l.commitSucceeded(generation: 2)
    #expect(!l.isDirty)
  }

  @Test func aTruncationAtOpenWithNothingWrittenIsNotASave() {
    var l = SaveLifecycle(truncatedAtOpen: true)
    #expect(l.flushRequested() == .none)  // the shell closing its copy of `> file`
    #expect(l.released() == .reportTruncatedOnly)
    var written = SaveLifecycle(truncatedAtOpen: true)
    #expect(written.flushRequested() == .none)
    written.didWrite()  // the program behind the redirect writes
    #expect(written.flushRequested() == .commit(generation: 1))
    written.commitSucceeded(generation: 1)
    #expect(written.released() == .none)
  }

  @Test func aRefusedSaveStaysUnsavedAndEveryLaterFlushChecksItAgain() {
    var l = SaveLifecycle()
    l.didWrite(by: 7)
    #expect(l.flushRequested(by: 7) == .commit(generation: 1))
    l.commitEnded()
    // Whichever process heard the refusal, the next close does not report success for it.
    #expect(l.isDirty)
    #expect(l.flushRequested(by: 7) == .commit(generation: 1))
    l.commitEnded()
    #expect(l.released() == .reportDropped)
  }

  @Test func aRefusalWithAWriteMeanwhileKeepsTheWrite() {
    var l = SaveLifecycle()
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 1))
    l.didWrite()
    l.commitEnded()
    #expect(l.flushRequested() == .commit(generation: 2))
  }

  @Test func aCloseByAProcessThatWroteNothingLeavesTheCommitToTheWriter() {
    var l = SaveLifecycle()
    l.didWrite(by: 7)
    // A child that inherited the descriptor exits while the writer is still writing.
    #expect(l.flushRequested(by: 9) == .leftToWriter)
    #expect(l.flushRequested(by: 7) == .commit(generation: 1))
    l.commitSucceeded(generation: 1)
    #expect(l.flushRequested(by: 9) == .none)
  }

  @Test func anFsyncOrAnUnknownOwnerCommitsWhoeverAsks() {
    var l = SaveLifecycle()
    l.didWrite(by: 7)
    #expect(l.flushRequested(by: nil) == .commit(generation: 1))
    l.commitSucceeded(generation: 1)
    l.didWrite(by: 7)
    #expect(l.flushRequested(by: 0) == .commit(generation: 2))
    l.commitSucceeded(generation: 2)
    // A truncation names no owner: with no writer known, any close commits it.
    l.didWrite()
    #expect(l.flushRequested(by: 9) == .commit(generation: 3))
  }

  @Test func writersAreForgottenOnceTheServerHoldsTheirContent() {
    var l = SaveLifecycle()
    l.didWrite(by: 7)
    #expect(l.flushRequested(by: 7) == .commit(generation: 1))
    l.commitSucceeded(generation: 1)
    #expect(l.writers.isEmpty)
    l.didWrite(by: 9)
    #expect(l.flushRequested(by: 7) == .leftToWriter)
    #expect(l.flushRequested(by: 9) == .commit(generation: 2))
  }

  @Test func aFailureToReachS3KeepsTheContentForTheNextFlush() {
    var l = SaveLifecycle()
    l.didWrite()
    #expect(l.flushRequested() == .commit(generation: 1))
    l.commitEnded()
    #expect(l.flushRequested() == .commit(generation: 1))
    l.commitEnded()
    #expect(l.released() == .reportDropped)
  }

  @Test func aWriteBeyondTheLimitFailsTheNextFlush() {
    var l = SaveLifecycle()
    l.didWrite()
    l.writeFailed(.tooLarge("big"))
    #expect(l.flushRequested() == .fail(.tooLarge("big")))
    // The content is incomplete: a second close does not upload what came before the failure.
    #expect(l.flushRequested() == .fail(.tooLarge("big")))
    #expect(l.released() == .reportDropped)
  }
}
