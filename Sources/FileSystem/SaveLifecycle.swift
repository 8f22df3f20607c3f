/// The life of a staged server file (config, firmware, certificates) from open to commit, as a
/// pure state machine: events in, actions out. The caller does the I/O the actions ask for.
///
/// A save is committed at a flush (every close) or fsync, only if something was written since
/// the last commit, and at most one commit runs at a time.
struct SaveLifecycle: Sendable, Equatable {
  enum State: Sendable, Equatable {
    /// Nothing written since open or since the last commit.
    case clean
    /// Written; the next flush commits.
    case dirty
    /// A commit is running.
    case committing
  }

  enum FlushAction: Sendable, Equatable {
    /// Nothing to upload: reply success.
    case none
    /// Validate and upload the content; report the outcome with `commitFinished`.
    case commit
    /// Another flush is committing the same file: reply busy.
    case busy
  }

  private(set) var state: State = .clean
  /// How many commits have been attempted (for tests and the log).
  private(set) var commits = 0

  mutating func didWrite() {
    if state != .committing { state = .dirty }
  }

  mutating func flushRequested() -> FlushAction {
    switch state {
    case .clean: return .none
    case .committing: return .busy
    case .dirty:
      state = .committing
      commits += 1
      return .commit
    }
  }

  /// After a commit: success leaves the file clean; a rejection also leaves it clean (the
  /// content is dropped and the file shows the server's version again).
  mutating func commitFinished() {
    state = .clean
  }
}
