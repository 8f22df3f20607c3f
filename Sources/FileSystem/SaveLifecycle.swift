/// The life of one staged save of a server file (config, firmware, certificates), from open to
/// release, as a pure state machine: events in, actions out. The caller does the I/O the
/// actions ask for and reports back.
///
/// Every open for writing has its own save (the kernel's open file description: dup'ed
/// descriptors, and those a child inherits, share it). The rules:
/// - Content is counted in generations: each write, and each explicit truncation
///   (`ftruncate`, `truncate -s`), starts a new one.
/// - A flush (every `close`) or fsync commits the newest generation if the server does not hold
///   it yet. A truncation at open (`O_TRUNC`) with nothing written after it is not a save: the
///   shell opens `> file` before the program that writes runs, and closes its own copy first.
/// - A close by a process that wrote nothing through the save commits nothing: a child that
///   inherited the descriptor and exits, or a shell closing its copy of a redirect, must not
///   upload what the writer has written so far. The writer's own close (or any fsync) does.
///   Processes are told apart by the kernel's lock owner (one per file table); changes whose
///   owner is unknown (a truncation) let any close commit.
/// - One commit at a time: a flush that arrives during a commit waits for it and then decides.
/// - A write during a commit starts a new generation, so the file is still dirty afterwards and
///   the next flush commits it. Success moves the base forward (the next commit is an update).
/// - A refusal (invalid content, a conflict) keeps the content and leaves it unsaved: every
///   later close or fsync validates and checks it again, so no close of that save can report
///   success for content the server refused, whichever process saw the first refusal.
struct SaveLifecycle: Sendable, Equatable {
  enum FlushAction: Sendable, Equatable {
    /// The server holds this content (or there is nothing to save): reply success.
    case none
    /// Unsaved content, but the closing process wrote none of it: reply success and leave the
    /// commit to the writer's own close.
    case leftToWriter
    /// Validate and upload the content of `generation`; report with `commitSucceeded` or
    /// `commitEnded`.
    case commit(generation: Int)
    /// A commit is running: wait for it to finish, then ask again.
    case wait
    /// Reply this error (a write that could not be staged).
    case fail(FSError)
  }

  enum ReleaseAction: Sendable, Equatable {
    case none
    /// Opened with O_TRUNC and never written: nothing was saved; say so.
    case reportTruncatedOnly
    /// Content the server never took (the last commit failed or was refused): it is dropped now.
    case reportDropped
  }

  /// The newest content's generation (0: what the server held at open).
  private(set) var generation = 0
  /// The generation the server holds.
  private(set) var settled = 0
  /// The generation being committed.
  private(set) var committing: Int?
  /// Opened with O_TRUNC and nothing written since: the empty content is not a save.
  private(set) var truncatedOnly = false
  /// A write that could not be taken (beyond the size limit): the content is incomplete, so
  /// every later flush of this save fails with this error.
  private(set) var pendingError: FSError?
  /// The lock owners (one per process's file table) that wrote since the server last held the
  /// content. Empty: nobody known, and any close commits.
  private(set) var writers: Set<UInt64> = []

  init(truncatedAtOpen: Bool = false) { truncatedOnly = truncatedAtOpen }

  var isDirty: Bool { generation > settled && !truncatedOnly }

  /// A write (by lock owner `owner`, 0 when unknown), or an explicit truncation.
  mutating func didWrite(by owner: UInt64 = 0) {
    generation += 1
    truncatedOnly = false
    if owner != 0 { writers.insert(owner) }
  }

  /// A write that could not be taken (too large): every later flush fails with `error`.
  mutating func writeFailed(_ error: FSError) {
    generation += 1
    truncatedOnly = false
    pendingError = error
  }

  /// Whether a flush by `owner` (nil: an fsync) is one that commits: by a process that wrote,
  /// or when no writer is known.
  func mayCommit(for owner: UInt64?) -> Bool {
    guard let owner, owner != 0, !writers.isEmpty else { return true }
    return writers.contains(owner)
  }

  /// A close by lock owner `owner`, or an fsync (nil: commits whoever asks).
  mutating func flushRequested(by owner: UInt64? = nil) -> FlushAction {
    if committing != nil { return .wait }
    if let error = pendingError { return .fail(error) }
    guard isDirty else { return .none }
    guard mayCommit(for: owner) else { return .leftToWriter }
    committing = generation
    return .commit(generation: generation)
  }

  mutating func commitSucceeded(generation committed: Int) {
    committing = nil
    settled = max(settled, committed)
    if settled == generation { writers = [] }
  }

  /// The commit did not land: S3 could not be reached, or the content was refused (invalid, a
  /// conflict). The content stays unsaved, and a later flush tries and checks it again (a
  /// write since may have made it valid; a conflict stays one).
  mutating func commitEnded() {
    committing = nil
  }

  mutating func released() -> ReleaseAction {
    if truncatedOnly { return .reportTruncatedOnly }
    return generation > settled || pendingError != nil ? .reportDropped : .none
  }
}
