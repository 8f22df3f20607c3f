/// The life of one staged save of a server file (config, firmware, certificates), from open to
/// release, as a pure state machine: events in, actions out. The caller does the I/O the
/// actions ask for and reports back.
///
/// Every open for writing has its own save (the kernel's open file description: dup'ed
/// descriptors share it). The rules:
/// - Content is counted in generations: each write, and each explicit truncation
///   (`ftruncate`, `truncate -s`), starts a new one.
/// - A flush (every `close`) or fsync commits the newest generation if the server does not hold
///   it yet. A truncation at open (`O_TRUNC`) with nothing written after it is not a save: the
///   shell opens `> file` before the program that writes runs, and closes its own copy first.
/// - One commit at a time: a flush that arrives during a commit waits for it and then decides.
/// - A write during a commit starts a new generation, so the file is still dirty afterwards and
///   the next flush commits it. Success moves the base forward (the next commit is an update);
///   a refusal with nothing written meanwhile reverts the content to the server's.
struct SaveLifecycle: Sendable, Equatable {
  enum FlushAction: Sendable, Equatable {
    /// The server holds this content (or there is nothing to save): reply success.
    case none
    /// Validate and upload the content of `generation`; report with `commitSucceeded` or
    /// `commitRefused`.
    case commit(generation: Int)
    /// A commit is running: wait for it to finish, then ask again.
    case wait
    /// Reply this error (a write that could not be staged).
    case fail(FSError)
  }

  enum RefusalAction: Sendable, Equatable {
    /// Nothing was written during the commit: show the server's version again (`reverted`).
    case revert
    /// Writes arrived during the commit: keep them; the next flush validates the result.
    case keep
  }

  enum ReleaseAction: Sendable, Equatable {
    case none
    /// Opened with O_TRUNC and never written: nothing was saved; say so.
    case reportTruncatedOnly
    /// Content the server never took (the last commit failed): it is dropped now.
    case reportDropped
  }

  /// The newest content's generation (0: what the server held at open).
  private(set) var generation = 0
  /// The generation the server holds, or that was refused and reverted.
  private(set) var settled = 0
  /// The generation being committed.
  private(set) var committing: Int?
  /// Opened with O_TRUNC and nothing written since: the empty content is not a save.
  private(set) var truncatedOnly = false
  /// A write that could not be taken (beyond the size limit): the content is incomplete, so
  /// every later flush of this save fails with this error.
  private(set) var pendingError: FSError?
  /// How many commits were started (for tests and the log).
  private(set) var commits = 0

  init(truncatedAtOpen: Bool = false) { truncatedOnly = truncatedAtOpen }

  var isDirty: Bool { generation > settled && !truncatedOnly }

  /// A write, or an explicit truncation.
  mutating func didWrite() {
    generation += 1
    truncatedOnly = false
  }

  /// A write that could not be taken (too large): every later flush fails with `error`.
  mutating func writeFailed(_ error: FSError) {
    generation += 1
    truncatedOnly = false
    pendingError = error
  }

  mutating func flushRequested() -> FlushAction {
    if committing != nil { return .wait }
    if let error = pendingError { return .fail(error) }
    guard isDirty else { return .none }
    committing = generation
    commits += 1
    return .commit(generation: generation)
  }

  mutating func commitSucceeded(generation committed: Int) {
    committing = nil
    settled = max(settled, committed)
  }

  /// S3 could not be reached: the content stays dirty, a later flush tries again.
  mutating func commitFailed() {
    committing = nil
  }

  mutating func commitRefused(generation refused: Int) -> RefusalAction {
    committing = nil
    if generation == refused {
      settled = generation
      return .revert
    }
    return .keep
  }

  /// The content was replaced by the server's (after a refusal).
  mutating func reverted() {
    settled = generation
    truncatedOnly = false
  }

  mutating func released() -> ReleaseAction {
    if truncatedOnly { return .reportTruncatedOnly }
    return generation > settled || pendingError != nil ? .reportDropped : .none
  }
}
